"""Faults on the real stack: a part goes away, users get a sentence (never a hang or a 500),
nothing is left half-made, and the hub recovers within 10 s of the part coming back.

Each test takes its part away itself and brings it back in `finally`, and deletes what it
made (objects, quotas), so that the stack is as it found it.
"""
from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from devstack import keycloak, kube, proc

from .faults_util import (
    absent,
    apiserver_ready,
    claim_path,
    delete,
    ensure_claim,
    eventually,
    fresh_login,
    hub_keeping_servers,
    kube_call,
    menu_shows,
    pod_path,
    pods_and_claims,
    restart_hub_keeping_servers,
    start,
    start_keycloak,
    start_kube,
    start_within,
    stop_if_running,
    stop_part,
)
from .hub_client import (
    HUB,
    POD,
    api,
    get,
    login,
    pod,
    post_form,
    user_token,
    wait_pod_gone,
    wait_server,
)
from .keycloak_login import keycloak_form_login

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("stack")]

RECOVERY = 10  # seconds from a part answering again to the hub working again
CPU_1 = {"group": "research", "instance_type": "cpu-1", "image": "base-notebook"}
KEYCLOAK_DOWN = "Keycloak cannot be reached"
KUBE_DOWN = "Kubernetes could not be reached"


def message(response: httpx.Response) -> str:
    try:
        return response.json()["message"]
    except ValueError:
        return response.text


# ---- Keycloak -------------------------------------------------------------------------------

async def test_keycloak_down_at_login_menu_and_start_then_back():
    await stop_if_running("alice")
    alice = await login("alice")
    token = await user_token("alice")
    # bob is half-way through a login: Keycloak has sent him back to the hub with a code.
    bob = httpx.AsyncClient(timeout=30)
    redirect = await keycloak_form_login(bob, f"{HUB}/hub/oauth_login", "bob", "bob-pass",
                                         stop_at=f"{HUB}/hub/oauth_callback")
    callback = redirect.headers["location"]
    before = await pods_and_claims()
    try:
        await _keycloak_outage(alice, bob, callback, token, before)
    finally:
        await stop_if_running("alice")


async def _keycloak_outage(alice, bob, callback: str, token: str, before: set) -> None:
    await stop_part("keycloak")
    try:
        # Login: the hub cannot trade the code for tokens, and says why, promptly.
        began = time.monotonic()
        page = await get(bob, callback)
        assert time.monotonic() - began < 15
        assert page.status_code == 503, (page.status_code, page.text[:1000])
        assert KEYCLOAK_DOWN in page.text
        # A new login goes to Keycloak's page (where the browser meets the outage), not a 500.
        fresh = httpx.AsyncClient(timeout=30)
        first = await fresh.get(f"{HUB}/hub/oauth_login")
        assert first.status_code == 302 and first.headers["location"].startswith(
            f"{keycloak.URL}/realms/")
        # Menu: a logged-in user still gets it, from the entitlements of their login.
        menu = await get(alice, "/hub/spawn")
        assert menu.status_code == 200 and 'value="cpu-1"' in menu.text
        # Start: refused with 503 and the sentence; nothing made.
        response = await start("alice", token, CPU_1)
        assert response.status_code == 503, response.text
        assert "Keycloak" in message(response)
        await wait_server("alice", ready=False, timeout=20)
        assert await pods_and_claims() == before
    finally:
        await start_keycloak()
    took = await start_within("alice", token, CPU_1, RECOVERY)
    assert took <= RECOVERY
    print(f"\nfault: Keycloak back -> a start accepted in {took:.1f}s")
    await login("bob")  # and a login works again


# ---- kube-apiserver -------------------------------------------------------------------------

BUMPED = "Fault Test CPU"


def cpu_1(display_name: str) -> dict:
    """InstanceType cpu-1 as in the demo data, with another display name."""
    return {"apiVersion": "primehub.io/v1alpha1", "kind": "InstanceType",
            "metadata": {"name": "cpu-1", "namespace": "hub"},
            "spec": {"displayName": display_name, "limits.cpu": 1, "limits.memory": "1G"}}


async def restore_demo_data(client) -> None:
    await asyncio.to_thread(kube.apply_demo_data)
    await menu_shows(client, "CPU 1", timeout=30)


