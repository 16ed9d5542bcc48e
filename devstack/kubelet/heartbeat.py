"""Registers the kubelet's nodes and keeps them alive: status heartbeats and node Leases."""
from __future__ import annotations

import asyncio
import logging

from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from .api import call, now, now_micro
from .nodes import (
    LOCAL_KUBELET_LABEL,
    NodeShape,
    node_conditions,
    node_metadata,
    node_spec,
    node_status,
)

HEARTBEAT_SECONDS = 10
LEASE_SECONDS = 40

log = logging.getLogger("devstack.kubelet")


class NodeAgent:
    def __init__(self, api: client.ApiClient, shapes: list[NodeShape]) -> None:
        self.core = client.CoreV1Api(api)
        self.coordination = client.CoordinationV1Api(api)
        self.shapes = shapes

    async def register_all(self) -> None:
        for shape in self.shapes:
            await self.register(shape)
        # A node an earlier local kubelet served under another name (etcd's data outlives
        # a change of the shapes) would look Ready for ever to the scheduler, since no node
        # lifecycle controller runs here: its pods would be bound and never run.
        ours = {shape.name for shape in self.shapes}
        listing = await call(self.core.list_node, label_selector=f"{LOCAL_KUBELET_LABEL}=true")
        for node in listing["items"]:
            if node["metadata"]["name"] not in ours:
                await call(self.core.delete_node, node["metadata"]["name"])
                log.info("deleted node %s, no longer served", node["metadata"]["name"])

    async def register(self, shape: NodeShape) -> None:
        body = {"apiVersion": "v1", "kind": "Node", "metadata": node_metadata(shape)}
        try:
            await call(self.core.create_node, body)
            log.info("registered node %s", shape.name)
        except ApiException as error:
            if error.status != 409:
                raise
            await call(self.core.patch_node, shape.name, {"metadata": body["metadata"]})
            log.info("node %s exists; labels updated", shape.name)
        await call(self.core.patch_node, shape.name, {"spec": node_spec(shape)},
                   _content_type="application/merge-patch+json")
        await call(self.core.patch_node_status, shape.name,
                   {"status": node_status(shape, now())})

    async def beat(self, shape: NodeShape) -> None:
        try:
            await call(self.core.patch_node_status, shape.name,
                       {"status": {"conditions": node_conditions(now())}})
            await self.renew_lease(shape)
        except ApiException as error:
            if error.status != 404:
                raise
            log.warning("node %s is gone; registering again", shape.name)
            await self.register(shape)

    async def heartbeat(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            for shape in self.shapes:
                try:
                    await self.beat(shape)
                except Exception as error:  # noqa: BLE001 - keep beating
                    log.warning("heartbeat of node %s failed: %s", shape.name, error)
            try:
                await asyncio.wait_for(stopping.wait(), HEARTBEAT_SECONDS)
            except TimeoutError:
                pass

    async def renew_lease(self, shape: NodeShape) -> None:
        spec = {"holderIdentity": shape.name, "leaseDurationSeconds": LEASE_SECONDS,
                "renewTime": now_micro()}
        try:
            await call(self.coordination.patch_namespaced_lease,
                       shape.name, "kube-node-lease", {"spec": spec})
        except ApiException as error:
            if error.status != 404:
                raise
            await call(self.coordination.create_namespaced_lease, "kube-node-lease", {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": shape.name, "namespace": "kube-node-lease"},
                "spec": spec})
