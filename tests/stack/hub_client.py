"""Talking to the running dev stack as a person and as an operator would.

A person: `login()` logs in through Keycloak's own login page (plain HTTP, following
redirects and posting the form) and returns a client holding the hub's cookies. An
operator: `api()` calls the hub's REST API with the admin token of .devstack/env, `kube()`
calls the API server with the admin credential, `keycloak_admin()` the Keycloak Admin API.
"""
from __future__ import annotations

import asyncio
import re
import time
from html import unescape
from urllib.parse import urlencode, urljoin

import httpx

from devstack import hub, keycloak, kube

from .keycloak_login import keycloak_form_login, loopback_request

HUB = hub.HUB_URL
POD = "jupyter-{}"
# Seconds past the hub's group cache (2 s in the dev stack: devstack/jupyterhub_config.py):
# a role mapped before this wait is granted at the next login or start.
PAST_GROUP_CACHE = 3


async def login(username: str, password: str | None = None) -> httpx.AsyncClient:
    client = httpx.AsyncClient(timeout=30)
    response = await keycloak_form_login(client, f"{HUB}/hub/oauth_login", username,
                                         password or f"{username}-pass")
    assert str(response.url).startswith(HUB), f"login ended at {response.url}"
    return client


async def get(client: httpx.AsyncClient, path: str) -> httpx.Response:
    """GET on the hub with the client's cookies (loopback Secure cookies included)."""
    url = path if path.startswith("http") else f"{HUB}{path}"
    for _ in range(10):
        response = await client.send(loopback_request(client, "GET", url))
        if not response.is_redirect:
            return response
        url = urljoin(str(response.url), response.headers["location"])
    return response


def form_action(html: str) -> str:
    match = re.search(r'<form[^>]*id="spawn_form"[^>]*action="([^"]+)"', html) or \
        re.search(r'<form[^>]*action="([^"]*spawn[^"]*)"', html)
    assert match, "no spawn form on the page"
    return unescape(match.group(1))


async def post_form(client: httpx.AsyncClient, html: str, fields: dict | list) -> httpx.Response:
    url = urljoin(f"{HUB}/hub/spawn", form_action(html))
    body = urlencode(list(fields.items()) if isinstance(fields, dict) else fields)
    request = loopback_request(client, "POST", url, content=body,
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    return await client.send(request)


async def api(method: str, path: str, json=None, token: str | None = None) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.request(method, f"{HUB}/hub/api{path}", json=json,
                                    headers={"Authorization": f"token {token or hub.api_token()}"})


async def user_token(username: str) -> str:
    response = await api("POST", f"/users/{username}/tokens", json={"note": "stack test"})
    assert response.status_code in (200, 201), response.text
    return response.json()["token"]


async def wait_server(username: str, ready: bool = True, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    model: dict = {}
    while time.monotonic() < deadline:
        model = (await api("GET", f"/users/{username}")).json()
        server = model.get("servers", {}).get("")
        if ready and server and server.get("ready"):
            return server
        if not ready and not server:
            return {}
        if ready and not server and not model.get("pending"):
            raise AssertionError(f"{username}'s server stopped before it was ready: {model}")
        await asyncio.sleep(0.5)
    raise AssertionError(f"{username}'s server not {'ready' if ready else 'gone'} after "
                         f"{timeout}s: {model}")


async def stop_server(username: str) -> None:
    response = await api("DELETE", f"/users/{username}/server")
    assert response.status_code in (202, 204, 400), response.text
    await wait_server(username, ready=False)
    await wait_pod_gone(POD.format(username))


async def kube_get(path: str):
    return await asyncio.to_thread(kube.request, "GET", path)


async def pod(name: str) -> dict | None:
    try:
        return await kube_get(f"/api/v1/namespaces/hub/pods/{name}")
    except kube.ApiError as e:
        if e.status == 404:
            return None
        raise


async def wait_pod_gone(name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while await pod(name) is not None:
        assert time.monotonic() < deadline, f"pod {name} still exists after {timeout}s"
        await asyncio.sleep(0.5)


# Realm roles a test created (not the demo realm's own): removed from the realm again once
# no group holds them, so that no test leaves a role naming nothing behind (which
# `primehub-spawner check` rightly reports).
_CREATED_ROLES: set[str] = set()


class KeycloakAdmin:
    """The Keycloak Admin REST API as the realm's administrator (master realm admin)."""

    def __init__(self):
        self.client = httpx.AsyncClient(base_url=f"{keycloak.URL}/admin/realms/primehub",
                                        timeout=30)

    async def __aenter__(self):
        response = await httpx.AsyncClient().post(
            f"{keycloak.URL}/realms/master/protocol/openid-connect/token",
            data={"grant_type": "password", "client_id": "admin-cli",
                  "username": keycloak.ADMIN[0], "password": keycloak.ADMIN[1]})
        response.raise_for_status()
        self.client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        return self

    async def __aexit__(self, *exc):
        await self.client.aclose()

    async def user_id(self, username: str) -> str:
        users = (await self.client.get("/users", params={"username": username, "exact": "true"})).json()
        return users[0]["id"]

    async def group_id(self, name: str) -> str:
        return (await self.client.get(f"/group-by-path/{name}")).json()["id"]

    async def set_membership(self, username: str, group: str, member: bool) -> None:
        path = f"/users/{await self.user_id(username)}/groups/{await self.group_id(group)}"
        response = await (self.client.put(path) if member else self.client.delete(path))
        assert response.status_code == 204, response.text

    async def role(self, name: str, create: bool = False) -> dict:
        response = await self.client.get(f"/roles/{name}")
        if response.status_code == 404 and create:
            created = await self.client.post("/roles", json={"name": name})
            assert created.status_code == 201, created.text
            _CREATED_ROLES.add(name)
            response = await self.client.get(f"/roles/{name}")
        response.raise_for_status()
        return response.json()

    async def map_role(self, group: str, role: str, mapped: bool) -> None:
        body = [await self.role(role, create=mapped)]
        path = f"/groups/{await self.group_id(group)}/role-mappings/realm"
        response = await (self.client.post(path, json=body) if mapped
                          else self.client.request("DELETE", path, json=body))
        assert response.status_code == 204, response.text
        if not mapped and role in _CREATED_ROLES:
            holders = await self.client.get(f"/roles/{role}/groups")
            if holders.status_code == 200 and holders.json() == []:
                deleted = await self.client.delete(f"/roles/{role}")
                assert deleted.status_code in (204, 404), deleted.text
                _CREATED_ROLES.discard(role)
