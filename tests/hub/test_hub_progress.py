"""Why a server has not started, through JupyterHub: the REST progress stream tells the
cluster's events as sentences and the volumes left out, and a start that runs out of time
while its pod waits for a known reason fails with that reason (the real stack provokes the
causes; here the API edge keeps the pod Pending and the event watch holds the event)."""
import asyncio
import json

import httpx
import pytest
from doubles import NAMESPACE, UnlistedReflector
from kubernetes_asyncio.client.rest import ApiException
from kubespawner import KubeSpawner

import primehub_spawner.spawner as spawner_module

START_TIMEOUT = 3
NO_GPU = ("0/2 nodes are available: 2 Insufficient nvidia.com/gpu. preemption: 0/2 nodes are "
          "available: 2 No preemption victims found for incoming pod.")
NO_GPU_SENTENCE = ("No node can run instance type GPU small now: 2 nodes do not have a free "
                   "nvidia.com/gpu. Wait for other servers to stop, or choose a smaller "
                   "instance type.")
LEFT_OUT = ("Dataset Team Data was left out of your server: its volume claim dataset-team-data "
            "does not exist. The server starts without it; ask an administrator to create the "
            "claim.")
GPU_SMALL = {"group": "research", "instance_type": "gpu-small", "image": "pytorch"}


def hub_config(c, edge):
    c.PrimeHubSpawner.start_timeout = START_TIMEOUT


@pytest.fixture
def pending_pods(edge, monkeypatch):
    """The API edge keeps every pod it creates Pending: no node takes it."""
    create = edge.api.create_namespaced_pod

    async def create_pending(namespace, body, **kwargs):
        pod = await create(namespace, body, **kwargs)
        pod["status"] = {"phase": "Pending"}
        return pod

    monkeypatch.setattr(edge.api, "create_namespaced_pod", create_pending)
    return edge.api


@pytest.fixture
def cluster_events(hub, monkeypatch):
    """The events KubeSpawner's shared event watch holds, for a test to add to."""
    events: list[dict] = []
    monkeypatch.setattr(KubeSpawner.reflectors[("events", NAMESPACE)], "events", events)
    return events


def scheduler_event(pod: str, message: str) -> dict:
    return {"metadata": {"uid": f"{pod}-failed-scheduling"}, "reason": "FailedScheduling",
            "type": "Warning", "message": message, "lastTimestamp": None,
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "involvedObject": {"kind": "Pod", "name": pod, "namespace": NAMESPACE}}


@pytest.fixture
def progress(hub):
    """`await progress("alice", until)`: the events of alice's progress stream, read until
    `until(event)` or the end of the start."""
    async def _read(name: str, until=lambda event: False) -> list[dict]:
        token = hub.users[name].new_api_token()
        events = []
        root = f"http://{hub.hub.ip or '127.0.0.1'}:{hub.hub.port}"
        async with httpx.AsyncClient(base_url=root, timeout=20) as http, http.stream(
                "GET", f"/hub/api/users/{name}/server/progress",
                headers={"Authorization": f"token {token}"}) as stream:
            async for line in stream.aiter_lines():
                if line.startswith("data:"):
                    events.append(json.loads(line[5:]))
                    if until(events[-1]) or {"ready", "failed"} & set(events[-1]):
                        break
        return events
    return _read


async def test_the_stream_says_why_no_node_fits_and_the_timeout_fails_with_it(
        hub, edge, login_as, api, pending_pods, cluster_events, progress, wait_until):
    await login_as("alice")
    starting = asyncio.ensure_future(api("alice", "POST", "/users/alice/server", json=GPU_SMALL))
    await wait_until(lambda: f"{NAMESPACE}/jupyter-alice" in edge.api.pods, what="the pod")
    cluster_events.append(scheduler_event("jupyter-alice", NO_GPU))
    events = await progress("alice")
    said = [e.get("message") for e in events]
    assert NO_GPU_SENTENCE in said, said
    rewritten = next(e for e in events if e.get("message") == NO_GPU_SENTENCE)
    assert rewritten["raw_event"]["message"] == NO_GPU and 0 < rewritten["progress"] < 100
    failure = f"Your server did not start within {START_TIMEOUT} seconds. {NO_GPU_SENTENCE}"
    assert events[-1]["failed"] and events[-1]["message"] == f"Spawn failed: {failure}"
    r = await starting
    assert r.status_code == 503 and r.json()["message"] == failure
    assert not hub.users["alice"].spawner.active


async def test_a_timeout_without_a_known_cause_stays_jupyterhub_s_own(
        hub, login_as, api, pending_pods, cluster_events):
    await login_as("alice")
    r = await api("alice", "POST", "/users/alice/server", json=GPU_SMALL)
    assert r.status_code >= 500 and "did not start within" not in r.text
    assert not hub.users["alice"].spawner.active


