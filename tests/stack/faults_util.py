"""Helpers of the fault tests: take a part of the stack away and bring it back, look at
what is left in the hub namespace, and poll with a bound.

Parts are stopped and started with devstack's own functions; the only part started
differently is the hub in `hub_keeping_servers`, which keeps its database and leaves user
servers running when it stops, as a hub on Kubernetes does (z2jh: `cleanup_servers` off,
the database on a volume). devstack's hub starts from an empty database and stops every
server on exit, so a hub restart there cannot show anything surviving it.
"""
from __future__ import annotations

import asyncio
import contextlib
import time

from devstack import hub, keycloak, kube, proc

from .hub_client import POD, api, get, login, wait_pod_gone, wait_server

NS = kube.NAMESPACE


async def eventually(check, timeout: float, what: str, interval: float = 0.5):
    """Await `check()` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = await check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f}s (last: {last!r})")
        await asyncio.sleep(interval)


async def kube_call(method: str, path: str, body=None, **kwargs):
    return await asyncio.to_thread(kube.request, method, path, body, **kwargs)


async def names(kind: str) -> set[str]:
    listed = await kube_call("GET", f"/api/v1/namespaces/{NS}/{kind}")
    return {item["metadata"]["name"] for item in listed["items"]}


async def pods_and_claims() -> set[str]:
    """What a start can leave behind: the pods and PVCs of the hub namespace."""
    return ({f"pod/{n}" for n in await names("pods")}
            | {f"pvc/{n}" for n in await names("persistentvolumeclaims")})


async def delete(path: str) -> None:
    """Delete an object of the API server, if it is there."""
    try:
        await kube_call("DELETE", path)
    except kube.ApiError as e:
        if e.status != 404:
            raise


async def absent(path: str) -> bool:
    try:
        await kube_call("GET", path)
    except kube.ApiError as e:
        if e.status == 404:
            return True
        raise
    return False


def claim_path(name: str) -> str:
    return f"/api/v1/namespaces/{NS}/persistentvolumeclaims/{name}"


def pod_path(name: str) -> str:
    return f"/api/v1/namespaces/{NS}/pods/{name}"


async def ensure_claim(name: str) -> None:
    """A home PVC that exists before a start (as one from an earlier session would)."""
    if await absent(claim_path(name)):
        await kube_call("POST", f"/api/v1/namespaces/{NS}/persistentvolumeclaims", {
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "1Gi"}}}})


async def stop_if_running(username: str) -> None:
    """Stop the user's server if the hub runs one (or is starting one), and wait for its
    pod to go."""
    response = await api("DELETE", f"/users/{username}/server")
    assert response.status_code in (202, 204, 400, 404), response.text
    if response.status_code != 404:
        await wait_server(username, ready=False, timeout=60)
    await wait_pod_gone(POD.format(username))


async def forget_user(username: str) -> None:
    """Make the hub forget a user (and so their spawner's memory of a home PVC); the next
    login makes them anew. Their server must be stopped. KubeSpawner deletes their home
    PVC with them (delete_forever)."""
    response = await api("DELETE", f"/users/{username}")
    assert response.status_code in (204, 404), response.text


async def fresh_login(username: str):
    """A logged-in client and an API token of a user the hub has just met."""
    await forget_user(username)
    client = await login(username)
    response = await api("POST", f"/users/{username}/tokens", json={"note": "fault test"})
    assert response.status_code in (200, 201), response.text
    return client, response.json()["token"]


async def start(username: str, token: str, options: dict):
    return await api("POST", f"/users/{username}/server", json=options, token=token)


async def start_within(username: str, token: str, options: dict, timeout: float) -> float:
    """Ask for a start until the hub accepts it (within `timeout`), wait for the server to
    be ready; return how long after the first attempt the accepted request was sent.

    The send time, not the answer's: JupyterHub holds a REST start open until the server
    is up or `slow_spawn_timeout` (10 s) passes, so the answer's time measures the pod's
    start on a loaded machine, not the hub's recovery."""
    began = time.monotonic()
    sent = began

    async def accepted():
        nonlocal sent
        sent = time.monotonic()
        response = await start(username, token, options)
        if response.status_code in (201, 202):
            return True
        assert response.status_code < 500 or response.status_code == 503, response.text
        return False

    await eventually(accepted, timeout, f"a start of {username}'s server", interval=0.5)
    took = sent - began
    await wait_server(username)
    return took


async def menu_shows(client, text: str, timeout: float, group: str = "research") -> float:
    """Seconds until the Server Options page of `group` shows `text`."""
    began = time.monotonic()

    async def shown():
        return text in (await get(client, f"/hub/spawn?group={group}")).text

    await eventually(shown, timeout, f"{text!r} in the menu")
    return time.monotonic() - began


# ---- parts of the stack -------------------------------------------------------------------

async def stop_part(name: str) -> None:
    await asyncio.to_thread(proc.stop, name, 60 if name == "keycloak" else 20)


async def start_kube() -> None:
    """etcd and kube-apiserver, whichever is not running (devstack.kube.start)."""
    await asyncio.to_thread(kube.start)


async def start_keycloak() -> None:
    """Keycloak with its database kept, as a restarted Keycloak keeps its realm and its
    sessions."""
    await asyncio.to_thread(keycloak.start, False)


def apiserver_ready() -> bool:
    try:
        return kube.apiserver_ready()
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        return False


async def restart_hub_keeping_servers() -> None:
    await asyncio.to_thread(hub.stop)
    await asyncio.to_thread(hub.start, str(kube.HUB_KUBECONFIG), keep_servers=True)


@contextlib.asynccontextmanager
async def hub_keeping_servers():
    """Run the block with a hub that keeps servers across restarts; afterwards stop every
    server it runs and give the stack devstack's own hub back."""
    await restart_hub_keeping_servers()
    try:
        yield
    finally:
        if proc.pid_of("jupyterhub"):
            for user in (await api("GET", "/users")).json():
                if user.get("servers"):
                    await api("DELETE", f"/users/{user['name']}/server")
            for user in (await api("GET", "/users")).json():
                if user.get("servers"):
                    await wait_server(user["name"], ready=False, timeout=60)
        await asyncio.to_thread(hub.stop)
        await asyncio.to_thread(hub.start, str(kube.HUB_KUBECONFIG))
