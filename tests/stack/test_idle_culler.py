"""jupyterhub-idle-culler in the dev stack: a server nobody uses is stopped, and its pod goes.

The culler is the hub service of devstack/jupyterhub_config.py, with its own role. Its idle
timeout is an hour there; this test restarts the stack's hub with a 20-second timeout, and
restarts it again as the other tests know it afterwards. A short timeout for the whole test
session would not do: the hub learns of a server's activity only every five minutes (the
proxy's routes, the server's own reports), so any server another test keeps for longer
than the timeout would be stopped under it. The tests of a session run one at a time and
stop their servers, so none runs during the restarts (the dev hub stops every server when
it stops, and starts from an empty database).
"""
from __future__ import annotations

import asyncio
import re
import time

import pytest

from devstack import hub, kube, proc

from .hub_client import POD, api, login, pod, user_token, wait_pod_gone, wait_server

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("stack")]

TIMEOUT = 20
EVERY = 4


async def restart_hub(settings: dict[str, str] | None = None) -> None:
    await asyncio.to_thread(hub.stop)
    await asyncio.to_thread(hub.start, str(kube.HUB_KUBECONFIG), settings)


def hub_log_since(offset: int) -> str:
    with open(proc.log_path("jupyterhub"), encoding="utf-8", errors="replace") as log:
        log.seek(offset)
        return log.read()


@pytest.fixture
async def quick_culler():
    """The hub with a culler that stops servers idle for TIMEOUT seconds, checking every
    EVERY seconds; the log's size at its start (to read only this hub's lines)."""
    await restart_hub({"PRIMEHUB_CULL_TIMEOUT": str(TIMEOUT), "PRIMEHUB_CULL_EVERY": str(EVERY)})
    log = proc.log_path("jupyterhub")
    try:
        yield log.stat().st_size
    finally:
        await restart_hub()


async def test_an_idle_server_is_stopped_by_the_culler(quick_culler):
    await login("bob")
    token = await user_token("bob")
    # JupyterHub counts the server's activity from its start (before the pod runs): the
    # idle time is measured from the request, which comes just before.
    requested = time.monotonic()
    response = await api("POST", "/users/bob/server", token=token,
                         json={"group": "class-101", "instance_type": "cpu-1"})
    assert response.status_code in (201, 202), response.text
    await wait_server("bob")
    assert await pod(POD.format("bob")) is not None

    # Not before it has been idle for the timeout...
    await asyncio.sleep(TIMEOUT / 2)
    assert (await api("GET", "/users/bob")).json()["servers"].get("") is not None

    # ...and soon after: one check, the stop, and some slack on a busy machine.
    await wait_server("bob", ready=False, timeout=TIMEOUT / 2 + 2 * EVERY + 30)
    stopped = time.monotonic() - requested
    await wait_pod_gone(POD.format("bob"))
    assert stopped >= TIMEOUT, f"stopped after {stopped:.0f}s, idle timeout {TIMEOUT}s"

    lines = await asyncio.to_thread(hub_log_since, quick_culler)
    # The culler said so, and the hub saw the stop come from the culler's service.
    assert re.search(r"Culling server bob \(", lines), lines[-3000:]
    assert re.search(r"DELETE /hub/api/users/bob/server \(idle-culler@", lines), lines[-3000:]
