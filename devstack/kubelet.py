"""The devstack's local kubelet: one Node whose "containers" are local processes.

There is no container runtime on this machine, so this small process plays the kubelet and
the scheduler for the namespace it is given:

- Volumes are recorded, not mounted; images are not pulled; the notebook container's
  command runs as a local process.
- It registers the Node `local-node` (labels include `hardware: gpu`; capacity cpu 64,
  memory 256Gi, pods 110, nvidia.com/gpu 4) and heartbeats its Ready condition and Lease.
- It binds pending pods to that node (pods/binding) when their nodeSelector, required
  node affinity and resource requests fit, else reports FailedScheduling.
- For a pod bound to it, it runs the container named `notebook` (else the first one):
  `command` + `args` (Kubernetes semantics: `$(VAR)` expanded from the container's env) as a
  local process in its own session, with the container's env (`value`, `valueFrom` fieldRef,
  resourceFieldRef, secretKeyRef, configMapKeyRef, `envFrom`), in `.devstack/pods/<pod>`
  (also HOME), PATH = this Python's bin dir + the kubelet's PATH, output in
  `.devstack/logs/pod-<pod>.log`. When the kubelet runs as root, JUPYTER_CONFIG_PATH
  points at a config allowing jupyter_server to run as root (an image would run it as a
  normal user; `securityContext.runAsUser` is not honoured). Each pod gets its own loopback address 127.0.x.y as
  `status.podIP`; a server that would bind every interface binds that address instead:
  the host of JUPYTERHUB_SERVICE_URL and any `0.0.0.0` in the args become the pod's IP.
  Other containers and init containers are not run; they are reported with the notebook
  container's state so that the pod can become Ready.
- It reports Running with podIP/hostIP, the container running, Ready once the container's
  port (readinessProbe port, else its first containerPort) accepts a TCP connection, and on
  exit a terminated state with the exit code, phase Succeeded (0) or Failed. The pod's
  restartPolicy is not honoured: nothing is restarted.
- On deletion it sends SIGTERM to the process group, SIGKILL after the grace period, then
  deletes the pod with gracePeriodSeconds=0.
- On start, pods bound to it whose process is gone (a previous kubelet's) are marked Failed,
  or deleted when terminating. On SIGTERM it stops its processes and marks their pods Failed.

    python -m devstack.kubelet --kubeconfig .devstack/kube/kubelet.kubeconfig --namespace hub
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import datetime
import json
import logging
import math
import os
import re
import shutil
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.rest import ApiException

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".devstack"
PODS_DIR = STATE / "pods"
LOGS_DIR = STATE / "logs"
HOST_IP = "127.0.0.1"
NODE_LABELS = {
    "hardware": "gpu",
    "kubernetes.io/os": "linux",
    "kubernetes.io/arch": "amd64",
    "devstack.primehub.io/local-kubelet": "true",
}
CAPACITY = {"cpu": "64", "memory": "256Gi", "pods": "110", "nvidia.com/gpu": "4",
            "ephemeral-storage": "100Gi"}
HEARTBEAT_SECONDS = 10
RESYNC_SECONDS = 10

log = logging.getLogger("devstack.kubelet")


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---------------------------------------------------------------- small pure helpers

_SUFFIXES = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": 1,
    "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
}


def parse_quantity(value) -> Decimal:
    """A Kubernetes quantity ("500m", "4G", "1Gi", 2) as a Decimal of base units."""
    text = str(value).strip()
    match = re.fullmatch(r"([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)", text)
    if not match or match.group(2) not in _SUFFIXES:
        raise ValueError(f"not a quantity: {value!r}")
    return Decimal(match.group(1)) * Decimal(_SUFFIXES[match.group(2)])


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: known names replaced, $$ escapes, the rest kept."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("$(", i):
            end = text.find(")", i + 2)
            name = text[i + 2:end] if end != -1 else None
            if name is not None and name in env:
                out.append(env[name])
                i = end + 1
            else:
                out.append(text[i:end + 1] if end != -1 else text[i:])
                i = end + 1 if end != -1 else len(text)
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def pod_requests(pod: dict) -> dict[str, Decimal]:
    """Sum of the containers' requests (limits where no request, as the API defaults)."""
    total: dict[str, Decimal] = {}
    for container in pod["spec"].get("containers", []):
        resources = container.get("resources") or {}
        merged = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
        for name, value in merged.items():
            total[name] = total.get(name, Decimal(0)) + parse_quantity(value)
    total["pods"] = Decimal(1)
    return total


