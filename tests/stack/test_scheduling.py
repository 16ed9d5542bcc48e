"""Where pods go: the real kube-scheduler places them on the CPU node or the GPU node (label
`hardware=gpu`, taint `nvidia.com/gpu=present:NoSchedule`, two `nvidia.com/gpu`), and the
local kubelet runs only what the scheduler bound to one of them.
"""
from __future__ import annotations

import asyncio
import time

import pytest

from devstack import kube

from .hub_client import (
    PAST_GROUP_CACHE,
    POD,
    KeycloakAdmin,
    api,
    get,
    login,
    pod,
    stop_server,
    user_token,
    wait_server,
)
from .kube_client import (
    POD_IP_ENV,
    SERVE_POD_IP,
    create_pod,
    delete_pod,
    events_for,
    get_pod,
    is_ready,
    make_pod,
    unique,
    wait_for,
)

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("stack")]

GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
# What the demo data's gpu-small asks for.
GPU_SPEC = {"nodeSelector": {"hardware": "gpu"}, "tolerations": [GPU_TOLERATION]}
GPU_LIMITS = {"limits": {"cpu": "4", "memory": "8Gi", "nvidia.com/gpu": "1"}}


def scheduler_events(name: str, reason: str) -> list[dict]:
    """The pod's events of `reason` that the kube-scheduler itself posted."""
    return [e for e in events_for(name) if e["reason"] == reason
            and e.get("reportingComponent") == "default-scheduler"]


def wait_running(name: str) -> dict:
    return wait_for(lambda: (p := get_pod(name)) and is_ready(p) and p, 60, f"{name} Ready")


def wait_unschedulable(name: str) -> str:
    """The scheduler's FailedScheduling message for a pod that stays Pending."""
    events = wait_for(lambda: scheduler_events(name, "FailedScheduling"), 30, "FailedScheduling")
    pending = get_pod(name)
    assert pending["status"]["phase"] == "Pending" and not pending["spec"].get("nodeName")
    condition = {c["type"]: c for c in pending["status"]["conditions"]}["PodScheduled"]
    assert condition["status"] == "False" and condition["reason"] == "Unschedulable"
    return events[-1]["message"]


def remove(*names: str) -> None:
    for name in names:
        delete_pod(name, grace=1)
    for name in names:
        wait_for(lambda n=name: get_pod(n) is None, 30, f"{name} gone")


def test_gpu_pod_is_bound_to_the_gpu_node_runs_and_is_deleted():
    name = unique("gpu")
    create_pod(make_pod(name, SERVE_POD_IP, env=POD_IP_ENV, extra_spec=GPU_SPEC,
                        resources=GPU_LIMITS))
    try:
        running = wait_running(name)
        assert running["spec"]["nodeName"] == "gpu-node"
        assert running["status"]["podIP"].startswith("127.0.")
        scheduled = scheduler_events(name, "Scheduled")
        assert scheduled and scheduled[0]["message"].endswith(f"{name} to gpu-node")
    finally:
        remove(name)


def test_cpu_pods_never_land_on_the_gpu_node():
    # Two pods of 5 CPU each: one fits on the CPU node; the second would fit only on the
    # GPU node, whose taint it does not tolerate, so it waits.
    first, second = unique("cpu"), unique("cpu")
    big = {"requests": {"cpu": "5"}, "limits": {"cpu": "5"}}
    create_pod(make_pod(first, SERVE_POD_IP, env=POD_IP_ENV, resources=big))
    try:
        assert wait_running(first)["spec"]["nodeName"] == "cpu-node"
        create_pod(make_pod(second, SERVE_POD_IP, env=POD_IP_ENV, resources=big))
        message = wait_unschedulable(second)
        assert "0/2 nodes are available" in message
        assert "1 Insufficient cpu" in message and "untolerated taint" in message
    finally:
        remove(first, second)


@pytest.mark.parametrize("limits, shortage", [
    ({"cpu": "16"}, "Insufficient cpu"),
    ({"memory": "64Gi"}, "Insufficient memory"),
    ({"nvidia.com/gpu": "3"}, "Insufficient nvidia.com/gpu"),
], ids=["cpu", "memory", "gpu"])
def test_a_pod_bigger_than_any_node_stays_pending(limits, shortage):
    name = unique("huge")
    create_pod(make_pod(name, SERVE_POD_IP, env=POD_IP_ENV,
                        extra_spec={"tolerations": [GPU_TOLERATION]},
                        resources={"limits": limits}))
    try:
        message = wait_unschedulable(name)
        assert "0/2 nodes are available" in message and shortage in message
        assert not any(e["reason"] == "Started" for e in events_for(name))
    finally:
        remove(name)


