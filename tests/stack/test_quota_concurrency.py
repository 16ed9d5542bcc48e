"""Quotas under concurrency on the real stack: a burst of REST starts against a group quota.

Twenty users of one group, each logged in once through Keycloak's login page (so that the
hub holds their entitlements), ask for a server at the same moment. The group's project
quota fits two: exactly two run, every other start is refused with the quota sentence and
leaves no pod and no PVC. The group and its users are made through Keycloak's Admin REST
API for this test and removed at its end, with the servers, hub users and volumes.
"""
from __future__ import annotations

import asyncio

import pytest

from devstack import kube

from .hub_client import POD, KeycloakAdmin, api, login, stop_server, user_token, wait_server

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("stack")]

GROUP = "quota-crowd"
USERS = [f"crowd{i:02d}" for i in range(20)]
OPTIONS = {"group": GROUP, "instance_type": "cpu-1", "image": "base-notebook"}  # 1 CPU each
SENTENCE = "This needs 1 CPU, but group Quota Crowd already uses 2 of its 2 CPU quota."


async def make_realm_crowd() -> None:
    """The group (project quota 2 CPU, granted cpu-1 and base-notebook) and its users."""
    async with KeycloakAdmin() as realm:
        await remove_realm_crowd(realm)  # a run that was interrupted may have left them
        response = await realm.client.post("/groups", json={
            "name": GROUP, "attributes": {"displayName": ["Quota Crowd"],
                                          "project-quota-cpu": ["2"]}})
        assert response.status_code == 201, response.text
        for role in ("it:cpu-1", "img:base-notebook"):
            await realm.map_role(GROUP, role, mapped=True)
        for name in USERS:
            response = await realm.client.post("/users", json={
                "username": name, "enabled": True, "email": f"{name}@example.com",
                "emailVerified": True, "firstName": "Crowd", "lastName": name,
                "credentials": [{"type": "password", "value": f"{name}-pass",
                                 "temporary": False}],
                "groups": [f"/{GROUP}"]})
            assert response.status_code == 201, response.text


async def remove_realm_crowd(realm: KeycloakAdmin) -> None:
    for name in USERS:
        found = (await realm.client.get("/users", params={"username": name,
                                                          "exact": "true"})).json()
        for user in found:
            await realm.client.delete(f"/users/{user['id']}")
    found = await realm.client.get(f"/group-by-path/{GROUP}")
    if found.status_code == 200:
        await realm.client.delete(f"/groups/{found.json()['id']}")


async def crowd_objects() -> dict[str, set[str]]:
    """The crowd's pods and PVCs in the hub namespace, by user."""
    left: dict[str, set[str]] = {}
    for kind in ("pods", "persistentvolumeclaims"):
        listed = await asyncio.to_thread(kube.request, "GET", f"/api/v1/namespaces/hub/{kind}")
        for item in listed["items"]:
            name = item["metadata"]["name"]
            for user in USERS:
                if name.endswith(f"-{user}"):
                    left.setdefault(user, set()).add(f"{kind}/{name}")
    return left


async def remove_hub_crowd(started: list[str]) -> None:
    """Stop the servers that ran; delete the hub users (KubeSpawner deletes their home PVC)
    and the hub group that the login synced from Keycloak."""
    for name in started:
        await stop_server(name)
    for name in USERS:
        response = await api("DELETE", f"/users/{name}")
        assert response.status_code in (204, 404), response.text
    response = await api("DELETE", f"/groups/{GROUP}")
    assert response.status_code in (204, 404), response.text


async def test_twenty_starts_at_once_fill_a_project_quota_of_two():
    await make_realm_crowd()
    started: list[str] = []
    try:
        clients = await asyncio.gather(*(login(name) for name in USERS))
        for client in clients:
            await client.aclose()
        tokens = await asyncio.gather(*(user_token(name) for name in USERS))

        responses = await asyncio.gather(*(
            api("POST", f"/users/{name}/server", token=token, json=OPTIONS)
            for name, token in zip(USERS, tokens)))

        started = [n for n, r in zip(USERS, responses) if r.status_code in (201, 202)]
        refused = [n for n, r in zip(USERS, responses)
                   if r.status_code == 403 and r.json()["message"] == SENTENCE]
        other = [(n, r.status_code, r.text[:200]) for n, r in zip(USERS, responses)
                 if n not in started and n not in refused]
        for name in started:
            await wait_server(name)
        left = await crowd_objects()
        left_by_refused = {n: objs for n, objs in left.items() if n not in started}
        print(f"\nquota burst of {len(USERS)}: started {len(started)} / refused "
              f"{len(refused)} / left by refused {sum(map(len, left_by_refused.values()))}")
        assert other == []
        assert len(started) == 2 and len(refused) == 18
        assert left_by_refused == {}
        for name in started:
            assert f"pods/{POD.format(name)}" in left[name]
    finally:
        await remove_hub_crowd(started)
        async with KeycloakAdmin() as realm:
            await remove_realm_crowd(realm)
    assert await crowd_objects() == {}
