"""Start, find and stop the stack's background processes.

Every part of the stack is a plain process started in its own session, with its output in
`.devstack/logs/<name>.log` and its pid in `.devstack/pids/<name>.pid`, so that `make down`
(or Ctrl-C in `make demo`) can stop exactly what `make up` started, even from another shell.
"""
from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".devstack"
LOGS = STATE / "logs"
PIDS = STATE / "pids"
# Builds and downloads survive `make down` and are shared by every clone on this machine
# (CI runs in a fresh clone): outside the work tree, never committed.
CACHE = Path(os.environ.get("PRIMEHUB_DEVSTACK_CACHE",
                            Path.home() / ".cache" / "primehub-spawner-devstack"))


class PartFailed(RuntimeError):
    """A part of the stack did not start; the message carries the tail of its log."""


def log_path(name: str) -> Path:
    return LOGS / f"{name}.log"


def log_tail(name: str, lines: int = 40) -> str:
    path = log_path(name)
    if not path.exists():
        return f"(no log at {path})"
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def say(message: str) -> None:
    print(f"[devstack] {message}", flush=True)


def pid_of(name: str) -> int | None:
    path = PIDS / f"{name}.pid"
    try:
        pid = int(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    if not _alive(pid):
        path.unlink(missing_ok=True)
        return None
    return pid


def _alive(pid: int) -> bool:
    """Running, not a zombie (a child of ours that died is reaped here)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass  # not our child: its parent reaps it
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def spawn(name: str, argv: list[str], env: dict[str, str] | None = None,
          cwd: Path | None = None) -> int:
    """Start `argv` in the background unless `name` already runs; return its pid."""
    running = pid_of(name)
    if running:
        return running
    LOGS.mkdir(parents=True, exist_ok=True)
    PIDS.mkdir(parents=True, exist_ok=True)
    with open(log_path(name), "ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} start {' '.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})}, cwd=cwd, start_new_session=True,
        )
    (PIDS / f"{name}.pid").write_text(str(proc.pid))
    return proc.pid


def stop(name: str, timeout: float = 20) -> None:
    """Stop a part and every process of its session (TERM, then KILL)."""
    pid = pid_of(name)
    if pid is None:
        return
    _terminate(os.killpg, pid, timeout)
    (PIDS / f"{name}.pid").unlink(missing_ok=True)


def kill_and_wait(pid: int, timeout: float = 5) -> None:
    """TERM one process, then KILL it if it is still there after `timeout` seconds."""
    _terminate(os.kill, pid, timeout)


def _terminate(send, pid: int, timeout: float) -> None:
    """TERM through `send` (os.kill, or os.killpg for a whole session), then KILL if `pid`
    still runs after `timeout` seconds."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
        try:
            send(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.2)


def wait_until(name: str, ready, timeout: float, what: str) -> None:
    """Poll `ready()` until true; fail with the part's log tail if it dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except Exception:  # noqa: BLE001, S110 - not ready yet, whatever the reason
            pass
        if pid_of(name) is None:
            raise PartFailed(f"{name} exited before {what}. Last lines of {log_path(name)}:\n"
                             f"{log_tail(name)}")
        time.sleep(0.5)
    raise PartFailed(f"{name}: no {what} after {timeout:.0f}s. Last lines of {log_path(name)}:\n"
                     f"{log_tail(name)}")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def http_ok(url: str, ca: Path | None = None, token: str | None = None) -> bool:
    context = ssl.create_default_context(cafile=str(ca)) if ca else None
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=3, context=context) as response:
        return 200 <= response.status < 300
