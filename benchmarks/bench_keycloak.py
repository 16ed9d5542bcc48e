"""What a thousand users in ten groups cost Keycloak: the shared group cache at work.

A stand-in Keycloak (httpx.MockTransport, 5 ms per answer) serves the Admin REST API for
1,000 users spread over 10 groups. All users' entitlements are read at once, as when a
class logs in together, then again after the group cache has expired. Prints the calls per
endpoint: group roles are read once per group per cache period, not once per user.

    .venv/bin/python benchmarks/bench_keycloak.py
"""
from __future__ import annotations

import asyncio
import collections
import re
import time

import httpx

from primehub_spawner.keycloak import KeycloakAdmin

USERS, GROUPS, LATENCY = 1000, 10, 0.005


def keycloak():
    calls = collections.Counter()
    groups = [{"id": f"g{i}", "name": f"group-{i}", "path": f"/group-{i}",
               "attributes": {"displayName": [f"Group {i}"]}} for i in range(GROUPS)]
    everyone = {"id": "e", "name": "everyone", "path": "/everyone", "attributes": {}}

    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(LATENCY)
        path = request.url.path.split("/admin/realms/primehub")[-1]
        kind = re.sub(r"/(u\d+|g\d+|e|rm)(?=/|$)", "/{id}", path)
        calls[kind] += 1
        if path.endswith("/token"):
            return httpx.Response(200, json={"access_token": "t", "expires_in": 300})
        if path == "/users":
            name = request.url.params["username"]
            return httpx.Response(200, json=[{"id": f"u{name[4:]}", "username": name, "attributes": {}}])
        if m := re.fullmatch(r"/users/u(\d+)/groups", path):
            return httpx.Response(200, json=[groups[int(m.group(1)) % GROUPS], everyone])
        if path.endswith("/role-mappings/realm/composite"):
            return httpx.Response(200, json=[{"name": "it:cpu-1"}, {"name": "img:base"}])
        if path == "/group-by-path/everyone":
            return httpx.Response(200, json=everyone)
        if path == "/clients":
            return httpx.Response(200, json=[{"id": "rm"}])
        if "/role-mappings/clients/" in path:
            return httpx.Response(200, json=[])
        return httpx.Response(404)

    return httpx.MockTransport(handler), calls


async def round_of_logins(admin: KeycloakAdmin) -> float:
    start = time.perf_counter()
    results = await asyncio.gather(*(admin.user_entitlements(f"user{i}") for i in range(USERS)))
    assert all(len(r.groups) == 1 for r in results)
    return time.perf_counter() - start


async def main():
    transport, calls = keycloak()
    admin = KeycloakAdmin(url="http://kc", realm="primehub", client_id="hub",
                          client_secret="s", transport=transport, group_max_age=30)
    elapsed = await round_of_logins(admin)
    print(f"{USERS} users in {GROUPS} groups, all at once ({LATENCY * 1000:.0f} ms per Keycloak answer): {elapsed:.2f} s")
    for kind, count in sorted(calls.items()):
        print(f"  {count:5d}  {kind}")
    calls.clear()
    admin.groups.clear()  # the cache period has passed
    await round_of_logins(admin)
    roles = sum(c for k, c in calls.items() if k.endswith("/realm/composite") and k.startswith("/groups"))
    print(f"after the group cache expires, the next round reads group roles {roles} times")
    await admin.aclose()


if __name__ == "__main__":
    asyncio.run(main())