async def test_a_dataset_whose_claim_is_missing_is_left_out_and_said_at_once(
        hub, edge, login_as, api, pending_pods, cluster_events, progress, caplog, wait_until):
    del edge.api.pvcs[f"{NAMESPACE}/dataset-team-data"]
    await login_as("alice")
    starting = asyncio.ensure_future(api("alice", "POST", "/users/alice/server", json={
        "group": "research", "instance_type": "cpu-2", "image": "pytorch"}))
    await wait_until(lambda: "alice" in hub.users and hub.users["alice"].spawner.pending,
                     what="the start")
    # No event comes from the cluster: the notice does not wait for one.
    events = await progress("alice", until=lambda e: e.get("message") == LEFT_OUT)
    assert events[-1]["message"] == LEFT_OUT
    await wait_until(lambda: edge.api.created_pods(), what="the pod")
    (pod,) = edge.api.created_pods()
    volumes = {v["name"] for v in pod["spec"]["volumes"]}
    assert "dataset-team-data" not in volumes and "project-research" in volumes
    assert "Start of alice: dataset Team Data left out, its claim dataset-team-data does not " \
           "exist" in caplog.text
    await starting


def count_claim_calls(edge, monkeypatch) -> list[str]:
    """The claim reads and lists the API edge answers from now on, in order."""
    calls = []
    for verb in ("read", "list"):
        name = f"{verb}_namespaced_persistent_volume_claim"
        original = getattr(edge.api, name)

        async def counted(*args, _original=original, _verb=verb, **kwargs):
            calls.append(_verb)
            return await _original(*args, **kwargs)
        monkeypatch.setattr(edge.api, name, counted)
    return calls


@pytest.fixture
async def no_claim_watch(monkeypatch):
    """The claim watch has no list (its first list was forbidden, say)."""
    monkeypatch.setitem(KubeSpawner.reflectors, ("persistentvolumeclaims", NAMESPACE),
                        UnlistedReflector())


async def start_in_research(login_as, api, edge) -> set[str]:
    """Start alice's server in research (dataset Team Data and the group's volume) through
    the REST API; the volumes of its pod."""
    await login_as("alice")
    r = await api("alice", "POST", "/users/alice/server", json={
        "group": "research", "instance_type": "cpu-2", "image": "pytorch"})
    assert r.status_code in (201, 202), r.text
    (pod,) = edge.api.created_pods()
    return {v["name"] for v in pod["spec"]["volumes"]}


async def test_with_the_claim_watch_a_start_asks_the_api_server_for_no_claim(
        hub, edge, login_as, api, monkeypatch):
    calls = count_claim_calls(edge, monkeypatch)
    volumes = await start_in_research(login_as, api, edge)
    # The only read is KubeSpawner's own of the home claim.
    assert calls.count("list") == 0 and calls.count("read") <= 1
    assert {"dataset-team-data", "project-research"} <= volumes


async def test_without_the_claim_watch_a_start_reads_its_claims_by_name(
        hub, edge, login_as, api, monkeypatch, no_claim_watch):
    del edge.api.pvcs[f"{NAMESPACE}/dataset-team-data"]
    calls = count_claim_calls(edge, monkeypatch)
    volumes = await start_in_research(login_as, api, edge)
    assert calls.count("list") == 0 and calls.count("read") >= 2  # its two claims
    assert "dataset-team-data" not in volumes and "project-research" in volumes


async def test_a_claim_the_api_server_cannot_confirm_missing_is_mounted_as_planned(
        hub, edge, login_as, api, monkeypatch):
    async def unavailable(name, namespace, **kwargs):
        raise ApiException(status=503, reason="Service Unavailable")

    # Not in the watch, and the read to confirm it fails.
    del edge.api.pvcs[f"{NAMESPACE}/dataset-team-data"]
    monkeypatch.setattr(edge.api, "read_namespaced_persistent_volume_claim", unavailable)
    volumes = await start_in_research(login_as, api, edge)
    assert {"dataset-team-data", "project-research"} <= volumes


async def test_without_the_watch_many_claims_are_listed_once_instead_of_read_each(
        hub, edge, login_as, api, monkeypatch, no_claim_watch):
    # The demo's research launch mounts two claims; with a bound of one, the start lists.
    monkeypatch.setattr(spawner_module, "MAX_CLAIM_READS", 1)
    del edge.api.pvcs[f"{NAMESPACE}/dataset-team-data"]
    calls = count_claim_calls(edge, monkeypatch)
    volumes = await start_in_research(login_as, api, edge)
    assert calls.count("list") == 1
    # The only read left is KubeSpawner's own of the home claim.
    assert calls.count("read") <= 1
    assert "dataset-team-data" not in volumes and "project-research" in volumes
