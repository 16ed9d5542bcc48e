"""The process "runtime": loopback addresses, one process per pod, its record on disk.

Each pod runs in `.devstack/pods/<pod>` with its output in `.devstack/logs/pod-<pod>.log`;
`.devstack/pods/<pod>.json` records its uid, address and pid so that a later kubelet (or
`make down`) can find a process an earlier one left behind.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / ".devstack"
PODS_DIR = STATE / "pods"
LOGS_DIR = STATE / "logs"

log = logging.getLogger("devstack.kubelet")


class AddressPool:
    """127.0.x.y for x in 2..254, y in 1..254, handed out round-robin (127.0.0.x is the
    stack's own, 127.0.1.1 is Debian's alias of the host name)."""

    SIZE = 253 * 254

    def __init__(self) -> None:
        self.used: dict[str, str] = {}  # ip -> pod name
        self.next = 0

    @staticmethod
    def _ip(index: int) -> str:
        return f"127.0.{2 + index // 254}.{1 + index % 254}"

    def claim(self, ip: str, pod: str) -> None:
        self.used[ip] = pod

    def allocate(self, pod: str) -> str:
        for step in range(self.SIZE):
            index = (self.next + step) % self.SIZE
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


@dataclass
class Runner:
    """One pod's process."""
    name: str
    uid: str
    ip: str
    container: str
    process: asyncio.subprocess.Process | None = None
    started_at: str | None = None
    terminating: bool = False
    tasks: list[asyncio.Task] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    @property
    def pid(self) -> int:
        return self.process.pid if self.process else 0


def record_path(name: str) -> Path:
    return PODS_DIR / f"{name}.json"


def read_record(name: str) -> dict | None:
    try:
        return json.loads(record_path(name).read_text())
    except (OSError, ValueError):
        return None


def write_record(runner: Runner) -> None:
    record = {"uid": runner.uid, "ip": runner.ip}
    if runner.process:
        record["pid"] = runner.process.pid
    record_path(runner.name).write_text(json.dumps(record))


def kill_recorded(name: str, uid: str) -> None:
    """Kill the process group an earlier kubelet recorded for this pod, if it still runs in
    the pod's directory (a recycled pid is left alone)."""
    record = read_record(name)
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


def prepare_workdir(runner: Runner) -> Path:
    """The pod's directory, emptied when it belonged to an earlier pod of that name."""
    kill_recorded(runner.name, runner.uid)
    workdir = PODS_DIR / runner.name
    if workdir.exists() and (read_record(runner.name) or {}).get("uid") != runner.uid:
        shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    write_record(runner)
    return workdir


def root_jupyter_config() -> Path | None:
    """A notebook image runs its server as a normal user; this kubelet may run as root,
    and jupyter_server refuses root unless allowed. Like an image's /etc/jupyter config,
    this directory (on JUPYTER_CONFIG_PATH, which the pod's env may override) allows it,
    so that an unchanged KubeSpawner command starts. None when not root."""
    if os.geteuid() != 0:
        return None
    directory = PODS_DIR / ".image-jupyter-config"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"allow_root": True}}, indent=1) + "\n")
    return directory


async def start_process(runner: Runner, argv: list[str], env: dict[str, str], workdir: Path,
                        banner: str) -> None:
    """Start the pod's process in its own session (so that its children stop with it)."""
    LOGS_DIR.mkdir(parents=True, exist_ok=True)
    # A local append of one line: not worth a thread.
    with open(LOGS_DIR / f"pod-{runner.name}.log", "ab") as out:  # noqa: ASYNC230
        out.write(f"\n=== {banner}: {' '.join(argv)}\n".encode())
        out.flush()
        runner.process = await asyncio.create_subprocess_exec(
            *argv, env=env, cwd=str(workdir), stdin=asyncio.subprocess.DEVNULL,
            stdout=out, stderr=asyncio.subprocess.STDOUT, start_new_session=True)
    write_record(runner)


async def stop_process(runner: Runner, grace: float) -> None:
    """SIGTERM to the process group, SIGKILL after `grace` seconds (at once when 0)."""
    runner.terminating = True
    process = runner.process
    if process is None or process.returncode is not None:
        return
    for sig, wait in ((signal.SIGTERM, max(grace, 0)), (signal.SIGKILL, 10)):
        if sig == signal.SIGTERM and grace <= 0:
            continue
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            await asyncio.wait_for(process.wait(), wait)
            return
        except TimeoutError:
            continue


def kill_group(pid: int) -> None:
    """The container's other processes die with it."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


async def connects(ip: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), 1)
    except (TimeoutError, OSError):
        return False
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return True
