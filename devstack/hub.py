"""JupyterHub with configurable-http-proxy, configured with PrimeHubSpawner and
PrimeHubAuthenticator, as a part of the dev stack."""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

from . import proc

STATE = proc.STATE / "hub"
DEVSTACK = proc.ROOT / "devstack"
HUB_URL = "http://127.0.0.1:18000"


def prepare() -> None:
    """Install the pinned proxy from npm (once) and the hub's secrets (once)."""
    chp = DEVSTACK / "node_modules/.bin/configurable-http-proxy"
    if not chp.exists():
        proc.say("installing configurable-http-proxy from npm")
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=DEVSTACK, check=True)
    STATE.mkdir(parents=True, exist_ok=True)
    for name, make in (("api_token", lambda: secrets.token_hex(32)),
                       ("crypt_key", lambda: secrets.token_hex(32))):
        path = STATE / name
        if not path.exists():
            path.write_text(make())
            path.chmod(0o600)


def api_token() -> str:
    return (STATE / "api_token").read_text().strip()


def start(kubeconfig: str, settings: dict[str, str] | None = None,
          keep_servers: bool = False) -> None:
    """Start the hub unless it runs; `settings` are extra environment variables its
    configuration reads (PRIMEHUB_CULL_TIMEOUT, say). With `keep_servers`, the hub keeps
    its database and, when it stops, the servers running, as a production hub restarts."""
    if proc.pid_of("jupyterhub"):
        return
    prepare()
    stale = ("jupyterhub.pid",) if keep_servers else ("jupyterhub.sqlite", "jupyterhub.pid")
    # Else a fresh hub database each start: the cluster is the truth about running servers.
    for name in stale:
        (STATE / name).unlink(missing_ok=True)
    env = {
        "KUBECONFIG": kubeconfig,
        "JUPYTERHUB_CRYPT_KEY": (STATE / "crypt_key").read_text().strip(),
        "PATH": f"{os.path.dirname(sys.executable)}:{os.environ.get('PATH', '')}",
        # This checkout's package, also where the venv's editable install is another
        # checkout's (a git worktree sharing the venv): the hub runs from .devstack/hub.
        "PYTHONPATH": str(proc.ROOT),
        **(settings or {}),
    }
    jupyterhub = shutil.which("jupyterhub", path=env["PATH"]) or "jupyterhub"
    argv = [jupyterhub, "-f", str(DEVSTACK / "jupyterhub_config.py")]
    if keep_servers:
        argv.append("--JupyterHub.cleanup_servers=False")
    proc.spawn("jupyterhub", argv, env=env, cwd=STATE)
    proc.wait_until("jupyterhub", lambda: proc.http_ok(f"{HUB_URL}/hub/health"), 90,
                    "answer on /hub/health")


def stop() -> None:
    proc.stop("jupyterhub")
    _stop_stray_proxies()


def _stop_stray_proxies() -> None:
    """Stop any proxy of this checkout that outlived its hub (one a hub found running at its
    start is not its own to stop), so that the next hub finds its ports free."""
    command = str(DEVSTACK / "node_modules/.bin/configurable-http-proxy")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone already, or not ours to read
        if command.encode() in argv:
            proc.say(f"stopping a configurable-http-proxy left running (pid {entry.name})")
            proc.kill_and_wait(int(entry.name))
    (STATE / "jupyterhub-proxy.pid").unlink(missing_ok=True)