def test_the_toleration_admits_a_pod_to_the_tainted_node_and_its_absence_keeps_one_off():
    on_gpu = {"nodeSelector": {"kubernetes.io/hostname": "gpu-node"}}
    welcome, refused = unique("tolerated"), unique("untolerated")
    create_pod(make_pod(welcome, SERVE_POD_IP, env=POD_IP_ENV,
                        extra_spec={**on_gpu, "tolerations": [GPU_TOLERATION]}))
    create_pod(make_pod(refused, SERVE_POD_IP, env=POD_IP_ENV, extra_spec=on_gpu))
    try:
        assert wait_running(welcome)["spec"]["nodeName"] == "gpu-node"
        message = wait_unschedulable(refused)
        assert "1 node(s) had untolerated taint(s)" in message
    finally:
        remove(welcome, refused)


def test_a_selector_no_node_matches_keeps_the_pod_pending():
    name = unique("tpu")
    create_pod(make_pod(name, SERVE_POD_IP, env=POD_IP_ENV,
                        extra_spec={"nodeSelector": {"hardware": "tpu"}}))
    try:
        assert "didn't match Pod's node affinity/selector" in wait_unschedulable(name)
    finally:
        remove(name)


def test_the_kubelet_leaves_a_pod_bound_to_another_node_alone():
    # spec.nodeName set at creation: the scheduler skips the pod, and it is not ours.
    name = unique("elsewhere")
    create_pod(make_pod(name, SERVE_POD_IP, env=POD_IP_ENV,
                        extra_spec={"nodeName": "some-other-node"}))
    try:
        time.sleep(3)
        left = get_pod(name)
        assert left["status"]["phase"] == "Pending" and not left["status"].get("podIP")
        assert not events_for(name)
    finally:
        delete_pod(name, grace=0)
    # No kubelet of that node deletes it for good; force-deleting (grace 0) does.
    wait_for(lambda: get_pod(name) is None, 30, "pod gone")


async def start_server(username: str, group: str, instance_type: str, image: str):
    """Log the user in and start their server through the hub's REST API with their own
    token; return the logged-in client."""
    client = await login(username)
    token = await user_token(username)
    response = await api("POST", f"/users/{username}/server", token=token, json={
        "group": group, "instance_type": instance_type, "image": image})
    assert response.status_code in (201, 202), response.text
    return client


async def test_gpu_small_server_runs_on_the_gpu_node_and_answers_through_the_proxy():
    alice = await start_server("alice", "research", "gpu-small", "pytorch")
    try:
        await wait_server("alice")
        manifest = await pod(POD.format("alice"))
        assert manifest["spec"]["nodeName"] == "gpu-node"
        reached = await get(alice, "/user/alice/api")  # through configurable-http-proxy
        assert reached.status_code == 200 and "version" in reached.json()
    finally:
        await stop_server("alice")


async def test_cpu_server_runs_on_the_cpu_node():
    await start_server("alice", "research", "cpu-1", "base-notebook")
    try:
        await wait_server("alice")
        assert (await pod(POD.format("alice")))["spec"]["nodeName"] == "cpu-node"
    finally:
        await stop_server("alice")


async def test_an_instance_type_bigger_than_any_node_leaves_the_server_pending():
    """class-101 sets no GPU quota, so a type asking for three GPUs passes the hub's own
    checks: only the scheduler can say that no node has them."""
    too_big = {"apiVersion": "primehub.io/v1alpha1", "kind": "InstanceType",
               "metadata": {"name": "gpu-triple", "namespace": "hub"},
               "spec": {"displayName": "Three GPUs", "limits.cpu": 1, "limits.memory": "1G",
                        "limits.gpu": 3, "gpuResourceName": "nvidia.com/gpu",
                        "tolerations": [GPU_TOLERATION]}}
    await asyncio.to_thread(kube.apply, too_big)
    async with KeycloakAdmin() as realm:
        await realm.map_role("class-101", "it:gpu-triple", mapped=True)
    try:
        await asyncio.sleep(PAST_GROUP_CACHE)
        await start_server("bob", "class-101", "gpu-triple", "base-notebook")
        message = await asyncio.to_thread(wait_unschedulable, POD.format("bob"))
        assert "0/2 nodes are available" in message
        assert "2 Insufficient nvidia.com/gpu" in message
        assert (await api("GET", "/users/bob")).json()["pending"] == "spawn"
    finally:
        await stop_server("bob")
        async with KeycloakAdmin() as realm:
            await realm.map_role("class-101", "it:gpu-triple", mapped=False)
        await asyncio.to_thread(kube.request, "DELETE", kube.object_path(too_big))
