"""Why a server did not start, as the user reads it, each cause provoked on the real stack.

No node fits (the real kube-scheduler's FailedScheduling), an image that cannot be pulled
(the local kubelet fails a registry under `.invalid` as a real node fails a name that does
not resolve), a dataset whose claim does not exist (left out, with a notice), and a start
over quota (refused before anything is created). The custom resources and Keycloak role
mappings each needs are made here for this module and removed at its end.
"""
from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from devstack import kube, proc

from .hub_client import (
    HUB,
    PAST_GROUP_CACHE,
    POD,
    KeycloakAdmin,
    api,
    get,
    login,
    pod,
    post_form,
    stop_server,
    user_token,
)

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("stack")]

GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
UNREACHABLE = "unreachable.invalid/team/notebook:v1"


def cr(kind: str, name: str, spec: dict) -> dict:
    return {"apiVersion": "primehub.io/v1alpha1", "kind": kind,
            "metadata": {"name": name, "namespace": "hub"}, "spec": spec}


OBJECTS = [
    cr("InstanceType", "pending-tpu", {
        "displayName": "TPU Small", "limits.cpu": 1, "limits.memory": "1G",
        "nodeSelector": {"hardware": "tpu"}}),
    cr("InstanceType", "pending-three-gpus", {
        "displayName": "Three GPUs", "limits.cpu": 1, "limits.memory": "1G", "limits.gpu": 3,
        "gpuResourceName": "nvidia.com/gpu", "tolerations": [GPU_TOLERATION]}),
    cr("InstanceType", "pending-cpu-6", {
        "displayName": "CPU 6", "limits.cpu": 6, "limits.memory": "1G"}),
    cr("Image", "pending-unreachable", {
        "displayName": "Unreachable", "type": "cpu", "url": UNREACHABLE}),
    cr("Dataset", "pending-lost", {
        "displayName": "Lost Data", "type": "pv", "volumeName": "pending-lost"}),
]
# (group, role): class-101 (bob) sets a 2 CPU quota and no GPU quota; research (alice) 4 CPU.
ROLES = [("class-101", "it:pending-tpu"), ("class-101", "it:pending-three-gpus"),
         ("class-101", "img:pending-unreachable"), ("class-101", "ds:pending-lost"),
         ("research", "it:pending-cpu-6")]


async def grant(mapped: bool) -> None:
    for obj in OBJECTS if mapped else ():
        await asyncio.to_thread(kube.apply, obj)
    async with KeycloakAdmin() as realm:
        for group, role in ROLES:
            await realm.map_role(group, role, mapped=mapped)
    for obj in () if mapped else OBJECTS:
        await asyncio.to_thread(kube.request, "DELETE", kube.object_path(obj))


@pytest.fixture(scope="module")
def granted():
    asyncio.run(grant(True))
    time.sleep(PAST_GROUP_CACHE)
    try:
        yield
    finally:
        asyncio.run(grant(False))


async def start_and_follow(username: str, options: dict, until, timeout: float = 60):
    """Start the user's server through the REST API with their own token, and read its
    progress stream (as the spawn-pending page does) until `until(event)`, the end of the
    start, or `timeout`; return the events read."""
    await login(username)
    token = await user_token(username)
    starting = asyncio.create_task(api("POST", f"/users/{username}/server", json=options,
                                       token=token))
    deadline = time.monotonic() + 20
    while not (await api("GET", f"/users/{username}")).json().get("pending"):
        if starting.done():
            break  # refused, or already started
        assert time.monotonic() < deadline, "the start never became pending"
        await asyncio.sleep(0.1)
    events: list[dict] = []

    async def follow():
        async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=timeout)) as client, \
                client.stream("GET", f"{HUB}/hub/api/users/{username}/server/progress",
                              headers={"Authorization": f"token {token}"}) as stream:
            async for line in stream.aiter_lines():
                if not line.startswith("data:"):
                    continue
                event = json.loads(line[5:])
                events.append(event)
                if until(event) or event.get("ready") or event.get("failed"):
                    return

    try:
        await asyncio.wait_for(follow(), timeout)
    except TimeoutError:
        pass
    response = await starting
    assert response.status_code in (201, 202), response.text
    return events


def messages(events: list[dict]) -> list[str]:
    return [e.get("message", "") for e in events]


