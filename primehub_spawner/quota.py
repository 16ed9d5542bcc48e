"""Quota arithmetic: what a group's running servers use, and whether one more fits.

Pure. Usage is summed from pod objects (as dicts, the way KubeSpawner's pod reflector keeps
them) that carry the `primehub.io/group` and `primehub.io/user` labels, in PrimeHub's encoding
(`labels.escape_label`): our pods and the ones PrimeHub's own hub started alike.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .catalog import InstanceType
from .entitlements import Quota
from .names import LABEL_GROUP, LABEL_USER
from .quantities import format_memory, parse_kube_memory, parse_quantity


@dataclass(frozen=True)
class Usage:
    cpu: float = 0.0
    gpu: int = 0
    memory: int = 0  # bytes

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.cpu + other.cpu, self.gpu + other.gpu, self.memory + other.memory)


def usage_of(instance_type: InstanceType) -> Usage:
    """What a server of `instance_type` counts against a quota: its limits."""
    return Usage(instance_type.cpu_limit, instance_type.gpu_limit, instance_type.mem_limit)


def pod_usage(pod: Mapping, gpu_resources: Iterable[str]) -> Usage:
    """The limits a pod holds while it is not finished."""
    status = pod.get("status") or {}
    if status.get("phase") in ("Succeeded", "Failed"):
        return Usage()
    gpu_names = set(gpu_resources)
    total = Usage()
    for container in (pod.get("spec") or {}).get("containers") or []:
        limits = (container.get("resources") or {}).get("limits") or {}
        try:
            cpu = parse_quantity(limits["cpu"]) if "cpu" in limits else 0.0
            memory = parse_kube_memory(limits["memory"]) if "memory" in limits else 0
            gpu = sum(int(parse_quantity(v)) for k, v in limits.items() if k in gpu_names)
        except ValueError:
            continue
        total = total + Usage(cpu, gpu, memory)
    return total


def group_usage(pods: Iterable[Mapping], group_label: str, gpu_resources: Iterable[str],
                user_label: str | None = None, exclude_pod: str | None = None) -> Usage:
    """Sum of the pods labelled with this group (and user, when given): pass the label
    values, `labels.escape_label(name)`."""
    gpu_resources = tuple(gpu_resources)
    total = Usage()
    for pod in pods:
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        if labels.get(LABEL_GROUP) != group_label:
            continue
        if user_label is not None and labels.get(LABEL_USER) != user_label:
            continue
        if exclude_pod and meta.get("name") == exclude_pod:
            continue
        total = total + pod_usage(pod, gpu_resources)
    return total


def over_quota(quota: Quota, used: Usage, wanted: Usage, scope: str) -> str | None:
    """A sentence saying what `wanted` on top of `used` exceeds, or None if it fits."""
    for what, limit, have, need, fmt in (
        ("CPU", quota.cpu, used.cpu, wanted.cpu, lambda v: f"{v:g}"),
        ("GPU", quota.gpu, used.gpu, wanted.gpu, str),
        ("memory", quota.memory, used.memory, wanted.memory, format_memory),
    ):
        if limit is not None and need and have + need > limit + 1e-9:
            return (f"This needs {fmt(need)} {what}, but {scope} already uses {fmt(have)} "
                    f"of its {fmt(limit)} {what} quota.")
    return None