def _match_expression(labels: dict[str, str], expr: dict) -> bool:
    key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
    if op == "In":
        return labels.get(key) in values
    if op == "NotIn":
        return labels.get(key) not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    if op in ("Gt", "Lt") and key in labels:
        try:
            have, want = int(labels[key]), int(values[0])
        except (ValueError, IndexError):
            return False
        return have > want if op == "Gt" else have < want
    return False


def selector_mismatch(pod: dict, labels: dict[str, str]) -> str | None:
    spec = pod["spec"]
    for key, value in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return f"node(s) didn't match Pod's node selector ({key}={value})"
    affinity = ((spec.get("affinity") or {}).get("nodeAffinity") or {}) \
        .get("requiredDuringSchedulingIgnoredDuringExecution")
    if affinity:
        terms = affinity.get("nodeSelectorTerms") or []
        if terms and not any(all(_match_expression(labels, e)
                                 for e in term.get("matchExpressions") or [])
                             for term in terms):
            return "node(s) didn't match Pod's node affinity"
    return None


def pick_container(pod: dict) -> dict | None:
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


def bind_to_pod_ip(env: dict[str, str], argv: list[str], ip: str) -> tuple[dict, list]:
    """Make a server that would listen on every interface listen on the pod's address."""
    url = env.get("JUPYTERHUB_SERVICE_URL")
    if url:
        parts = urlsplit(url)
        netloc = ip + (f":{parts.port}" if parts.port else "")
        env = {**env, "JUPYTERHUB_SERVICE_URL": urlunsplit(parts._replace(netloc=netloc))}
    wildcard = ("0.0.0.0", "::", "[::]", "*")
    out = []
    for arg in argv:
        if arg in wildcard:
            arg = ip
        else:
            name, eq, value = arg.partition("=")
            if eq and name.startswith("-") and value in wildcard:
                arg = f"{name}={ip}"
        out.append(arg)
    return env, out


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


class ConfigError(Exception):
    """The container cannot be configured (missing secret, unsupported field, ...)."""


# ---------------------------------------------------------------- addresses

class AddressPool:
    """127.0.x.y for x in 2..254, y in 1..254, handed out round-robin (127.0.0.x is the
    stack's own, 127.0.1.1 is Debian's alias of the host name)."""

    def __init__(self) -> None:
        self.used: dict[str, str] = {}  # ip -> pod name
        self.next = 0

    @staticmethod
    def _ip(index: int) -> str:
        return f"127.0.{2 + index // 254}.{1 + index % 254}"

    def claim(self, ip: str, pod: str) -> None:
        self.used[ip] = pod

    def allocate(self, pod: str) -> str:
        for step in range(253 * 254):
            index = (self.next + step) % (253 * 254)
            ip = self._ip(index)
            if ip not in self.used:
                self.used[ip] = pod
                self.next = index + 1
                return ip
        raise RuntimeError("no free loopback address")

    def release(self, ip: str | None) -> None:
        if ip:
            self.used.pop(ip, None)

    def release_pod(self, pod: str) -> None:
        for ip in [ip for ip, name in self.used.items() if name == pod]:
            del self.used[ip]


# ---------------------------------------------------------------- the kubelet

@dataclass
class Runner:
    """One pod's process."""
    name: str
    uid: str
    ip: str
    container: str
    image: str
    process: asyncio.subprocess.Process | None = None
    started_at: str | None = None
    exit_code: int | None = None
    terminating: bool = False
    tasks: list[asyncio.Task] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None


