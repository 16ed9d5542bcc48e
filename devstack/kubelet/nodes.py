"""The two nodes the local kubelet serves, shaped like a PrimeHub cluster, as pure builders.

A PrimeHub cluster keeps GPUs on their own nodes: labelled so that a GPU instance type's
nodeSelector finds them, and tainted so that nothing without the matching toleration
takes their CPU and memory. The scheduler sees exactly that here.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

HOST_IP = "127.0.0.1"
LOCAL_KUBELET_LABEL = "devstack.primehub.io/local-kubelet"
BASE_LABELS = {
    "kubernetes.io/os": "linux",
    "kubernetes.io/arch": "amd64",
    LOCAL_KUBELET_LABEL: "true",
}
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}


@dataclass(frozen=True)
class NodeShape:
    name: str
    capacity: dict[str, str]
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[dict, ...] = ()


CPU_NODE = NodeShape(
    name="cpu-node",
    capacity={"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"},
    labels={"hardware": "cpu"})
GPU_NODE = NodeShape(
    name="gpu-node",
    capacity={"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi",
              "nvidia.com/gpu": "2"},
    labels={"hardware": "gpu"},
    taints=(GPU_TAINT,))
NODES = {shape.name: shape for shape in (CPU_NODE, GPU_NODE)}


def node_metadata(shape: NodeShape) -> dict:
    return {"name": shape.name,
            "labels": {**BASE_LABELS, **shape.labels, "kubernetes.io/hostname": shape.name}}


def node_conditions(stamp: str, transition: bool = False) -> list[dict]:
    """Healthy conditions, heartbeat `stamp`; with `transition`, also their start."""
    conditions = [
        {"type": kind, "status": "False", "reason": f"KubeletHas{reason}",
         "message": message, "lastHeartbeatTime": stamp}
        for kind, reason, message in (
            ("MemoryPressure", "SufficientMemory", "kubelet has sufficient memory"),
            ("DiskPressure", "NoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "SufficientPID", "kubelet has sufficient PID available"))]
    conditions.append({"type": "Ready", "status": "True", "reason": "KubeletReady",
                       "message": "local kubelet is posting ready status",
                       "lastHeartbeatTime": stamp})
    if transition:
        for condition in conditions:
            condition["lastTransitionTime"] = stamp
    return conditions


def node_spec(shape: NodeShape) -> dict:
    """The node's whole taint list. The API server adds a not-ready taint to a new node and
    no node lifecycle controller runs here to lift it; replacing the list lifts it."""
    return {"taints": [dict(t) for t in shape.taints] or None}


def node_status(shape: NodeShape, stamp: str) -> dict:
    """The full status a registration posts (a heartbeat posts the conditions only)."""
    return {
        "conditions": node_conditions(stamp, transition=True),
        "capacity": shape.capacity, "allocatable": shape.capacity,
        "addresses": [{"type": "InternalIP", "address": HOST_IP},
                      {"type": "Hostname", "address": shape.name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
        "nodeInfo": {
            "machineID": shape.name, "systemUUID": shape.name, "bootID": "devstack",
            "kernelVersion": os.uname().release, "osImage": "devstack local kubelet",
            "containerRuntimeVersion": "local-process://1", "kubeletVersion": "v0.0.0-local",
            "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"},
    }