@pytest.mark.usefixtures("granted")
@pytest.mark.parametrize("instance_type, head, cause", [
    ("pending-tpu", "No node can run instance type TPU Small now: ",
     "does not have the labels it selects (hardware=tpu)"),
    ("pending-three-gpus", "No node can run instance type Three GPUs now: ",
     ("2 nodes do not have 3 free nvidia.com/gpu. Wait for other servers to stop, or choose a "
     "smaller instance type.")),
], ids=["node-selector", "gpu-count"])
async def test_no_node_fits_names_the_instance_type_and_the_cause(instance_type, head, cause):
    try:
        events = await start_and_follow("bob", {
            "group": "class-101", "instance_type": instance_type, "image": "base-notebook"},
            until=lambda e: e.get("message", "").startswith("No node can run"))
        said = [m for m in messages(events) if m.startswith(head)]
        assert said and cause in said[0], messages(events)
        # The event behind it is the scheduler's own, kept whole beside the sentence.
        event = next(e for e in events if e.get("message") == said[0])
        assert event["raw_event"]["reason"] == "FailedScheduling"
        assert "nodes are available" in event["raw_event"]["message"]
        assert 0 < event["progress"] < 100
        manifest = await pod(POD.format("bob"))
        assert manifest["status"]["phase"] == "Pending" and not manifest["spec"].get("nodeName")
    finally:
        await stop_server("bob")


@pytest.mark.usefixtures("granted")
async def test_an_image_that_cannot_be_pulled_is_named_with_its_pull_secret_state():
    sentence = (f"The image {UNREACHABLE} could not be pulled: its registry "
                "unreachable.invalid could not be reached; no pull secret is set for it. Ask an "
                "administrator to check the image's registry address.")
    try:
        events = await start_and_follow("bob", {
            "group": "class-101", "instance_type": "cpu-1", "image": "pending-unreachable"},
            until=lambda e: "Kubernetes waits before trying again" in e.get("message", ""))
        said = messages(events)
        assert sentence in said, said
        assert (f"The image {UNREACHABLE} could not be pulled; Kubernetes waits before trying "
                "again.") in said
        manifest = await pod(POD.format("bob"))
        assert manifest["status"]["phase"] == "Pending"
        waiting = manifest["status"]["containerStatuses"][0]["state"]["waiting"]
        assert waiting["reason"] in ("ErrImagePull", "ImagePullBackOff")
    finally:
        await stop_server("bob")


@pytest.mark.usefixtures("granted")
async def test_a_dataset_whose_claim_is_missing_is_left_out_and_the_server_starts():
    notice = ("Dataset Lost Data was left out of your server: its volume claim "
              "dataset-pending-lost does not exist. The server starts without it; ask an "
              "administrator to create the claim.")
    try:
        events = await start_and_follow("bob", {
            "group": "class-101", "instance_type": "cpu-1", "image": "base-notebook"},
            until=lambda e: False)
        assert notice in messages(events), messages(events)
        assert events[-1].get("ready"), events[-1]
        volumes = {v["name"]: v for v in (await pod(POD.format("bob")))["spec"]["volumes"]}
        assert "dataset-pending-lost" not in volumes
        # The claims that exist are mounted as before.
        assert volumes["dataset-team-data"]["persistentVolumeClaim"]["claimName"] == \
            "dataset-team-data"
        assert "project-class-101" in volumes
        # The claims come from the hub's claim watch, which its own credential may run
        # (crds/rbac.yaml grants watch): it runs, and no line says it failed.
        log = proc.log_path("jupyterhub").read_text(encoding="utf-8", errors="replace")
        log = log.rsplit("\n=== ", 1)[-1]  # this hub's lines (proc.spawn marks each start)
        assert "watching for persistentvolumeclaims" in log  # KubeSpawner's reflector
        assert "PersistentVolumeClaim watch did not start" not in log
        assert "may not list persistentvolumeclaims" not in log
        assert "may not watch persistentvolumeclaims" not in log
        assert "of persistentvolumeclaims failed" not in log
        assert "('persistentvolumeclaims', 'hub') failed" not in log
    finally:
        await stop_server("bob")


@pytest.mark.usefixtures("granted")
async def test_a_start_over_quota_is_refused_with_the_quota_sentence_on_both_paths():
    sentence = ("This needs 6 CPU, but your share of group Research Lab already uses 0 of its "
                "4 CPU quota.")
    choice = {"group": "research", "instance_type": "pending-cpu-6", "image": "pytorch"}
    alice = await login("alice")
    response = await api("POST", "/users/alice/server", json=choice,
                         token=await user_token("alice"))
    assert response.status_code == 403 and response.json()["message"] == sentence
    page = await get(alice, "/hub/spawn")
    refused = await post_form(alice, page.text, choice)
    # JupyterHub renders the form again with the sentence as its error line.
    assert refused.status_code < 500 and sentence in refused.text
    assert await pod(POD.format("alice")) is None
    assert not (await api("GET", "/users/alice")).json().get("pending")