class LocalKubelet:
    def __init__(self, api: client.ApiClient, namespace: str, node_name: str) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.coordination = client.CoordinationV1Api(api)
        self.namespace = namespace
        self.node_name = node_name
        self.pods: dict[str, dict] = {}
        self.runners: dict[str, Runner] = {}
        self.workers: dict[str, tuple[asyncio.Event, asyncio.Task]] = {}
        self.addresses = AddressPool()
        self.reported_unschedulable: set[tuple[str, str]] = set()
        self.orphans_checked = False
        self.stopping = asyncio.Event()

    # ------------------------------------------------------------ node

    def node_status(self) -> dict:
        stamp = now()
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
        return {"status": {"conditions": conditions}}

    async def register_node(self) -> None:
        body = {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": self.node_name,
                         "labels": {**NODE_LABELS, "kubernetes.io/hostname": self.node_name}},
        }
        try:
            await call(self.core.create_node, body)
            log.info("registered node %s", self.node_name)
        except ApiException as error:
            if error.status != 409:
                raise
            await call(self.core.patch_node, self.node_name, {"metadata": body["metadata"]})
            log.info("node %s exists; labels updated", self.node_name)
        # TaintNodesByCondition adds a not-ready taint to a new node; no node lifecycle
        # controller runs here to lift it, so the kubelet does.
        await call(self.core.patch_node, self.node_name, {"spec": {"taints": None}},
                   _content_type="application/merge-patch+json")
        status = self.node_status()
        stamp = now()
        for condition in status["status"]["conditions"]:
            condition["lastTransitionTime"] = stamp
        status["status"].update({
            "capacity": CAPACITY, "allocatable": CAPACITY,
            "addresses": [{"type": "InternalIP", "address": HOST_IP},
                          {"type": "Hostname", "address": self.node_name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
            "nodeInfo": {
                "machineID": "devstack", "systemUUID": "devstack", "bootID": "devstack",
                "kernelVersion": os.uname().release, "osImage": "devstack local kubelet",
                "containerRuntimeVersion": "local-process://1", "kubeletVersion": "v0.0.0-local",
                "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"},
        })
        await call(self.core.patch_node_status, self.node_name, status)

    async def heartbeat(self) -> None:
        while not self.stopping.is_set():
            try:
                await call(self.core.patch_node_status, self.node_name, self.node_status())
                await self.renew_lease()
            except ApiException as error:
                if error.status == 404:
                    log.warning("node %s is gone; registering again", self.node_name)
                    await self.register_node()
                else:
                    log.warning("heartbeat failed: %s", error)
            except Exception as error:  # noqa: BLE001 - keep beating
                log.warning("heartbeat failed: %s", error)
            await self._sleep(HEARTBEAT_SECONDS)

    async def renew_lease(self) -> None:
        spec = {"holderIdentity": self.node_name, "leaseDurationSeconds": 40,
                "renewTime": now_micro()}
        try:
            await call(self.coordination.patch_namespaced_lease,
                       self.node_name, "kube-node-lease", {"spec": spec})
        except ApiException as error:
            if error.status != 404:
                raise
            await call(self.coordination.create_namespaced_lease, "kube-node-lease", {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.node_name, "namespace": "kube-node-lease"},
                "spec": spec})

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.stopping.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    # ------------------------------------------------------------ watching pods

    async def watch_pods(self) -> None:
        backoff = 1.0
        while not self.stopping.is_set():
            try:
                listing = await call(self.core.list_namespaced_pod, self.namespace)
                version = listing["metadata"]["resourceVersion"]
                seen = set()
                for pod in listing["items"]:
                    seen.add(pod["metadata"]["name"])
                    self.observe("ADDED", pod)
                for name in set(self.pods) - seen:
                    self.observe("DELETED", self.pods[name])
                self.orphans_checked = True
                backoff = 1.0
                while not self.stopping.is_set():
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
            await self._sleep(backoff)
            backoff = min(backoff * 2, 30)

    def observe(self, kind: str, pod: dict) -> None:
        name = pod["metadata"]["name"]
        if kind == "DELETED":
            if self.pods.get(name, {}).get("metadata", {}).get("uid") == pod["metadata"]["uid"]:
                self.pods.pop(name, None)
        else:
            self.pods[name] = pod
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
            except Exception:  # noqa: BLE001 - one bad pod never stops the kubelet
                log.exception("syncing pod %s failed", name)
            if name not in self.pods and name not in self.runners and not wake.is_set():
                if self.workers.get(name, (None,))[0] is wake:
                    del self.workers[name]
                return

    async def resync(self) -> None:
        """Retry pods that could not be scheduled (resources freed since), etc."""
        while not self.stopping.is_set():
            await self._sleep(RESYNC_SECONDS)
            for name, pod in list(self.pods.items()):
                if not pod["spec"].get("nodeName") and not pod["metadata"].get("deletionTimestamp"):
                    self.kick(name)

    # ------------------------------------------------------------ one pod

    async def sync(self, name: str, pod: dict | None) -> None:
        runner = self.runners.get(name)
        if runner and (pod is None or pod["metadata"]["uid"] != runner.uid):
            # Gone (force-deleted) or replaced by a new pod of the same name.
            log.info("pod %s (uid %s) is gone; stopping its process", name, runner.uid)
            await self.stop_runner(runner, grace=0)
            self.forget(runner)
        if pod is None:
            self.addresses.release_pod(name)
            return
        meta, spec, status = pod["metadata"], pod["spec"], pod.get("status") or {}
        node = spec.get("nodeName")
        if not node:
            if not meta.get("deletionTimestamp"):
                await self.schedule(pod)
            return
        if node != self.node_name:
            return
        if meta.get("deletionTimestamp"):
            await self.terminate(pod)
            return
        if name in self.runners or status.get("phase") in ("Succeeded", "Failed"):
            return
        if any("running" in (cs.get("state") or {}) or "terminated" in (cs.get("state") or {})
               for cs in status.get("containerStatuses") or []):
            await self.orphaned(pod)
            return
        await self.start_pod(pod)

    async def schedule(self, pod: dict) -> None:
        meta = pod["metadata"]
        reason = selector_mismatch(pod, {**NODE_LABELS, "kubernetes.io/hostname": self.node_name})
        if reason is None:
            reason = self.insufficient(pod)
        if reason:
            message = f"0/1 nodes are available: 1 {reason}."
            key = (meta["uid"], message)
            if key not in self.reported_unschedulable:
                self.reported_unschedulable.add(key)
                log.info("pod %s does not fit: %s", meta["name"], message)
                await self.event(pod, "FailedScheduling", message, "Warning",
                                 component="default-scheduler")
                await self.patch_status(pod, {"conditions": [{
                    "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                    "message": message, "lastTransitionTime": now()}]})
            return
        try:
            await call(
                self.core.create_namespaced_pod_binding, meta["name"], self.namespace,
                {"apiVersion": "v1", "kind": "Binding",
                 "metadata": {"name": meta["name"], "uid": meta["uid"]},
                 "target": {"apiVersion": "v1", "kind": "Node", "name": self.node_name}})
        except ApiException as error:
            if error.status in (404, 409):  # gone, or bound meanwhile
                return
            raise
        log.info("bound pod %s to %s", meta["name"], self.node_name)
        await self.event(pod, "Scheduled",
                         f"Successfully assigned {self.namespace}/{meta['name']} to "
                         f"{self.node_name}", component="default-scheduler")

    def insufficient(self, pod: dict) -> str | None:
        try:
            wanted = pod_requests(pod)
            used: dict[str, Decimal] = {}
            for other in self.pods.values():
                if (other["spec"].get("nodeName") == self.node_name
                        and other["metadata"]["uid"] != pod["metadata"]["uid"]
                        and (other.get("status") or {}).get("phase") not in ("Succeeded", "Failed")):
                    for key, value in pod_requests(other).items():
                        used[key] = used.get(key, Decimal(0)) + value
        except ValueError as error:
            return f"pod has an invalid resource quantity ({error})"
        for key, value in wanted.items():
            if key not in CAPACITY:
                if value > 0:
                    return f"Insufficient {key}"
                continue
            if used.get(key, Decimal(0)) + value > parse_quantity(CAPACITY[key]):
                return f"Insufficient {key}"
        return None

    async def orphaned(self, pod: dict) -> None:
        """A pod a previous kubelet started: its process is not ours (any more)."""
        name = pod["metadata"]["name"]
        self._kill_recorded(name, pod["metadata"]["uid"])
        log.info("pod %s was started by an earlier kubelet; marking it Failed", name)
        started = {cs["name"]: ((cs.get("state") or {}).get("running") or {}).get("startedAt")
                   for cs in (pod.get("status") or {}).get("containerStatuses") or []}
        message = "the local kubelet restarted and the pod's process is gone"
        await self.patch_status(pod, {
            "phase": "Failed", "reason": "LocalKubeletRestarted", "message": message,
            "conditions": self._conditions(ready=False),
            "containerStatuses": [
                self._container_status(c, pod, running_since=started.get(c["name"]),
                                       terminated={
                    "exitCode": 137, "reason": "LocalKubeletRestarted", "message": message,
                    "finishedAt": now()})
                for c in pod["spec"]["containers"]]})
        await self.event(pod, "Failed", message, "Warning")

    # ------------------------------------------------------------ running

    def _record_path(self, name: str) -> Path:
        return PODS_DIR / f"{name}.json"

    def _kill_recorded(self, name: str, uid: str) -> None:
        """Kill the process group a previous kubelet recorded for this pod, if it still
        runs in the pod's directory (a recycled pid is left alone)."""
        record = self._read_record(name)
        if not record or record.get("uid") != uid or not record.get("pid"):
            return
        pid = record["pid"]
        try:
            if not Path(os.readlink(f"/proc/{pid}/cwd")).is_relative_to(PODS_DIR):
                return
            os.killpg(pid, signal.SIGKILL)
            log.info("killed the leftover process group %s of pod %s", pid, name)
        except (OSError, ValueError):
            pass

    def _read_record(self, name: str) -> dict | None:
        try:
            return json.loads(self._record_path(name).read_text())
        except (OSError, ValueError):
            return None

    async def start_pod(self, pod: dict) -> None:
        meta, spec = pod["metadata"], pod["spec"]
        name = meta["name"]
        container = pick_container(pod)
        if container is None:
            await self.fail(pod, None, "NoContainer", "the pod has no container")
            return
        runner = Runner(name=name, uid=meta["uid"], ip=self.addresses.allocate(name),
                        container=container["name"], image=container.get("image", ""))
        self.runners[name] = runner
        workdir = PODS_DIR / name
        self._kill_recorded(name, runner.uid)
        record = self._read_record(name)
        if workdir.exists() and (record or {}).get("uid") != runner.uid:
            shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True, exist_ok=True)
        self._record_path(name).write_text(json.dumps({"uid": runner.uid, "ip": runner.ip}))
        for volume in spec.get("volumes") or []:
            kind = next((k for k in volume if k != "name"), "?")
            log.info("pod %s: volume %s (%s) recorded, not mounted", name, volume["name"], kind)

        try:
            env = await self.container_env(pod, container, runner.ip)
        except ConfigError as error:
            await self.fail(pod, runner, "CreateContainerConfigError", str(error))
            return
        argv = [expand(a, env) for a in (container.get("command") or [])
                + (container.get("args") or [])]
        if not argv:
            await self.fail(pod, runner, "CreateContainerError",
                            f"container {container['name']} has no command or args: the "
                            "local kubelet cannot run an image's default entrypoint "
                            "(with KubeSpawner, set cmd)")
            return
        env, argv = bind_to_pod_ip(env, argv, runner.ip)
        base_path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
        full_env = {key: os.environ[key] for key in ("LANG", "LC_ALL", "TZ", "TERM")
                    if key in os.environ}
        full_env.update({
            "PATH": base_path, "HOSTNAME": name,
            "KUBERNETES_SERVICE_HOST": HOST_IP, "KUBERNETES_SERVICE_PORT": "16443",
        })
        if os.geteuid() == 0:
            full_env["JUPYTER_CONFIG_PATH"] = str(self.root_jupyter_config())
        full_env.update(env)
        full_env["HOME"] = str(workdir)

        image = runner.image or "<none>"
        await self.event(pod, "Pulling", f'Pulling image "{image}" (not pulled: local kubelet)',
                         field_path=self._field_path(container))
        await self.event(pod, "Pulled", f'Image "{image}" (not pulled: local kubelet)',
                         field_path=self._field_path(container))
        LOGS_DIR.mkdir(parents=True, exist_ok=True)
        log_path = LOGS_DIR / f"pod-{name}.log"
        with open(log_path, "ab") as out:
            out.write(f"\n=== {now()} pod {name} uid {runner.uid} ip {runner.ip}: "
                      f"{' '.join(argv)}\n".encode())
            out.flush()
            try:
                runner.process = await asyncio.create_subprocess_exec(
                    *argv, env=full_env, cwd=str(workdir), stdin=asyncio.subprocess.DEVNULL,
                    stdout=out, stderr=asyncio.subprocess.STDOUT, start_new_session=True)
            except OSError as error:
                await self.fail(pod, runner, "StartError",
                                f'failed to start container "{container["name"]}": '
                                f"exec {argv[0]!r}: {error.strerror or error}",
                                exit_code=127 if isinstance(error, FileNotFoundError) else 126)
                return
        runner.started_at = now()
        self._record_path(name).write_text(json.dumps(
            {"uid": runner.uid, "ip": runner.ip, "pid": runner.process.pid}))
        log.info("pod %s: started %s as pid %s on %s", name, argv, runner.process.pid, runner.ip)
        await self.event(pod, "Created", f"Created container {container['name']}",
                         field_path=self._field_path(container))
        await self.event(pod, "Started",
                         f"Started container {container['name']} (local process "
                         f"{runner.process.pid} on {runner.ip})",
                         field_path=self._field_path(container))
        await self.patch_status(pod, self._running_status(pod, runner, ready=False))
        runner.tasks.append(asyncio.create_task(self.wait_ready(pod, container, runner)))
        runner.tasks.append(asyncio.create_task(self.wait_exit(pod, runner)))

    @staticmethod
    def root_jupyter_config() -> Path:
        """A notebook image runs its server as a normal user; this kubelet may run as root,
        and jupyter_server refuses root unless allowed. Like an image's /etc/jupyter
        config, this directory (on JUPYTER_CONFIG_PATH, which the pod's env may override)
        allows it, so that an unchanged KubeSpawner command starts."""
        directory = PODS_DIR / ".image-jupyter-config"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "jupyter_server_config.json").write_text(
            json.dumps({"ServerApp": {"allow_root": True}}, indent=1) + "\n")
        return directory

    @staticmethod
    def _field_path(container: dict) -> str:
        return f"spec.containers{{{container['name']}}}"

    async def container_env(self, pod: dict, container: dict, ip: str) -> dict[str, str]:
        env: dict[str, str] = {}
        for source in container.get("envFrom") or []:
            prefix = source.get("prefix") or ""
            if "configMapRef" in source:
                ref = source["configMapRef"]
                data = await self._read_data("configmap", ref["name"], ref.get("optional"))
            elif "secretRef" in source:
                ref = source["secretRef"]
                data = await self._read_data("secret", ref["name"], ref.get("optional"))
            else:
                raise ConfigError(f"unsupported envFrom source {source}")
            env.update({prefix + k: v for k, v in (data or {}).items()})
        for var in container.get("env") or []:
            name = var["name"]
            if "valueFrom" not in var:
                env[name] = expand(var.get("value") or "", env)
                continue
            source = var["valueFrom"]
            if "fieldRef" in source:
                env[name] = self._field_ref(pod, source["fieldRef"]["fieldPath"], ip)
            elif "resourceFieldRef" in source:
                env[name] = self._resource_field(container, source["resourceFieldRef"])
            elif "secretKeyRef" in source or "configMapKeyRef" in source:
                kind = "secret" if "secretKeyRef" in source else "configmap"
                ref = source["secretKeyRef" if kind == "secret" else "configMapKeyRef"]
                data = await self._read_data(kind, ref["name"], ref.get("optional"))
                if data is None:
                    continue
                if ref["key"] not in data:
                    if ref.get("optional"):
                        continue
                    raise ConfigError(f'couldn\'t find key {ref["key"]} in {kind} '
                                      f'{self.namespace}/{ref["name"]} (env {name})')
                env[name] = data[ref["key"]]
            else:
                raise ConfigError(f"env {name}: unsupported valueFrom {list(source)} "
                                  "(the local kubelet supports fieldRef, resourceFieldRef, "
                                  "secretKeyRef and configMapKeyRef)")
        return env

    async def _read_data(self, kind: str, name: str, optional) -> dict[str, str] | None:
        try:
            if kind == "secret":
                obj = await call(self.core.read_namespaced_secret, name, self.namespace)
                return {k: base64.b64decode(v).decode(errors="replace")
                        for k, v in (obj.get("data") or {}).items()}
            obj = await call(self.core.read_namespaced_config_map, name, self.namespace)
            return obj.get("data") or {}
        except ApiException as error:
            if error.status == 404:
                if optional:
                    return None
                raise ConfigError(f'{kind} "{name}" not found') from None
            raise

    def _field_ref(self, pod: dict, path: str, ip: str) -> str:
        meta, spec = pod["metadata"], pod["spec"]
        simple = {
            "metadata.name": meta["name"], "metadata.namespace": meta.get("namespace", ""),
            "metadata.uid": meta["uid"], "spec.nodeName": self.node_name,
            "spec.serviceAccountName": spec.get("serviceAccountName", ""),
            "status.podIP": ip, "status.podIPs": ip,
            "status.hostIP": HOST_IP, "status.hostIPs": HOST_IP,
        }
        if path in simple:
            return simple[path]
        match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
        if match:
            return (meta.get(match.group(1)) or {}).get(match.group(2), "")
        raise ConfigError(f"unsupported fieldRef {path}")

    def _resource_field(self, container: dict, ref: dict) -> str:
        resource = ref["resource"]
        kind, _, what = resource.partition(".")
        value = ((container.get("resources") or {}).get(kind) or {}).get(what)
        if value is None:  # an unset limit reads as the node's allocatable
            value = CAPACITY.get(what, "0")
        divisor = parse_quantity(ref.get("divisor") or "1")
        return str(math.ceil(parse_quantity(value) / divisor))

    def _conditions(self, ready: bool) -> list[dict]:
        stamp, flag = now(), "True" if ready else "False"
        return [{"type": "PodScheduled", "status": "True", "lastTransitionTime": stamp},
                {"type": "PodReadyToStartContainers", "status": "True",
                 "lastTransitionTime": stamp},
                {"type": "Initialized", "status": "True", "lastTransitionTime": stamp},
                {"type": "ContainersReady", "status": flag, "lastTransitionTime": stamp},
                {"type": "Ready", "status": flag, "lastTransitionTime": stamp}]

    def _container_status(self, container: dict, pod: dict, *, ready: bool = False,
                          running_since: str | None = None, terminated: dict | None = None,
                          runner: Runner | None = None) -> dict:
        # null removes the other states: the status is patched (strategic merge).
        if terminated is not None:
            state = {"terminated": {"startedAt": running_since, **terminated},
                     "running": None, "waiting": None}
            if running_since is None:
                state["terminated"].pop("startedAt")
        else:
            state = {"running": {"startedAt": running_since or now()},
                     "terminated": None, "waiting": None}
        pid = runner.process.pid if runner and runner.process else 0
        return {"name": container["name"], "image": container.get("image", ""),
                "imageID": "", "containerID": f"local://{pod['metadata']['uid']}/{pid}",
                "ready": ready, "started": terminated is None, "restartCount": 0,
                "state": state}

    def _running_status(self, pod: dict, runner: Runner, ready: bool) -> dict:
        init = [{"name": c["name"], "image": c.get("image", ""), "imageID": "",
                 "ready": True, "restartCount": 0,
                 "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                                          "message": "not run by the local kubelet",
                                          "startedAt": runner.started_at,
                                          "finishedAt": runner.started_at}}}
                for c in pod["spec"].get("initContainers") or []]
        status = {
            "phase": "Running", "hostIP": HOST_IP, "hostIPs": [{"ip": HOST_IP}],
            "podIP": runner.ip, "podIPs": [{"ip": runner.ip}], "startTime": runner.started_at,
            "conditions": self._conditions(ready),
            "containerStatuses": [
                self._container_status(c, pod, ready=ready, running_since=runner.started_at,
                                       runner=runner)
                for c in pod["spec"]["containers"]],
        }
        if init:
            status["initContainerStatuses"] = init
        return status

    async def wait_ready(self, pod: dict, container: dict, runner: Runner) -> None:
        port = probe_port(container)
        while runner.running:
            if port is None or await self._connects(runner.ip, port):
                if runner.running and not runner.terminating:
                    log.info("pod %s ready on %s:%s", runner.name, runner.ip, port)
                    await self.patch_status(pod, self._running_status(pod, runner, ready=True))
                return
            await asyncio.sleep(0.3)

    @staticmethod
    async def _connects(ip: str, port: int) -> bool:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), 1)
        except (OSError, asyncio.TimeoutError):
            return False
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
        return True

    async def wait_exit(self, pod: dict, runner: Runner) -> None:
        code = await runner.process.wait()
        try:  # the container's other processes die with it
            os.killpg(runner.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        exit_code = code if code >= 0 else 128 - code
        runner.exit_code = exit_code
        log.info("pod %s: process %s exited with %s", runner.name, runner.process.pid, exit_code)
        terminated = {"exitCode": exit_code, "reason": "Completed" if exit_code == 0 else "Error",
                      "finishedAt": now()}
        if code < 0:
            terminated["signal"] = -code
        phase = "Succeeded" if exit_code == 0 else "Failed"
        if not runner.terminating and exit_code != 0:
            await self.event(pod, "Failed",
                             f"Container {runner.container} exited with code {exit_code}; "
                             f"see .devstack/logs/pod-{runner.name}.log", "Warning")
        await self.patch_status(pod, {
            "phase": phase, "podIP": runner.ip, "podIPs": [{"ip": runner.ip}],
            "hostIP": HOST_IP, "conditions": self._conditions(ready=False),
            "containerStatuses": [
                self._container_status(c, pod, running_since=runner.started_at,
                                       terminated=dict(terminated), runner=runner)
                for c in pod["spec"]["containers"]]})

    async def fail(self, pod: dict, runner: Runner | None, reason: str, message: str,
                   exit_code: int = 128) -> None:
        log.warning("pod %s failed: %s: %s", pod["metadata"]["name"], reason, message)
        await self.event(pod, "Failed", f"Error: {message}", "Warning")
        status = {"phase": "Failed", "reason": reason, "message": message,
                  "hostIP": HOST_IP, "conditions": self._conditions(ready=False),
                  "containerStatuses": [
                      self._container_status(c, pod, terminated={
                          "exitCode": exit_code, "reason": reason, "message": message,
                          "finishedAt": now()})
                      for c in pod["spec"].get("containers") or []]}
        if runner:
            status.update({"podIP": runner.ip, "podIPs": [{"ip": runner.ip}]})
            runner.exit_code = exit_code
        await self.patch_status(pod, status)

    # ------------------------------------------------------------ stopping

    async def terminate(self, pod: dict) -> None:
        meta = pod["metadata"]
        name = meta["name"]
        runner = self.runners.get(name)
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
        if runner and runner.running:
            await self.event(pod, "Killing", f"Stopping container {runner.container}",
                             field_path=f"spec.containers{{{runner.container}}}")
            await self.stop_runner(runner, grace)
        if runner:
            self.forget(runner)
        try:
            await call(
                self.core.delete_namespaced_pod, name, self.namespace, grace_period_seconds=0,
                body={"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}})
            log.info("pod %s deleted", name)
        except ApiException as error:
            if error.status not in (404, 409):
                raise

    async def stop_runner(self, runner: Runner, grace: float) -> None:
        runner.terminating = True
        process = runner.process
        if process is not None and process.returncode is None:
            for sig, wait in ((signal.SIGTERM, max(grace, 0)), (signal.SIGKILL, 10)):
                if sig == signal.SIGTERM and grace <= 0:
                    continue
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    await asyncio.wait_for(process.wait(), wait)
                    break
                except asyncio.TimeoutError:
                    continue
        for task in runner.tasks:
            if task.done():
                continue
            try:  # let wait_exit report the exit code before the pod goes
                await asyncio.wait_for(asyncio.shield(task), 5)
            except (asyncio.TimeoutError, Exception):  # noqa: BLE001
                task.cancel()

    def forget(self, runner: Runner) -> None:
        if self.runners.get(runner.name) is runner:
            del self.runners[runner.name]
        self.addresses.release(runner.ip)
        self._record_path(runner.name).unlink(missing_ok=True)

    async def shutdown(self) -> None:
        """SIGTERM: stop every process, report their pods Failed (best effort)."""
        runners = [r for r in self.runners.values() if r.running]
        await asyncio.gather(*(self.stop_runner(r, grace=3) for r in runners),
                             return_exceptions=True)
        for runner in runners:
            pod = self.pods.get(runner.name)
            if pod is not None:
                try:
                    await asyncio.wait_for(self.patch_status(pod, {
                        "phase": "Failed", "reason": "NodeShutdown",
                        "message": "the local kubelet stopped"}), 3)
                except Exception:  # noqa: BLE001
                    pass
            self._record_path(runner.name).unlink(missing_ok=True)

    # ------------------------------------------------------------ API helpers

    async def patch_status(self, pod: dict, status: dict) -> None:
        try:
            await call(self.core.patch_namespaced_pod_status, pod["metadata"]["name"],
                       self.namespace, {"status": status})
        except ApiException as error:
            if error.status != 404:
                log.warning("status of pod %s not updated: %s", pod["metadata"]["name"],
                            error.body or error)

    async def event(self, pod: dict, reason: str, message: str, kind: str = "Normal",
                    component: str = "kubelet", field_path: str | None = None) -> None:
        meta = pod["metadata"]
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
            "source": {"component": component, "host": self.node_name},
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
            "reportingComponent": component, "reportingInstance": self.node_name,
        }
        try:
            await call(self.core.create_namespaced_event, self.namespace, body)
        except Exception as error:  # noqa: BLE001 - events are best effort
            log.warning("event %s for pod %s not posted: %s", reason, meta["name"], error)

    # ------------------------------------------------------------ main loop

    async def run(self) -> None:
        PODS_DIR.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                await self.register_node()
                # Addresses of pods already bound here (a previous kubelet's) stay theirs.
                bound = await call(self.core.list_namespaced_pod, self.namespace,
                                   field_selector=f"spec.nodeName={self.node_name}")
                break
            except Exception as error:  # noqa: BLE001 - the API server may be starting
                log.warning("registering node failed (%s); retrying", error)
                await self._sleep(2)
                if self.stopping.is_set():
                    return
        for pod in bound["items"]:
            ip = (pod.get("status") or {}).get("podIP")
            if ip:
                self.addresses.claim(ip, pod["metadata"]["name"])
        tasks = [asyncio.create_task(coro) for coro in
                 (self.heartbeat(), self.watch_pods(), self.resync())]
        await self.stopping.wait()
        log.info("stopping")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for _, task in list(self.workers.values()):
            task.cancel()
        await self.shutdown()


async def amain(args: argparse.Namespace) -> None:
    api = await config.new_client_from_config(config_file=args.kubeconfig)
    async with api:
        kubelet = LocalKubelet(api, args.namespace, args.node_name)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, kubelet.stopping.set)
        await kubelet.run()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.kubelet",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--namespace", default="hub")
    parser.add_argument("--node-name", default="local-node")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp").setLevel(logging.WARNING)
    asyncio.run(amain(args))


def start_kubelet(timeout: float = 60) -> int:
    """Start this kubelet in the background via devstack.proc (name `kubelet`)."""
    from devstack import kube
    return kube.start_kubelet(timeout)


if __name__ == "__main__":
    main()
