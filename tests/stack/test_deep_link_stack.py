"""A deep link with a `path`, on the real stack: log in through Keycloak, open the link,
press Start, and end up on that page of the server, through configurable-http-proxy.

The dev stack's server is jupyterhub-singleuser (Jupyter Server without JupyterLab), so the
path is one of its own pages, a file under `files/`, rather than `lab/tree/...`; the hub's
part is the same for any path. The file is written through the server's contents API with
the stack's admin token once the server is up, as a user would have it in their home.
"""
from __future__ import annotations

from urllib.parse import parse_qs, urljoin, urlparse

import httpx
import pytest

from devstack import hub

from .hub_client import HUB, get, login, post_form, stop_server, wait_server
from .keycloak_login import loopback_request

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("stack")]

PAGE = "/user/alice/files/notebooks/intro.txt"


async def write_file(text: str) -> None:
    """notebooks/intro.txt in alice's server, through its contents API."""
    async with httpx.AsyncClient(base_url=f"{HUB}/user/alice/api/contents", timeout=30,
                                 headers={"Authorization": f"token {hub.api_token()}"}) as http:
        for path, body in (("/notebooks", {"type": "directory"}),
                           ("/notebooks/intro.txt", {"type": "file", "format": "text",
                                                     "content": text})):
            response = await http.put(path, json=body)
            assert response.status_code in (200, 201), response.text


async def follow(client, url: str) -> list:
    """GET `url` and the redirects after it; every response, in order."""
    chain = []
    for _ in range(10):
        response = await client.send(loopback_request(client, "GET", url))
        chain.append(response)
        if not response.is_redirect:
            break
        url = urljoin(str(response.url), response.headers["location"])
    return chain


async def test_a_deep_links_path_opens_in_the_server_once_it_is_up():
    alice = await login("alice")
    page = await get(alice, "/hub/spawn?group=research&instancetype=cpu-1&image=base-notebook"
                            "&autolaunch=1&path=files/notebooks/intro.txt")
    assert page.status_code == 200, page.text[:2000]
    assert f'name="next" value="{PAGE}"' in page.text
    assert "You are about to start a server in group Research Lab" in page.text
    response = await post_form(alice, page.text, [
        ("group", "research"), ("instance_type", "cpu-1"), ("image", "base-notebook"),
        ("next", PAGE)])
    assert response.status_code == 302, response.text[:2000]
    pending = urljoin(HUB, response.headers["location"])
    assert urlparse(pending).path == "/hub/spawn-pending/alice"
    assert parse_qs(urlparse(pending).query)["next"] == [PAGE]
    try:
        await wait_server("alice")
        await write_file("Welcome to the course.")
        # What the spawn-pending page's script does once the server is ready: load itself
        # again, and follow where the hub sends it.
        chain = await follow(alice, pending)
        assert chain[0].status_code == 302 and chain[0].headers["location"] == PAGE
        last = chain[-1]
        assert str(last.url) == f"{HUB}{PAGE}", [str(r.url) for r in chain]
        assert last.status_code == 200 and last.text == "Welcome to the course."
    finally:
        await stop_server("alice")
