"""KeycloakAdmin against a stand-in Keycloak (httpx.MockTransport: the I/O edge)."""
from __future__ import annotations

import asyncio
import collections

import httpx
import pytest

from primehub_spawner.keycloak import (
    KeycloakAdmin,
    KeycloakError,
    KeycloakUnavailable,
    first_values,
    list_values,
)


class Realm:
    """Alice in `research` (roles it:cpu-2, ds:rw:data) and `everyone` (it:cpu-1)."""

    def __init__(self):
        self.calls = collections.Counter()
        self.token_status = 200
        self.expire_next = False
        self.down = False
        # path -> the response given instead of the realm's own answer
        self.answers: dict[str, httpx.Response] = {}

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.calls[path] += 1
        if self.down:
            raise httpx.ConnectError("connection refused")
        if path in self.answers:
            return self.answers[path]
        if path.endswith("/protocol/openid-connect/token"):
            return httpx.Response(self.token_status, json={"access_token": "service-token-value", "expires_in": 60})
        if self.expire_next:
            self.expire_next = False
            return httpx.Response(401)
        base = "/admin/realms/primehub"
        answers = {
            f"{base}/users": [{"id": "u1", "username": "alice",
                               "attributes": {"timezone": ["Asia/Taipei"], "empty": []}}],
            f"{base}/users/u1/groups": [
                {"id": "g1", "name": "research", "path": "/research",
                 "attributes": {"displayName": ["Research Lab"],
                                "mlflow-tracking-envs": ["A=1", "B=2"],
                                "mlflow-artifact-envs": ["C=3"]}},
                {"id": "g2", "name": "everyone", "path": "/research/everyone"},
                {"id": "g0", "name": "everyone", "path": "/everyone", "attributes": {}}],
            f"{base}/groups/g1/role-mappings/realm/composite": [{"name": "it:cpu-2"}, {"name": "ds:rw:data"}],
            f"{base}/groups/g0/role-mappings/realm/composite": [{"name": "it:cpu-1"}],
            f"{base}/groups/g2/role-mappings/realm/composite": [],
            f"{base}/group-by-path/everyone": {"id": "g0", "name": "everyone", "path": "/everyone",
                                               "attributes": {"defaultUserVolumeCapacity": ["5G"]}},
            f"{base}/clients": [{"id": "rm-uuid"}],
            f"{base}/users/u1/role-mappings/clients/rm-uuid/composite": [{"name": "realm-admin"}],
        }
        if path in answers:
            return httpx.Response(200, json=answers[path])
        return httpx.Response(404)


def admin_for(realm: Realm, **kwargs) -> KeycloakAdmin:
    return KeycloakAdmin(url="http://kc", realm="primehub", client_id="hub", client_secret="client-secret-value",
                         transport=httpx.MockTransport(realm), retries=1, **kwargs)


async def test_entitlements_of_a_user():
    ent = await admin_for(Realm()).user_entitlements("alice")
    # The top-level everyone group is left out by its id, not a subgroup of the same name.
    assert [g.path for g in ent.groups] == ["/research", "/research/everyone"]
    assert ent.groups[0].roles == ("ds:rw:data", "it:cpu-2")
    assert ent.groups[0].display_name == "Research Lab"
    assert ent.groups[0].attributes["mlflow-tracking-envs"] == "A=1"
    assert ent.groups[0].list_attributes == {"mlflow-tracking-envs": ("A=1", "B=2"),
                                             "mlflow-artifact-envs": ("C=3",)}
    assert ent.everyone.roles == ("it:cpu-1",)
    assert ent.everyone.attributes == {"defaultUserVolumeCapacity": "5G"}
    assert ent.user_attributes == {"timezone": "Asia/Taipei"}
    assert ent.is_admin and ent.fetched_at > 0


async def test_group_roles_are_shared_between_concurrent_users():
    realm = Realm()
    admin = admin_for(realm)
    await asyncio.gather(*(admin.user_entitlements("alice") for _ in range(50)))
    assert realm.calls["/admin/realms/primehub/groups/g1/role-mappings/realm/composite"] == 1
    assert realm.calls["/admin/realms/primehub/users/u1/groups"] == 50  # memberships: fresh
    assert realm.calls["/realms/primehub/protocol/openid-connect/token"] == 1


async def test_an_expired_service_token_is_renewed_once():
    realm = Realm()
    admin = admin_for(realm)
    await admin.find_user("alice")
    realm.expire_next = True
    assert (await admin.find_user("alice"))["id"] == "u1"
    assert realm.calls["/realms/primehub/protocol/openid-connect/token"] == 2