async def test_kube_apiserver_restart_watches_resume_and_a_start_meanwhile_says_so():
    await stop_if_running("alice")
    alice = await login("alice")
    token = await user_token("alice")
    await menu_shows(alice, 'value="cpu-1"', timeout=10)
    before = await pods_and_claims()
    await stop_part("kube-apiserver")
    try:
        response = await start("alice", token, CPU_1)
        assert response.status_code == 503, response.text
        assert KUBE_DOWN in message(response)
        await wait_server("alice", ready=False, timeout=20)
        # Pages keep working from the cached catalog.
        assert 'value="cpu-1"' in (await get(alice, "/hub/spawn?group=research")).text
    finally:
        await start_kube()
    try:
        # A change made right after the API server is back reaches the menu.
        await asyncio.to_thread(kube.apply, cpu_1(BUMPED))
        took = await menu_shows(alice, BUMPED, timeout=RECOVERY)
        assert took <= RECOVERY
        assert await pods_and_claims() == before
        started = await start_within("alice", token, CPU_1, RECOVERY)
        print(f"\nfault: kube-apiserver back -> a change in the menu in {took:.1f}s, "
              f"a start accepted in {started:.1f}s")
    finally:
        await stop_if_running("alice")
        await restore_demo_data(alice)


# ---- etcd -----------------------------------------------------------------------------------

async def test_etcd_restart_the_api_server_and_the_hub_follow():
    await stop_if_running("alice")
    alice = await login("alice")
    token = await user_token("alice")
    await menu_shows(alice, 'value="cpu-1"', timeout=10)
    await stop_part("etcd")
    try:
        await eventually(lambda: asyncio.to_thread(lambda: not apiserver_ready()), 30,
                         "the API server noticing etcd is gone")
        assert 'value="cpu-1"' in (await get(alice, "/hub/spawn?group=research")).text
    finally:
        await start_kube()
    try:
        assert apiserver_ready()
        await asyncio.to_thread(kube.apply, cpu_1(BUMPED))
        took = await menu_shows(alice, BUMPED, timeout=RECOVERY)
        assert took <= RECOVERY
        started = await start_within("alice", token, CPU_1, RECOVERY)
        print(f"\nfault: etcd back -> a change in the menu in {took:.1f}s, "
              f"a start accepted in {started:.1f}s")
    finally:
        await stop_if_running("alice")
        await restore_demo_data(alice)


# ---- a custom resource deleted between menu and start ---------------------------------------

@pytest.mark.parametrize("kind, plural, name, field, label", [
    ("InstanceType", "instancetypes", "cpu-2", "instance_type", "instance type"),
    ("Image", "images", "research-image", "image", "image"),
])
async def test_resource_deleted_between_menu_and_start_is_named_in_the_refusal(
        kind, plural, name, field, label):
    await stop_if_running("alice")
    alice = await login("alice")
    token = await user_token("alice")
    page = await get(alice, "/hub/spawn?group=research")
    assert f'value="{name}"' in page.text
    before = await pods_and_claims()
    await delete(f"/apis/primehub.io/v1alpha1/namespaces/hub/{plural}/{name}")
    try:
        await eventually(
            lambda: _menu_lacks(alice, f'value="{name}"'), RECOVERY, f"{kind} {name} gone")
        choice = {**CPU_1, field: name}
        if field == "image":
            choice["instance_type"] = "cpu-1"
        # The form of the page shown before the deletion...
        refused = await post_form(alice, page.text, list(choice.items()))
        assert refused.status_code < 500, refused.text[:1000]
        assert f"The {label} {name!r} is not available" in refused.text.replace("&#39;", "'")
        # ... and the REST API.
        response = await start("alice", token, choice)
        assert response.status_code == 403, response.text
        assert f"The {label} {name!r} is not available" in message(response)
        await wait_server("alice", ready=False, timeout=20)
        assert await pods_and_claims() == before
    finally:
        await stop_if_running("alice")
        await restore_demo_data(alice)


async def _menu_lacks(client, text: str) -> bool:
    return text not in (await get(client, "/hub/spawn?group=research")).text


# ---- a pod create refused by the API server -------------------------------------------------

QUOTA = "fault-no-pods"
QUOTA_PATH = f"/api/v1/namespaces/hub/resourcequotas/{QUOTA}"


async def no_pods_quota() -> None:
    """A ResourceQuota of zero pods, with the status a quota controller would write (none
    runs here; without a status the API server refuses every pod as 'status unknown')."""
    await kube_call("POST", "/api/v1/namespaces/hub/resourcequotas", {
        "apiVersion": "v1", "kind": "ResourceQuota",
        "metadata": {"name": QUOTA, "namespace": "hub"}, "spec": {"hard": {"pods": "0"}}})
    quota = await kube_call("GET", QUOTA_PATH)
    quota["status"] = {"hard": {"pods": "0"}, "used": {"pods": "0"}}
    await kube_call("PUT", QUOTA_PATH + "/status", quota)


