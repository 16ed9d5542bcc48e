"""The browser tier: Debian's Chromium, driven by Playwright, against the real dev stack.

People log in as people do (the hub's login page, Keycloak's form) in a fresh browser
context each, so no cookie or Keycloak session leaks from one test to the next; browsing.py
has what they do. Every page a test opened is photographed when the test ends, before its
servers are stopped, as test-output/browser/<test name>.png. No browser is ever
downloaded: the executable is Debian's /usr/bin/chromium.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.stack import hub_client

from .browsing import OUTPUT, run

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic",
                 "--no-first-run"]


# ---- the browser -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser() -> Browser:
    # Module scope, not session: while Playwright's sync API is alive its event loop counts
    # as running in this thread, and the async tests of the other tiers could not run.
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def servers():
    """Users whose servers the test may start: stopped when it ends, and their pods gone."""
    users: set[str] = set()
    yield users
    for name in sorted(users):
        run(_stop(name))


async def _stop(name: str) -> None:
    response = await hub_client.api("DELETE", f"/users/{name}/server")
    if response.status_code == 404:  # never logged in
        return
    assert response.status_code in (202, 204, 400), response.text
    await hub_client.wait_server(name, ready=False)
    await hub_client.wait_pod_gone(hub_client.POD.format(name))


@pytest.fixture
def open_page(browser, servers, request):
    """open_page(js=True) -> a Page in a new, empty browser context (1100 px wide).

    Uncaught JavaScript errors of the page fail the test. When the test ends each page is
    saved as a screenshot, before the servers are stopped."""
    contexts = []
    errors: list[str] = []

    def _open(js: bool = True, width: int = 1100, height: int = 900) -> Page:
        context = browser.new_context(java_script_enabled=js,
                                      viewport={"width": width, "height": height})
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
        return page

    yield _open
    OUTPUT.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    pages = [page for context in contexts for page in context.pages]
    for index, page in enumerate(pages):
        suffix = f"-{index + 1}" if len(pages) > 1 else ""
        try:
            page.screenshot(path=OUTPUT / f"{name}{suffix}.png", full_page=True)
        except Exception as e:  # noqa: BLE001 - a page that is gone or stuck must not hide the test's result
            print(f"no screenshot of {page.url}: {e}")
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors: {errors}"


