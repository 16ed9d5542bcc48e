"""The API calls the kubelet's parts share: JSON bodies in and out, status patches, events."""
from __future__ import annotations

import datetime
import json
import logging
import time

from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

log = logging.getLogger("devstack.kubelet")


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def call(method, *args, **kwargs):
    """Call a kubernetes_asyncio API method without building models: return the JSON body
    as a dict, raise ApiException on an error status (which `_preload_content=False` alone
    does not do)."""
    response = await method(*args, _preload_content=False, **kwargs)
    try:
        body = await response.read()
    finally:
        response.release()
    if not 200 <= response.status <= 299:
        error = ApiException(status=response.status, reason=response.reason)
        error.body = body.decode(errors="replace")[:1000]
        raise error
    return json.loads(body) if body else None


class Reporter:
    """What the kubelet tells the API server about a pod: its status and its events."""

    def __init__(self, core: client.CoreV1Api, namespace: str) -> None:
        self.core = core
        self.namespace = namespace

    async def patch_status(self, pod: dict, status: dict) -> None:
        try:
            await call(self.core.patch_namespaced_pod_status, pod["metadata"]["name"],
                       self.namespace, {"status": status})
        except ApiException as error:
            if error.status != 404:
                log.warning("status of pod %s not updated: %s", pod["metadata"]["name"],
                            error.body or error)

    async def event(self, pod: dict, reason: str, message: str, kind: str = "Normal",
                    field_path: str | None = None) -> None:
        meta = pod["metadata"]
        node = pod["spec"].get("nodeName", "")
        stamp = now()
        involved = {"apiVersion": "v1", "kind": "Pod", "name": meta["name"],
                    "namespace": self.namespace, "uid": meta["uid"],
                    "resourceVersion": meta.get("resourceVersion")}
        if field_path:
            involved["fieldPath"] = field_path
        body = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{time.time_ns():x}",
                         "namespace": self.namespace},
            "involvedObject": involved, "reason": reason, "message": message, "type": kind,
            "source": {"component": "kubelet", "host": node},
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
            "reportingComponent": "kubelet", "reportingInstance": node,
        }
        try:
            await call(self.core.create_namespaced_event, self.namespace, body)
        except Exception as error:  # noqa: BLE001 - events are best effort
            log.warning("event %s for pod %s not posted: %s", reason, meta["name"], error)