async def test_pod_forbidden_by_a_resource_quota_says_so_and_leaves_nothing():
    # bob has no home PVC: this start makes it, and must take it away again. alice has one
    # from before, which stays.
    await stop_if_running("bob")
    await stop_if_running("alice")
    # New spawners, which do not know the PVCs yet (forgetting a user deletes their PVC).
    _, bob_token = await fresh_login("bob")
    _, alice_token = await fresh_login("alice")
    await delete(claim_path("claim-bob"))
    await eventually(lambda: absent(claim_path("claim-bob")), 30, "claim-bob deleted")
    await ensure_claim("claim-alice")
    before = await pods_and_claims()
    log = proc.log_path("jupyterhub")
    log_start = log.stat().st_size
    await delete(QUOTA_PATH)
    await no_pods_quota()
    try:
        for user, token, options in (
                ("bob", bob_token, {"group": "class-101", "instance_type": "cpu-1"}),
                ("alice", alice_token, CPU_1)):
            response = await start(user, token, options)
            assert response.status_code == 403, response.text
            said = message(response)
            assert "Kubernetes refused to create your server" in said and "exceeded quota" in said
            await wait_server(user, ready=False, timeout=20)
        assert await pods_and_claims() == before
        assert await absent(claim_path("claim-bob"))
        assert not await absent(claim_path("claim-alice"))
        written = (await asyncio.to_thread(log.read_bytes))[log_start:]
        assert b"JUPYTERHUB_API_TOKEN" not in written  # the refused pod is not logged whole
    finally:
        await delete(QUOTA_PATH)
    # The quota gone, bob starts within seconds (and gets his home PVC).
    try:
        await start_within("bob", bob_token, {"group": "class-101", "instance_type": "cpu-1"},
                           RECOVERY)
        assert not await absent(claim_path("claim-bob"))
    finally:
        await stop_if_running("bob")


async def test_a_leftover_pod_of_the_same_name_is_replaced():
    """409: KubeSpawner deletes a pod that holds the server's name and creates its own."""
    await stop_if_running("bob")
    _, token = await fresh_login("bob")
    name = POD.format("bob")
    leftover = await kube_call("POST", "/api/v1/namespaces/hub/pods", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "hub"},
        "spec": {"nodeSelector": {"fault-test": "nowhere"},  # stays Pending, never runs
                 "containers": [{"name": "notebook", "image": "leftover",
                                 "command": ["false"]}]}})
    try:
        response = await start("bob", token, {"group": "class-101", "instance_type": "cpu-1"})
        assert response.status_code in (201, 202), response.text
        await wait_server("bob")
        running = await pod(name)
        assert running["metadata"]["uid"] != leftover["metadata"]["uid"]
        assert running["metadata"]["labels"]["primehub.io/user"] == "escaped-bob"
    finally:
        await stop_if_running("bob")
        await delete(pod_path(name))
        await wait_pod_gone(name)


# ---- the hub restarted with servers running -------------------------------------------------

async def test_hub_restart_keeps_running_servers_their_panel_and_quota_use():
    async with hub_keeping_servers():
        alice = await login("alice")
        token = await user_token("alice")
        response = await start("alice", token, CPU_1)
        assert response.status_code in (201, 202), response.text
        await wait_server("alice")
        phadmin = await login("phadmin")  # also in research: sees the group's use

        async def group_use() -> str:
            page = (await get(phadmin, "/hub/spawn?group=research")).text
            return next(line for line in page.splitlines() if "The group uses" in line)

        use_before = await group_use()
        assert "1 of 16 CPU" in use_before, use_before
        model_before = (await api_user("alice"))["servers"][""]
        uid = (await pod(POD.format("alice")))["metadata"]["uid"]
        await restart_hub_keeping_servers()
        server = await wait_server("alice", timeout=30)
        assert server["user_options"] == model_before["user_options"]
        assert server["url"] == model_before["url"]
        home = (await get(alice, "/hub/home")).text
        assert 'id="primehub-running"' in home and "Research Lab" in home
        assert "CPU 1" in home and "Base Notebook" in home
        assert await group_use() == use_before
        reached = await get(alice, "/user/alice/api")
        assert reached.status_code == 200 and "version" in reached.json()
        assert (await pod(POD.format("alice")))["metadata"]["uid"] == uid  # never restarted


async def api_user(name: str) -> dict:
    return (await api("GET", f"/users/{name}")).json()


def test_parts_are_all_running_after_the_fault_tests():
    for name in ("etcd", "kube-apiserver", "kubelet", "keycloak", "jupyterhub"):
        assert proc.pid_of(name), f"{name} is not running"
