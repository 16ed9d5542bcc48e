"""How many HTTP calls a login and a start make to Keycloak (the README states them).

The hub logs in through its real /hub/oauth_login and /hub/oauth_callback; the realm's
OIDC endpoints are `FakeOIDC`, and the Admin REST API is the real `KeycloakAdmin` over an
httpx transport that serves the demo realm (`edge.keycloak`) and counts every request.
"""
from __future__ import annotations

import collections
import re

import httpx
from doubles import FakeOIDC

from primehub_spawner.keycloak import KeycloakAdmin

CLIENT_ID = "jupyterhub"
ADMIN = "/admin/realms/primehub"


def hub_config(c, edge):
    FakeOIDC.configure(c, CLIENT_ID)
    c.PrimeHubAuthenticator.admin_users = set()


def _attributes(values: dict) -> dict:
    return {key: [value] for key, value in values.items()}


class AdminREST:
    """The Admin REST API over `FakeKeycloakAdmin`'s realm; `calls` by endpoint."""

    def __init__(self, realm):
        self.realm = realm
        self.calls: collections.Counter = collections.Counter()

    def _group(self, group) -> dict:
        return {"id": group.id, "name": group.name, "path": f"/{group.name}",
                "attributes": _attributes(group.attributes)}

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.calls[re.sub(r"/(uid|gid)-[^/]+", r"/{\1}", path)] += 1
        if path.endswith("/protocol/openid-connect/token"):
            return httpx.Response(200, json={"access_token": "service", "expires_in": 300})
        users = {u["id"]: (name, u) for name, u in self.realm.users.items()}
        groups = {g.id: g for g in self.realm.groups.values()}
        everyone = self.realm.groups["everyone"]
        path = path.removeprefix(ADMIN)
        if path == "/users":
            name = request.url.params["username"]
            user = self.realm.users.get(name)
            return httpx.Response(200, json=[{"id": user["id"], "username": name,
                                              "attributes": _attributes(user["attributes"])}]
                                  if user else [])
        if m := re.fullmatch(r"/users/([^/]+)/groups", path):
            _, user = users[m[1]]
            member = [self.realm.groups[g] for g in user["groups"]] + [everyone]
            return httpx.Response(200, json=[self._group(g) for g in member])
        if m := re.fullmatch(r"/groups/([^/]+)/role-mappings/realm/composite", path):
            return httpx.Response(200, json=[{"name": r} for r in groups[m[1]].roles])
        if path == "/group-by-path/everyone":
            return httpx.Response(200, json=self._group(everyone))
        if path == "/clients":
            return httpx.Response(200, json=[{"id": "rm"}])
        if m := re.fullmatch(r"/users/([^/]+)/role-mappings/clients/rm/composite", path):
            _, user = users[m[1]]
            return httpx.Response(200, json=[{"name": "realm-admin"}] if user["admin"] else [])
        return httpx.Response(404)


def count_oidc(oidc: FakeOIDC) -> collections.Counter:
    """Counts the requests to the realm's OIDC endpoints, by endpoint."""
    calls: collections.Counter = collections.Counter()
    for name in ("_discovery", "_certs", "_token", "_userinfo"):
        endpoint = getattr(type(oidc), name)

        def counted(request, endpoint=endpoint, name=name):
            calls[name.lstrip("_")] += 1
            return endpoint(oidc, request)
        setattr(oidc, name, counted)
    return calls


def wire(hub, edge, oidc) -> tuple[collections.Counter, AdminREST]:
    """A hub authenticator as after a restart (nothing cached), counting its calls."""
    auth = hub.authenticator
    rest = AdminREST(edge.keycloak)
    auth.keycloak = KeycloakAdmin(url=FakeOIDC.base, realm="primehub", client_id="hub",
                                  client_secret="s", transport=httpx.MockTransport(rest))
    calls = count_oidc(oidc)
    auth.http_client = oidc.client()
    auth._discovery = auth._jwks = None
    return calls, rest


def split(oidc_calls, rest) -> dict:
    admin = {k.removeprefix(ADMIN): v for k, v in rest.calls.items()}
    return {"oidc": dict(oidc_calls), "admin": admin,
            "total": sum(oidc_calls.values()) + sum(rest.calls.values())}


async def test_calls_of_a_login(hub, keycloak_login, edge,
                                                                   oidc):
    oidc_calls, rest = wire(hub, edge, oidc)
    await keycloak_login("alice")
    # The first login after the hub starts also reads the realm's discovery document and
    # keys, the service account's token, the realm-management client's id, the everyone
    # group, and the roles of each group met for the first time (research, class-101,
    # everyone).
    assert split(oidc_calls, rest) == {
        "oidc": {"discovery": 1, "certs": 1, "token": 1, "userinfo": 1},
        "admin": {"/realms/primehub/protocol/openid-connect/token": 1, "/users": 1,
                  "/users/{uid}/groups": 1, "/group-by-path/everyone": 1,
                  "/groups/{gid}/role-mappings/realm/composite": 3, "/clients": 1,
                  "/users/{uid}/role-mappings/clients/rm/composite": 1},
        "total": 13}
    oidc_calls.clear()
    rest.calls.clear()
    await keycloak_login("bob")
    # Any later login within the group cache period: the code for tokens, the user info,
    # and three fresh reads (the user, their groups, their admin role).
    assert split(oidc_calls, rest) == {
        "oidc": {"token": 1, "userinfo": 1},
        "admin": {"/users": 1, "/users/{uid}/groups": 1,
                  "/users/{uid}/role-mappings/clients/rm/composite": 1},
        "total": 5}


async def test_calls_of_a_start(hub, keycloak_login, edge,
                                                                 oidc, api, wait_until):
    oidc_calls, rest = wire(hub, edge, oidc)
    await keycloak_login("alice")

    async def start() -> dict:
        oidc_calls.clear()
        rest.calls.clear()
        r = await api("alice", "POST", "/users/alice/server", json={"group": "research"})
        assert r.status_code in (201, 202), r.text
        await wait_until(lambda: hub.users["alice"].spawner.ready)
        counted = split(oidc_calls, rest)
        r = await api("alice", "DELETE", "/users/alice/server")
        assert r.status_code in (202, 204), r.text
        await wait_until(lambda: not hub.users["alice"].spawner.active)
        return counted

    fresh = {"/users": 1, "/users/{uid}/groups": 1,
             "/users/{uid}/role-mappings/clients/rm/composite": 1}
    # refresh_pre_spawn: the access token checked at the user info endpoint, then the
    # user, their groups and their admin role read fresh; group roles come from the cache.
    assert await start() == {"oidc": {"userinfo": 1}, "admin": fresh, "total": 4}

    # After the group cache period (30 s): the roles of the user's groups and the
    # everyone group are read again, once for every user of the hub.
    hub.authenticator.keycloak.groups.clear()
    assert await start() == {
        "oidc": {"userinfo": 1},
        "admin": {**fresh, "/group-by-path/everyone": 1,
                  "/groups/{gid}/role-mappings/realm/composite": 3},
        "total": 8}

    # With the access token expired (Keycloak's default lifetime is 5 minutes): refused at
    # the user info endpoint, renewed with the refresh token, then asked again.
    oidc.expire_access_tokens()
    assert await start() == {"oidc": {"userinfo": 2, "token": 1}, "admin": fresh, "total": 6}
