"""Pods and API calls against the running dev stack's API server, for the stack tests.

`call()` uses the hub's restricted credential unless told otherwise (KubeSpawner creates
pods with it); `make_pod()` builds a pod whose `notebook` container runs a local command.
"""
from __future__ import annotations

import time
import uuid

from devstack import kube

NS = kube.NAMESPACE
HUB = kube.HUB_KUBECONFIG
ADMIN = kube.ADMIN_KUBECONFIG


def call(method, path, body=None, kubeconfig=HUB, **kwargs):
    return kube.request(method, path, body, kubeconfig=kubeconfig, **kwargs)


def status_of(method, path, body=None, kubeconfig=HUB) -> int:
    try:
        call(method, path, body, kubeconfig=kubeconfig)
    except kube.ApiError as error:
        return error.status
    return 200


def wait_for(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def pod_path(name: str = "") -> str:
    return f"/api/v1/namespaces/{NS}/pods" + (f"/{name}" if name else "")


def get_pod(name: str) -> dict | None:
    try:
        return call("GET", pod_path(name))
    except kube.ApiError as error:
        if error.status == 404:
            return None
        raise


def make_pod(name: str, args: list[str], *, env=None, ports=(8888,), extra_spec=None,
             resources=None, command=("python",)) -> dict:
    container = {
        "name": "notebook",
        "image": "quay.io/jupyter/base-notebook:latest",
        "command": list(command),
        "args": args,
        "env": env or [],
        "ports": [{"containerPort": p, "name": f"port-{p}"} for p in ports],
    }
    if resources:
        container["resources"] = resources
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": {"test": "kube-devstack"}},
        "spec": {"containers": [container], "restartPolicy": "OnFailure",
                 "terminationGracePeriodSeconds": 5, **(extra_spec or {})},
    }


def create_pod(pod: dict) -> dict:
    # Created with the hub's credential: that is what KubeSpawner does.
    return call("POST", pod_path(), pod)


def delete_pod(name: str, grace: int | None = None) -> None:
    body = {"gracePeriodSeconds": grace} if grace is not None else None
    try:
        call("DELETE", pod_path(name), body)
    except kube.ApiError as error:
        if error.status != 404:
            raise


def events_for(name: str) -> list[dict]:
    listing = call("GET", f"/api/v1/namespaces/{NS}/events"
                          f"?fieldSelector=involvedObject.kind%3DPod,involvedObject.name%3D{name}")
    return listing["items"]


def is_ready(pod: dict | None) -> bool:
    if not pod:
        return False
    conditions = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
    return (pod["status"].get("phase") == "Running" and conditions.get("Ready") == "True"
            and all(cs["ready"] for cs in pod["status"].get("containerStatuses", [])))


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


SERVE_POD_IP = ["-m", "http.server", "8888", "--bind", "$(POD_IP)"]
POD_IP_ENV = [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]
