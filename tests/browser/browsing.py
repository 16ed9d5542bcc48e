"""What the browser tests do, as a person and as an operator (fixtures: conftest.py).

    page = open_page()                    # a new context; open_page(js=False) without JavaScript
    log_in(page, "alice")                 # lands where the hub sends her (/hub/spawn)
    choose(page, "Research Lab", "CPU 2", "PyTorch")

The hub_client helpers of the stack tier are async; Playwright's sync API owns the test's
thread, so `run()` gives them a thread and an event loop of their own.
"""
from __future__ import annotations

import asyncio
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

from playwright.sync_api import Page

from devstack import hub, kube
from tests.stack import hub_client

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "browser"
HUB = hub.HUB_URL
XSS = "<img src=x onerror=alert(1)>"


def run(coro):
    """Run an async helper (hub_client, KeycloakAdmin) to completion on its own loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def hub_url(path: str) -> re.Pattern:
    """A pattern for page.wait_for_url / expect(page).to_have_url: this path, any query."""
    return re.compile("^" + re.escape(HUB + path) + r"(\?.*)?$")


def server_url(username: str) -> re.Pattern:
    return re.compile("^" + re.escape(f"{HUB}/user/{username}/"))


# ---- a person at the keyboard -----------------------------------------------------------

def log_in(page: Page, username: str, next_path: str | None = None) -> None:
    """The hub's login page (unless the page already shows it, after a link that needed a
    login), its "Sign in with Keycloak" button, Keycloak's form; waits to be back on the hub."""
    if not page.url.startswith(f"{HUB}/hub/login"):
        query = f"?next={quote(next_path, safe='')}" if next_path else ""
        page.goto(f"{HUB}/hub/login{query}")
    page.get_by_role("button", name="Sign in with Keycloak").click()
    page.locator("#username").fill(username)
    page.locator("#password").fill(f"{username}-pass")
    page.locator("#kc-login").click()
    page.wait_for_url(re.compile("^" + re.escape(HUB) + "/"))


def choose(page: Page, group: str, instance_type: str, image: str) -> None:
    """Pick by the names a user reads (display names)."""
    page.get_by_label("Launch the server in group").select_option(label=group)
    page.get_by_role("radio", name=instance_type, exact=True).check()
    page.get_by_role("radio", name=image, exact=True).check()


def snap(page: Page, name: str) -> None:
    """A screenshot of a state on the way (the fixture takes the final one)."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=OUTPUT / f"{name}.png", full_page=True)


def until(page: Page, predicate, timeout: float = 30, what: str = "the condition") -> None:
    """Poll `predicate()` while Playwright runs the page's events (route handlers among them:
    the sync API dispatches them only inside its own calls)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} not met after {timeout} s"
        page.wait_for_timeout(100)


async def start_server(username: str, options: dict) -> None:
    """Log in (plain HTTP, through Keycloak) and start a server through the REST API."""
    client = await hub_client.login(username)
    await client.aclose()
    token = await hub_client.user_token(username)
    response = await hub_client.api("POST", f"/users/{username}/server", json=options,
                                    token=token)
    assert response.status_code in (201, 202), response.text
    await hub_client.wait_server(username)


def server_model(name: str) -> dict:
    return run(hub_client.api("GET", f"/users/{name}")).json()


def wait_ready(name: str, timeout: float = 90) -> dict:
    return run(hub_client.wait_server(name, timeout=timeout))


# ---- the realm and the cluster, as an operator changes them -----------------------------

async def group_attributes(group: str, **changes: str | None) -> dict:
    """Set (or, with None, remove) attributes of a Keycloak group; returns the old ones."""
    async with hub_client.KeycloakAdmin() as realm:
        group_id = await realm.group_id(group)
        representation = (await realm.client.get(f"/groups/{group_id}")).json()
        before = dict(representation.get("attributes") or {})
        attributes = dict(before)
        for key, value in changes.items():
            if value is None:
                attributes.pop(key, None)
            else:
                attributes[key] = [value]
        representation["attributes"] = attributes
        response = await realm.client.put(f"/groups/{group_id}", json=representation)
        assert response.status_code == 204, response.text
        return before


async def restore_group_attributes(group: str, attributes: dict) -> None:
    async with hub_client.KeycloakAdmin() as realm:
        group_id = await realm.group_id(group)
        representation = (await realm.client.get(f"/groups/{group_id}")).json()
        representation["attributes"] = attributes
        response = await realm.client.put(f"/groups/{group_id}", json=representation)
        assert response.status_code == 204, response.text


async def map_roles(group: str, roles: list[str], mapped: bool) -> None:
    async with hub_client.KeycloakAdmin() as realm:
        for role in roles:
            await realm.map_role(group, role, mapped=mapped)


def delete_object(obj: dict) -> None:
    try:
        kube.request("DELETE", kube.object_path(obj))
    except kube.ApiError as e:
        if e.status != 404:
            raise


def menu_shows(username: str, *texts: str, timeout: float = 30, path: str = "/hub/spawn") -> None:
    """Wait until a fresh login of `username` finds every one of `texts` in the HTML of
    `path` (/hub/spawn, which shows the first group; `?group=` for another): the realm's
    group cache (2 s in the dev stack) and the custom-resource watch have caught up with a
    change."""
    async def poll():
        deadline = time.monotonic() + timeout
        while True:
            client = await hub_client.login(username)
            try:
                html = (await hub_client.get(client, path)).text
            finally:
                await client.aclose()
            missing = [text for text in texts if text not in html]
            if not missing:
                return
            assert time.monotonic() < deadline, f"{missing} never appeared in {username}'s menu"
            await asyncio.sleep(1)
    run(poll())