@pytest.mark.parametrize("change, error, sentence", [
    pytest.param({"down": True}, KeycloakUnavailable, "did not answer", id="unreachable"),
    pytest.param({"token_status": 401}, KeycloakError, "refused the service account", id="bad-secret"),
])
async def test_failures_are_sentences(change, error, sentence):
    realm = Realm()
    for key, value in change.items():
        setattr(realm, key, value)
    with pytest.raises(error, match=sentence) as raised:
        await admin_for(realm).user_entitlements("alice")
    assert "service-token-value" not in str(raised.value)
    assert "client-secret-value" not in str(raised.value)


ADMIN = "/admin/realms/primehub"
TOKEN = "/realms/primehub/protocol/openid-connect/token"


@pytest.mark.parametrize("path, response", [
    pytest.param(f"{ADMIN}/users", httpx.Response(200, text="<html>proxy login</html>"),
                 id="user-search-not-json"),
    pytest.param(f"{ADMIN}/users", httpx.Response(200, json={"id": "u1"}),
                 id="user-search-not-a-list"),
    pytest.param(f"{ADMIN}/users", httpx.Response(200, json=[{"username": "alice"}]),
                 id="user-without-id"),
    pytest.param(f"{ADMIN}/users", httpx.Response(200, content=b"\xff\xfe\x00"),
                 id="binary-body"),
    pytest.param(f"{ADMIN}/users/u1/groups", httpx.Response(200, json=[{"name": "research"}]),
                 id="group-without-id"),
    pytest.param(f"{ADMIN}/users/u1/groups", httpx.Response(200, json=[{"id": "g1"}]),
                 id="group-without-name"),
    pytest.param(f"{ADMIN}/users/u1/groups", httpx.Response(200, json=["research"]),
                 id="groups-not-objects"),
    pytest.param(f"{ADMIN}/users/u1/groups", httpx.Response(
        200, json=[{"id": "g1", "name": "research", "attributes": ["x"]}]),
                 id="attributes-not-an-object"),
    pytest.param(f"{ADMIN}/groups/g1/role-mappings/realm/composite",
                 httpx.Response(200, json={"name": "it:cpu-2"}), id="roles-not-a-list"),
    pytest.param(f"{ADMIN}/groups/g1/role-mappings/realm/composite",
                 httpx.Response(200, json=[{"id": "r1"}]), id="role-without-name"),
    pytest.param(f"{ADMIN}/groups/g1/role-mappings/realm/composite",
                 httpx.Response(200, json=[{"name": 7}]), id="role-name-not-text"),
    pytest.param(f"{ADMIN}/group-by-path/everyone", httpx.Response(200, json=["everyone"]),
                 id="everyone-not-an-object"),
    pytest.param(f"{ADMIN}/clients", httpx.Response(200, json=[{"clientId": "x"}]),
                 id="client-without-id"),
    pytest.param(TOKEN, httpx.Response(200, text="not json"), id="token-not-json"),
    pytest.param(TOKEN, httpx.Response(200, json={"expires_in": 60}), id="token-missing"),
    pytest.param(TOKEN, httpx.Response(200, json={"access_token": "t", "expires_in": "soon"}),
                 id="token-lifetime-not-a-number"),
])
async def test_a_malformed_answer_is_keycloak_unavailable(path, response):
    realm = Realm()
    realm.answers[path] = response
    with pytest.raises(KeycloakUnavailable, match="shape the Admin API does not have"):
        await admin_for(realm).user_entitlements("alice")


async def test_an_unknown_user_is_an_error():
    with pytest.raises(KeycloakError, match="no user 'zed'"):
        await admin_for(Realm()).find_user("zed")


@pytest.mark.parametrize("raw, expected", [
    pytest.param({"a": ["1", "2"]}, {"a": "1"}, id="first-value"),
    pytest.param({"a": []}, {}, id="empty-list"),
    pytest.param({"a": "x"}, {"a": "x"}, id="plain-string"),
    pytest.param(None, {}, id="none"),
])
def test_first_values(raw, expected):
    assert first_values(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    pytest.param({"mlflow-tracking-envs": ["A=1", "B=2"], "displayName": ["x", "y"]},
                 {"mlflow-tracking-envs": ("A=1", "B=2")}, id="only-list-attributes"),
    pytest.param({"mlflow-artifact-envs": []}, {}, id="empty-list-left-out"),
    pytest.param({"mlflow-artifact-envs": "A=1"}, {"mlflow-artifact-envs": ("A=1",)},
                 id="plain-string"),
    pytest.param(None, {}, id="none"),
])
def test_list_values(raw, expected):
    assert list_values(raw) == expected
