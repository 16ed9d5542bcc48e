"""The pod workers: one watch on the namespace's pods, one worker per pod bound here.

The kube-scheduler decides where a pod goes; a pod is this kubelet's once its
`spec.nodeName` names one of its nodes. Deleting such a pod sends SIGTERM to its process
group, SIGKILL after the grace period, then deletes the pod with gracePeriodSeconds=0.
On start, pods bound here whose process is gone (an earlier kubelet's) are marked Failed,
or deleted when terminating. On SIGTERM it stops its processes and marks their pods Failed.
"""
from __future__ import annotations

import asyncio
import logging

from kubernetes_asyncio import watch
from kubernetes_asyncio.client.rest import ApiException

from . import runtime, status
from .api import call
from .lifecycle import PodLifecycle
from .nodes import NodeShape

log = logging.getLogger("devstack.kubelet")


class PodWorkers:
    def __init__(self, lifecycle: PodLifecycle, nodes: dict[str, NodeShape]) -> None:
        self.lifecycle = lifecycle
        self.core = lifecycle.core
        self.namespace = lifecycle.namespace
        self.nodes = nodes
        self.pods: dict[str, dict] = {}  # the pods bound to our nodes, by name
        self.workers: dict[str, tuple[asyncio.Event, asyncio.Task]] = {}

    def ours(self, pod: dict) -> bool:
        return pod["spec"].get("nodeName") in self.nodes

    async def watch(self, stopping: asyncio.Event) -> None:
        backoff = 1.0
        while not stopping.is_set():
            try:
                listing = await call(self.core.list_namespaced_pod, self.namespace)
                version = listing["metadata"]["resourceVersion"]
                seen = set()
                for pod in listing["items"]:
                    seen.add(pod["metadata"]["name"])
                    self.observe("ADDED", pod)
                for name in set(self.pods) - seen:
                    self.observe("DELETED", self.pods[name])
                backoff = 1.0
                while not stopping.is_set():
                    stream = watch.Watch().stream(
                        self.core.list_namespaced_pod, self.namespace,
                        resource_version=version, timeout_seconds=300,
                        allow_watch_bookmarks=True, _request_timeout=330)
                    async with stream:
                        async for event in stream:
                            obj = event["raw_object"]
                            version = obj["metadata"]["resourceVersion"]
                            if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                                self.observe(event["type"], obj)
            except asyncio.CancelledError:
                raise
            except ApiException as error:
                if error.status == 410:
                    log.info("watch expired; listing again")
                    continue
                log.warning("pod watch failed (%s); retrying in %.0fs", error, backoff)
            except Exception as error:  # noqa: BLE001 - reconnect whatever happened
                log.warning("pod watch failed (%r); retrying in %.0fs", error, backoff)
            try:
                await asyncio.wait_for(stopping.wait(), backoff)
            except TimeoutError:
                pass
            backoff = min(backoff * 2, 30)

    def observe(self, kind: str, pod: dict) -> None:
        name = pod["metadata"]["name"]
        known = self.pods.get(name)
        if kind != "DELETED" and self.ours(pod):
            self.pods[name] = pod
        elif known is not None and (kind != "DELETED"
                                    or known["metadata"]["uid"] == pod["metadata"]["uid"]):
            # Ours is gone, or replaced by a pod of that name not bound here (yet).
            del self.pods[name]
        elif name not in self.lifecycle.runners:
            return  # not bound to one of our nodes: the scheduler's, or another node's
        self.kick(name)

    def kick(self, name: str) -> None:
        worker = self.workers.get(name)
        if worker is None or worker[1].done():
            wake = asyncio.Event()
            worker = (wake, asyncio.create_task(self._worker(name, wake)))
            self.workers[name] = worker
        worker[0].set()

    async def _worker(self, name: str, wake: asyncio.Event) -> None:
        while True:
            await wake.wait()
            wake.clear()
            try:
                await self.sync(name, self.pods.get(name))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("syncing pod %s failed", name)
            if (name not in self.pods and name not in self.lifecycle.runners
                    and not wake.is_set()):
                if self.workers.get(name, (None,))[0] is wake:
                    del self.workers[name]
                return

    async def sync(self, name: str, pod: dict | None) -> None:
        runner = self.lifecycle.runners.get(name)
        if runner and (pod is None or pod["metadata"]["uid"] != runner.uid):
            # Gone (force-deleted) or replaced by a new pod of the same name.
            log.info("pod %s (uid %s) is gone; stopping its process", name, runner.uid)
            await self.lifecycle.stop(runner, grace=0)
            self.lifecycle.forget(runner)
        if pod is None:
            self.lifecycle.addresses.release_pod(name)
            return
        if pod["metadata"].get("deletionTimestamp"):
            await self.terminate(pod)
            return
        phase = (pod.get("status") or {}).get("phase")
        if name in self.lifecycle.runners or phase in ("Succeeded", "Failed"):
            return
        if status.has_run(pod):
            await self.lifecycle.orphaned(pod)
            return
        await self.lifecycle.start(pod, self.nodes[pod["spec"]["nodeName"]])

    async def terminate(self, pod: dict) -> None:
        meta = pod["metadata"]
        name = meta["name"]
        runner = self.lifecycle.runners.get(name)
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
        if runner and runner.running:
            await self.lifecycle.reporter.event(
                pod, "Killing", f"Stopping container {runner.container}",
                field_path=f"spec.containers{{{runner.container}}}")
            await self.lifecycle.stop(runner, grace)
        if runner:
            self.lifecycle.forget(runner)
        try:
            await call(
                self.core.delete_namespaced_pod, name, self.namespace, grace_period_seconds=0,
                body={"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}})
            log.info("pod %s deleted", name)
        except ApiException as error:
            if error.status not in (404, 409):
                raise

    async def shutdown(self) -> None:
        """SIGTERM: stop every worker and process, report their pods Failed (best effort)."""
        for _, task in list(self.workers.values()):
            task.cancel()
        runners = [r for r in self.lifecycle.runners.values() if r.running]
        await asyncio.gather(*(self.lifecycle.stop(r, grace=3) for r in runners),
                             return_exceptions=True)
        for runner in runners:
            pod = self.pods.get(runner.name)
            if pod is not None:
                try:
                    await asyncio.wait_for(self.lifecycle.reporter.patch_status(pod, {
                        "phase": "Failed", "reason": "NodeShutdown",
                        "message": "the local kubelet stopped"}), 3)
                except Exception:  # noqa: BLE001, S110 - best effort while shutting down
                    pass
            runtime.record_path(runner.name).unlink(missing_ok=True)
