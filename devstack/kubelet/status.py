"""The pod statuses the kubelet reports, as pure builders (`stamp` is the time to write).

Other containers and init containers are not run; they are reported with the notebook
container's state so that the pod can become Ready.
"""
from __future__ import annotations

from dataclasses import dataclass

from .nodes import HOST_IP


@dataclass(frozen=True)
class Process:
    """What a status says about the pod's one process."""
    ip: str
    pid: int = 0
    started_at: str | None = None


def pick_container(pod: dict) -> dict | None:
    """The container the kubelet runs: `notebook` (KubeSpawner's name), else the first."""
    containers = pod["spec"].get("containers") or []
    for container in containers:
        if container.get("name") == "notebook":
            return container
    return containers[0] if containers else None


def probe_port(container: dict) -> int | None:
    """The port that says "ready": the readiness probe's, else the first containerPort."""
    ports = container.get("ports") or []
    probe = container.get("readinessProbe") or {}
    for kind in ("tcpSocket", "httpGet"):
        port = (probe.get(kind) or {}).get("port")
        if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
            return int(port)
        for p in ports:
            if port and p.get("name") == port:
                return p["containerPort"]
    return ports[0]["containerPort"] if ports else None


def conditions(ready: bool, stamp: str) -> list[dict]:
    flag = "True" if ready else "False"
    return [{"type": "PodScheduled", "status": "True", "lastTransitionTime": stamp},
            {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": stamp},
            {"type": "Initialized", "status": "True", "lastTransitionTime": stamp},
            {"type": "ContainersReady", "status": flag, "lastTransitionTime": stamp},
            {"type": "Ready", "status": flag, "lastTransitionTime": stamp}]


def container_status(container: dict, pod: dict, stamp: str, *, ready: bool = False,
                     running_since: str | None = None, terminated: dict | None = None,
                     pid: int = 0) -> dict:
    # null removes the other states: the status is patched (strategic merge).
    if terminated is not None:
        state = {"terminated": {**terminated}, "running": None, "waiting": None}
        if running_since is not None:
            state["terminated"]["startedAt"] = running_since
    else:
        state = {"running": {"startedAt": running_since or stamp},
                 "terminated": None, "waiting": None}
    return {"name": container["name"], "image": container.get("image", ""),
            "imageID": "", "containerID": f"local://{pod['metadata']['uid']}/{pid}",
            "ready": ready, "started": terminated is None, "restartCount": 0,
            "state": state}


def _addresses(ip: str) -> dict:
    return {"podIP": ip, "podIPs": [{"ip": ip}], "hostIP": HOST_IP, "hostIPs": [{"ip": HOST_IP}]}


def running_status(pod: dict, process: Process, ready: bool, stamp: str) -> dict:
    init = [{"name": c["name"], "image": c.get("image", ""), "imageID": "",
             "ready": True, "restartCount": 0,
             "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                                      "message": "not run by the local kubelet",
                                      "startedAt": process.started_at,
                                      "finishedAt": process.started_at}}}
            for c in pod["spec"].get("initContainers") or []]
    status = {
        "phase": "Running", **_addresses(process.ip), "startTime": process.started_at,
        "conditions": conditions(ready, stamp),
        "containerStatuses": [
            container_status(c, pod, stamp, ready=ready, running_since=process.started_at,
                             pid=process.pid)
            for c in pod["spec"]["containers"]],
    }
    if init:
        status["initContainerStatuses"] = init
    return status


def waiting_status(pod: dict, ip: str, reason: str, message: str, stamp: str) -> dict:
    """The pod is on its node but its containers wait (an image that cannot be pulled)."""
    flag = [{"type": t, "status": "True", "lastTransitionTime": stamp}
            for t in ("PodScheduled", "PodReadyToStartContainers", "Initialized")]
    waiting = [{"type": t, "status": "False", "reason": "ContainersNotReady",
                "lastTransitionTime": stamp} for t in ("ContainersReady", "Ready")]
    return {
        "phase": "Pending", **_addresses(ip), "conditions": flag + waiting,
        "containerStatuses": [
            {"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": False,
             "started": False, "restartCount": 0,
             "state": {"waiting": {"reason": reason, "message": message}, "running": None,
                       "terminated": None}}
            for c in pod["spec"]["containers"]]}


def exit_code_of(returncode: int) -> int:
    """A process's exit code as a container's: killed by signal N reads 128 + N."""
    return returncode if returncode >= 0 else 128 - returncode


def exited_status(pod: dict, process: Process, returncode: int, stamp: str) -> dict:
    code = exit_code_of(returncode)
    terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                  "finishedAt": stamp}
    if returncode < 0:
        terminated["signal"] = -returncode
    return {
        "phase": "Succeeded" if code == 0 else "Failed", **_addresses(process.ip),
        "conditions": conditions(False, stamp),
        "containerStatuses": [
            container_status(c, pod, stamp, running_since=process.started_at,
                             terminated=terminated, pid=process.pid)
            for c in pod["spec"]["containers"]]}


def failed_status(pod: dict, ip: str | None, reason: str, message: str, exit_code: int,
                  stamp: str, started: dict[str, str | None] | None = None) -> dict:
    """The pod failed before or without its process; `started` gives each container's
    start when it had one (a pod an earlier kubelet ran)."""
    started = started or {}
    status = {
        "phase": "Failed", "reason": reason, "message": message, "hostIP": HOST_IP,
        "conditions": conditions(False, stamp),
        "containerStatuses": [
            container_status(c, pod, stamp, running_since=started.get(c["name"]), terminated={
                "exitCode": exit_code, "reason": reason, "message": message,
                "finishedAt": stamp})
            for c in pod["spec"].get("containers") or []]}
    if ip:
        status.update({"podIP": ip, "podIPs": [{"ip": ip}]})
    return status


def has_run(pod: dict) -> bool:
    """A container of the pod has run (under this kubelet or an earlier one)."""
    return any("running" in (cs.get("state") or {}) or "terminated" in (cs.get("state") or {})
               for cs in (pod.get("status") or {}).get("containerStatuses") or [])


def started_times(pod: dict) -> dict[str, str | None]:
    return {cs["name"]: ((cs.get("state") or {}).get("running") or {}).get("startedAt")
            for cs in (pod.get("status") or {}).get("containerStatuses") or []}
