"""Starting a server from the Server Options page, in Chromium, the way a person does: log
in through Keycloak, choose, press Start, watch the progress, land in the server, see it on
the home page, stop it there.
"""
from __future__ import annotations

import os
import re
import signal

import pytest
from playwright.sync_api import expect

from devstack import proc
from tests.stack import hub_client

from .browsing import (
    HUB,
    choose,
    hub_url,
    log_in,
    run,
    server_model,
    server_url,
    snap,
    until,
    wait_ready,
)

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("stack")]


def test_log_in_choose_start_land_in_the_server_and_stop_it(open_page, servers):
    page = open_page()
    servers.add("alice")
    log_in(page, "alice")
    expect(page).to_have_url(hub_url("/hub/spawn"))
    expect(page.get_by_role("heading", name="Server Options")).to_be_visible()
    choose(page, "Research Lab", "CPU 2", "PyTorch")
    page.get_by_role("button", name="Start", exact=True).click()

    # The single-user server's own page, through configurable-http-proxy.
    page.wait_for_url(server_url("alice"), timeout=90_000)
    expect(page).to_have_title(re.compile("Jupyter"))
    options = server_model("alice")["servers"][""]["user_options"]
    assert (options["group"], options["instance_type"], options["image"]) == (
        "research", "cpu-2", "pytorch")

    # Home: what runs, then Stop My Server.
    page.goto(f"{HUB}/hub/home")
    running = page.get_by_role("region", name="Your running server")
    expect(running).to_contain_text("Research Lab")
    expect(running).to_contain_text("CPU 2")
    expect(running).to_contain_text("PyTorch")
    page.get_by_role("button", name="Stop My Server").click()
    # The home page's script hides the stop button and offers Start again once stopped.
    expect(page.get_by_role("button", name="Stop My Server")).to_be_hidden(timeout=60_000)
    expect(page.get_by_role("button", name="Start My Server")).to_be_visible()
    expect(running).to_be_hidden()
    run(hub_client.wait_pod_gone(hub_client.POD.format("alice")))
    assert run(hub_client.pod(hub_client.POD.format("alice"))) is None


def test_spawn_pending_page_shows_the_clusters_events(open_page, servers):
    """Scheduled, Pulled, Started ...: the scheduler's and the local kubelet's events, in the
    page's event log.

    The local kubelet starts a server in two to four seconds, so the test holds it (SIGSTOP)
    until the pending page is up, and holds the page's reload once the server is ready,
    to read the log the person saw."""
    page = open_page()
    servers.add("bob")
    log_in(page, "bob")
    reloads = []

    def keep_the_page(route):
        # The first visit is the redirect after Start (Playwright does not route redirects);
        # a request made while the page already shows spawn-pending is its reload once the
        # server is ready: answered "204 No Content", the browser stays on the page.
        if "/hub/spawn-pending/" in page.url and not reloads:
            reloads.append(route.request.url)
            route.fulfill(status=204)
        else:
            route.continue_()

    page.route(re.compile(re.escape(HUB) + r"/hub/spawn-pending/bob.*"), keep_the_page)
    kubelet = proc.pid_of("kubelet")
    assert kubelet, "the local kubelet is not running"
    os.kill(kubelet, signal.SIGSTOP)
    try:
        page.get_by_role("button", name="Start", exact=True).click()
        page.wait_for_url(hub_url("/hub/spawn-pending/bob"))
        expect(page.get_by_text("Your server is starting up")).to_be_visible()
    finally:
        os.kill(kubelet, signal.SIGCONT)

    page.wait_for_function("() => window._jupyterhub_page_loaded === true")
    # The page reloads when the server is ready; that reload is kept off, the log is still here.
    until(page, lambda: reloads, 90, "the reload after the server was ready")
    page.get_by_text("Event log").click()
    log = page.locator("#progress-log")
    expect(log).to_contain_text("Successfully assigned hub/jupyter-bob to cpu-node")
    expect(log).to_contain_text('Pulling image "quay.io/jupyter/base-notebook:latest"')
    expect(log).to_contain_text("Created container notebook")
    expect(log).to_contain_text("Started container notebook")
    expect(log).to_contain_text("Server ready at /user/bob/")
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    snap(page, "test_spawn_pending_page_shows_the_clusters_events-log")
    page.reload()  # as the page itself did: on to the server
    page.wait_for_url(server_url("bob"), timeout=60_000)
    wait_ready("bob")

