"""One pod's life under the local kubelet: start its process, report it, stop it.

It reports Running with podIP/hostIP, Ready once the container's port (readiness probe
port, else its first containerPort) accepts a TCP connection, and on exit a terminated
state with the exit code, phase Succeeded (0) or Failed.
"""
from __future__ import annotations

import asyncio
import base64
import logging
import os
import sys

from kubernetes_asyncio.client.rest import ApiException

from . import env as envs
from . import images, runtime, status
from .api import Reporter, call, now
from .nodes import NodeShape
from .runtime import Runner

log = logging.getLogger("devstack.kubelet")


def _field_path(container: dict) -> str:
    return f"spec.containers{{{container['name']}}}"


class PodLifecycle:
    def __init__(self, reporter: Reporter, addresses: runtime.AddressPool) -> None:
        self.reporter = reporter
        self.core = reporter.core
        self.namespace = reporter.namespace
        self.addresses = addresses
        self.runners: dict[str, Runner] = {}

    async def start(self, pod: dict, node: NodeShape) -> None:
        name = pod["metadata"]["name"]
        container = status.pick_container(pod)
        if container is None:
            await self.fail(pod, None, "NoContainer", "the pod has no container")
            return
        runner = Runner(name=name, uid=pod["metadata"]["uid"],
                        ip=self.addresses.allocate(name), container=container["name"])
        self.runners[name] = runner
        workdir = runtime.prepare_workdir(runner)
        for volume in pod["spec"].get("volumes") or []:
            kind = next((k for k in volume if k != "name"), "?")
            log.info("pod %s: volume %s (%s) recorded, not mounted", name, volume["name"], kind)
        try:
            fetched = {key: await self._read_data(*key) for key in envs.sources(container)}
            env = envs.make_env(pod, container, runner.ip, node, fetched)
        except envs.ConfigError as error:
            await self.fail(pod, runner, "CreateContainerConfigError", str(error))
            return
        argv = envs.command_line(container, env)
        if not argv:
            await self.fail(pod, runner, "CreateContainerError",
                            f"container {container['name']} has no command or args: the "
                            "local kubelet cannot run an image's default entrypoint "
                            "(with KubeSpawner, set cmd)")
            return
        env, argv = envs.bind_to_pod_ip(env, argv, runner.ip)
        full_env = envs.process_env(env, name, workdir, dict(os.environ),
                                    os.path.dirname(sys.executable),
                                    runtime.root_jupyter_config())
        image = container.get("image") or "<none>"
        where = _field_path(container)
        failure = images.pull_failure(image)
        if failure:
            runner.tasks.append(asyncio.create_task(
                self.pull_fails(pod, runner, image, failure, where)))
            return
        await self.reporter.event(pod, "Pulling",
                                  f'Pulling image "{image}" (not pulled: local kubelet)',
                                  field_path=where)
        await self.reporter.event(pod, "Pulled", f'Image "{image}" (not pulled: local kubelet)',
                                  field_path=where)
        try:
            await runtime.start_process(runner, argv, full_env, workdir,
                                        f"{now()} pod {name} uid {runner.uid} ip {runner.ip}")
        except OSError as error:
            await self.fail(pod, runner, "StartError",
                            f'failed to start container "{container["name"]}": '
                            f"exec {argv[0]!r}: {error.strerror or error}",
                            exit_code=127 if isinstance(error, FileNotFoundError) else 126)
            return
        runner.started_at = now()
        log.info("pod %s: started %s as pid %s on %s (node %s)", name, argv, runner.pid,
                 runner.ip, node.name)
        await self.reporter.event(pod, "Created", f"Created container {container['name']}",
                                  field_path=where)
        await self.reporter.event(pod, "Started",
                                  f"Started container {container['name']} (local process "
                                  f"{runner.pid} on {runner.ip})", field_path=where)
        await self.reporter.patch_status(pod, self._running(pod, runner, ready=False))
        runner.tasks.append(asyncio.create_task(self.wait_ready(pod, container, runner)))
        runner.tasks.append(asyncio.create_task(self.wait_exit(pod, runner)))

    async def pull_fails(self, pod: dict, runner: Runner, image: str, failure: str,
                         where: str) -> None:
        """A pull that cannot succeed, told as a real kubelet tells it, again after each
        back-off, until the pod goes; the pod stays Pending."""
        ip, delay = runner.ip, images.BACK_OFF_FIRST
        while self.runners.get(runner.name) is runner:
            log.info("pod %s: image %s cannot be pulled", runner.name, image)
            await self.reporter.event(pod, "Pulling", f'Pulling image "{image}"',
                                      field_path=where)
            await self.reporter.event(pod, "Failed", f'Failed to pull image "{image}": '
                                      f"{failure}", "Warning", field_path=where)
            await self.reporter.event(pod, "Failed", "Error: ErrImagePull", "Warning",
                                      field_path=where)
            await self.reporter.patch_status(pod, status.waiting_status(
                pod, ip, "ErrImagePull", failure, now()))
            await self.reporter.event(pod, "BackOff", f'Back-off pulling image "{image}"',
                                      field_path=where)
            await self.reporter.event(pod, "Failed", "Error: ImagePullBackOff", "Warning",
                                      field_path=where)
            await self.reporter.patch_status(pod, status.waiting_status(
                pod, ip, "ImagePullBackOff", f'Back-off pulling image "{image}"', now()))
            await asyncio.sleep(delay)
            delay = images.next_back_off(delay)

    @staticmethod
    def _running(pod: dict, runner: Runner, ready: bool) -> dict:
        process = status.Process(ip=runner.ip, pid=runner.pid, started_at=runner.started_at)
        return status.running_status(pod, process, ready, now())

    async def _read_data(self, kind: str, name: str) -> dict[str, str] | None:
        """A Secret's (decoded) or ConfigMap's data; None when it does not exist."""
        try:
            if kind == "secret":
                obj = await call(self.core.read_namespaced_secret, name, self.namespace)
                return {k: base64.b64decode(v).decode(errors="replace")
                        for k, v in (obj.get("data") or {}).items()}
            obj = await call(self.core.read_namespaced_config_map, name, self.namespace)
            return obj.get("data") or {}
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    async def wait_ready(self, pod: dict, container: dict, runner: Runner) -> None:
        port = status.probe_port(container)
        while runner.running:
            if port is None or await runtime.connects(runner.ip, port):
                if runner.running and not runner.terminating:
                    log.info("pod %s ready on %s:%s", runner.name, runner.ip, port)
                    await self.reporter.patch_status(pod, self._running(pod, runner, True))
                return
            await asyncio.sleep(0.3)

    async def wait_exit(self, pod: dict, runner: Runner) -> None:
        returncode = await runner.process.wait()
        runtime.kill_group(runner.pid)
        code = status.exit_code_of(returncode)
        log.info("pod %s: process %s exited with %s", runner.name, runner.pid, code)
        if not runner.terminating and code != 0:
            await self.reporter.event(
                pod, "Failed", f"Container {runner.container} exited with code {code}; "
                f"see .devstack/logs/pod-{runner.name}.log", "Warning")
        process = status.Process(ip=runner.ip, pid=runner.pid, started_at=runner.started_at)
        await self.reporter.patch_status(pod, status.exited_status(pod, process, returncode,
                                                                   now()))

    async def fail(self, pod: dict, runner: Runner | None, reason: str, message: str,
                   exit_code: int = 128) -> None:
        log.warning("pod %s failed: %s: %s", pod["metadata"]["name"], reason, message)
        await self.reporter.event(pod, "Failed", f"Error: {message}", "Warning")
        await self.reporter.patch_status(pod, status.failed_status(
            pod, runner.ip if runner else None, reason, message, exit_code, now()))

    async def orphaned(self, pod: dict) -> None:
        """A pod an earlier kubelet started: its process is not ours (any more)."""
        name = pod["metadata"]["name"]
        runtime.kill_recorded(name, pod["metadata"]["uid"])
        log.info("pod %s was started by an earlier kubelet; marking it Failed", name)
        message = "the local kubelet restarted and the pod's process is gone"
        await self.reporter.patch_status(pod, status.failed_status(
            pod, None, "LocalKubeletRestarted", message, 137, now(),
            started=status.started_times(pod)))
        await self.reporter.event(pod, "Failed", message, "Warning")

    async def stop(self, runner: Runner, grace: float) -> None:
        await runtime.stop_process(runner, grace)
        for task in runner.tasks:
            if task.done():
                continue
            try:  # let wait_exit report the exit code before the pod goes
                await asyncio.wait_for(asyncio.shield(task), 5)
            except (TimeoutError, Exception):  # noqa: BLE001
                task.cancel()

    def forget(self, runner: Runner) -> None:
        for task in runner.tasks:  # a pull still backing off
            task.cancel()
        if self.runners.get(runner.name) is runner:
            del self.runners[runner.name]
        self.addresses.release(runner.ip)
        runtime.record_path(runner.name).unlink(missing_ok=True)
