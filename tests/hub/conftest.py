"""A real JupyterHub (jupyterhub.tests.mocking.MockHub) running PrimeHubSpawner, with test
doubles only at the I/O edge (see doubles.py): the Kubernetes API and its watches, the
custom-resource cache, the Keycloak Admin REST client, the proxy and the notebook server.

One hub per test module (starting one costs about a second). A module may define
`hub_config(c: Config, edge: Edge)` to change the hub's configuration. Every test starts
from a clean edge: no pods, the demo catalog and realm, no users but the ones it logs in.
The records the hub logs while it is made and started are the `hub_start_records` fixture.

Nothing here loads a kubeconfig or reaches the network.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

import httpx
import kubespawner.spawner as kubespawner_module
import pytest
import pytest_asyncio
from doubles import (
    NAMESPACE,
    FakeCatalogCache,
    FakeClaimReflector,
    FakeCoreV1Api,
    FakeEventReflector,
    FakeOIDC,
    FakePodReflector,
    MemoryProxy,
    NotebookDouble,
    demo_objects,
    demo_realm,
    query_of,
)
from jupyterhub import crypto, orm
from jupyterhub.auth import DummyAuthenticator
from jupyterhub.tests.mocking import MockHub
from jupyterhub.utils import random_port
from kubespawner import KubeSpawner
from traitlets.config import Config

import primehub_spawner.spawner as spawner_module
from primehub_spawner.entitlements import UserEntitlements
from primehub_spawner.spawner import AUTH_STATE_KEY, PrimeHubSpawner

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items):
    # The hub of a module runs on that module's event loop: so must its tests.
    for item in items:
        if HERE in item.path.parents and pytest_asyncio.is_async_test(item):
            item.add_marker(pytest.mark.asyncio(loop_scope="module"), append=False)


class Edge:
    """The doubles one hub talks to; tests reach them through the `edge` fixture."""

    def __init__(self):
        self.notebook = NotebookDouble()
        self.reset()

    def reset(self):
        self.api = FakeCoreV1Api()
        # The dataset and group claims that PrimeHub's controllers made for the demo data.
        for claim in demo_objects(("PersistentVolumeClaim",)):
            self.api.pvcs[f"{NAMESPACE}/{claim['metadata']['name']}"] = claim
        self.catalog_cache = FakeCatalogCache(demo_objects())
        self.keycloak = demo_realm()
        # Swapped in place, so that the watches the spawners hold see the new pods and claims.
        for kind in ("pods", "persistentvolumeclaims"):
            reflector = KubeSpawner.reflectors.get((kind, NAMESPACE))
            if isinstance(reflector, FakePodReflector | FakeClaimReflector):
                reflector.api = self.api

    def shared_client(self, kind, *args, **kwargs):
        if kind == "CoreV1Api":
            return self.api
        return object()  # CustomObjectsApi: only handed to the (fake) catalog cache


def base_config(edge: Edge) -> Config:
    c = Config()
    c.JupyterHub.bind_url = f"http://127.0.0.1:{random_port()}/"
    c.JupyterHub.proxy_class = MemoryProxy
    c.JupyterHub.spawner_class = PrimeHubSpawner
    c.JupyterHub.authenticator_class = DummyAuthenticator
    c.PrimeHubSpawner.namespace = NAMESPACE
    c.PrimeHubSpawner.port = edge.notebook.port
    c.PrimeHubSpawner.start_timeout = 10
    c.PrimeHubSpawner.http_timeout = 10
    c.PrimeHubSpawner.k8s_api_request_retry_timeout = 5
    return c


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def edge():
    edge = Edge()
    yield edge
    edge.notebook.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(request, edge, tmp_path_factory):
    config = base_config(edge)
    extra = getattr(request.module, "hub_config", None)
    if extra:
        extra(config, edge)
    key = os.urandom(32)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path_factory.mktemp("hub"))  # the hub writes its cookie secret here
        mp.setenv("JUPYTERHUB_CRYPT_KEY", key.hex())
        mp.setattr(crypto.CryptKeeper.instance(), "keys", [key])
        # KubeSpawner's Kubernetes client and config, and our CR cache, are the edge.
        mp.setattr(kubespawner_module, "load_config", lambda **kwargs: None)
        mp.setattr(kubespawner_module, "shared_client", edge.shared_client)
        mp.setattr(spawner_module, "shared_client", edge.shared_client)
        mp.setattr(spawner_module, "shared_catalog_cache",
                   lambda api, namespace, **kwargs: edge.catalog_cache)
        KubeSpawner.reflectors[("pods", NAMESPACE)] = FakePodReflector(edge.api)
        KubeSpawner.reflectors[("events", NAMESPACE)] = FakeEventReflector()
        KubeSpawner.reflectors[("persistentvolumeclaims", NAMESPACE)] = FakeClaimReflector(
            edge.api)
        MockHub.clear_instance()
        allow_all_set = "allow_all" in config.Authenticator
        # The hub's log from its first line: the settings are loaded, and warned about, as
        # the hub is made, before its logger propagates, by the handlers its logging_config
        # (traitlets') names.
        start_log = _Records()
        config.MockHub.logging_config = {
            "handlers": {"test_start": {"()": lambda: start_log}},
            "loggers": {MockHub.__name__: {"handlers": ["console", "test_start"]}}}
        app = MockHub.instance(config=config)
        if not allow_all_set:
            # MockHub forces allow_all on; keep the authenticator's own default instead.
            app.config.Authenticator.pop("allow_all", None)
        await app.initialize([])
        await app.start()
        start_log.recording = False
        app._test_start_records = start_log.records
        try:
            yield app
        finally:
            app.log.handlers = []
            MockHub.clear_instance()
            await stop_hub(app)
            KubeSpawner.reflectors.pop(("pods", NAMESPACE), None)
            KubeSpawner.reflectors.pop(("events", NAMESPACE), None)
            KubeSpawner.reflectors.pop(("persistentvolumeclaims", NAMESPACE), None)


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.recording = True

    def emit(self, record):
        if self.recording:
            self.records.append(record)


@pytest.fixture
def hub_start_records(hub) -> list[logging.LogRecord]:
    """What the module's hub logged while it was made and started."""
    return hub._test_start_records


async def stop_hub(app):
    """MockHub.stop without its last step, which cancels every task of the loop (the
    test runner's own included)."""
    await app.cleanup()
    app._atexit_ran = True
    if app.http_server:
        app.http_server.stop()
    if app.metrics_collector:
        app.metrics_collector.stop()
    for callback in app._periodic_callbacks.values():
        callback.stop()
    app.db_file.close()


@pytest_asyncio.fixture(loop_scope="module", autouse=True)
async def clean_edge(request, edge):
    """Each test starts with no pods, the demo catalog and realm; its users go after it."""
    edge.reset()
    yield
    if "hub" not in request.fixturenames:
        return
    app = request.getfixturevalue("hub")
    for orm_user in app.db.query(orm.User):
        user = app.users[orm_user]
        for name, spawner in list(user.spawners.items()):
            if spawner.active:
                await user.stop(name)
        app.users.delete(user.id)
    for group in app.db.query(orm.Group):
        app.db.delete(group)
    app.db.commit()


# ---- talking to the hub ------------------------------------------------------------------

def hub_root(app) -> str:
    """The hub's own server (there is no proxy in front of it here)."""
    return f"http://{app.hub.ip or '127.0.0.1'}:{app.hub.port}"


class Browser:
    """An httpx client with the cookies a browser keeps; `xsrf` for form posts."""

    def __init__(self, app):
        self.app = app
        self.http = httpx.AsyncClient(base_url=hub_root(app), follow_redirects=False,
                                      timeout=20)

    @property
    def xsrf(self) -> str:
        return self.http.cookies.get("_xsrf")

    async def get(self, path: str, **kwargs) -> httpx.Response:
        return await self.http.get(path, **kwargs)

    async def post_form(self, path: str, data) -> httpx.Response:
        """POST like a browser form: the _xsrf cookie and the same value as an argument."""
        if not self.xsrf:
            await self.http.get("/hub/home")
        return await self.http.post(path, params={"_xsrf": self.xsrf}, data=data)

    async def aclose(self):
        await self.http.aclose()


async def login(app, name: str, entitlements: UserEntitlements | None,
                browser: Browser) -> Browser:
    """Log `name` in (DummyAuthenticator) and store entitlements as the authenticator would."""
    r = await browser.get("/hub/login")
    assert r.status_code == 200, r.text
    r = await browser.post_form("/hub/login", {"username": name, "password": name})
    assert r.status_code == 302, r.text
    if entitlements is not None:
        await app.users[name].save_auth_state({AUTH_STATE_KEY: entitlements.to_json()})
    return browser


async def api_request(app, name: str, method: str, path: str, **kwargs) -> httpx.Response:
    """A REST API call with a token of user `name`."""
    token = app.users[name].new_api_token()
    async with httpx.AsyncClient(base_url=hub_root(app), timeout=20) as http:
        return await http.request(method, f"/hub/api{path}",
                                  headers={"Authorization": f"token {token}"}, **kwargs)


async def until(predicate, timeout: float = 10, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@pytest_asyncio.fixture(loop_scope="module")
async def new_browser(hub):
    """`new_browser()`: a Browser on the hub, closed after the test."""
    browsers = []

    def factory() -> Browser:
        browsers.append(Browser(hub))
        return browsers[-1]

    yield factory
    for browser in browsers:
        await browser.aclose()


@pytest_asyncio.fixture(loop_scope="module")
async def login_as(hub, edge, new_browser):
    """`await login_as("alice")`: a logged-in browser with alice's entitlements from the
    fake realm (fresh); `entitlements=` to store others (None: store none)."""
    missing = object()

    async def _login(name: str, entitlements=missing) -> Browser:
        if entitlements is missing:
            entitlements = await edge.keycloak.user_entitlements(name)
        return await login(hub, name, entitlements, new_browser())

    return _login


# ---- logging in through Keycloak (modules whose hub_config calls FakeOIDC.configure) -----

@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def oidc(hub):
    return FakeOIDC(hub.authenticator.client_id)


@pytest_asyncio.fixture(loop_scope="module")
async def keycloak_login(clean_edge, hub, edge, oidc, new_browser):
    """`await keycloak_login("alice")`: the browser's round trip hub -> Keycloak -> hub,
    with the authenticator wired to this test's realm (`edge.keycloak`) and `oidc`.
    Returns (browser, the callback's response), checking its status against `expect`."""
    auth = hub.authenticator
    if hasattr(auth.keycloak, "_http"):
        await auth.keycloak.aclose()  # the real Admin REST client, never used here
    auth.keycloak = edge.keycloak
    auth.http_client = oidc.client()
    oidc.id_token_claims = {}
    oidc.signing_key = oidc.key

    async def _login(username: str, expect: int = 302):
        browser = new_browser()
        r = await browser.get("/hub/oauth_login", params={"next": "/hub/home"})
        assert r.status_code == 302, r.text
        authorize = r.headers["location"]
        assert authorize.startswith(f"{oidc.issuer}/protocol/openid-connect/auth?")
        query = query_of(authorize)
        assert query["scope"] == "openid profile email"
        assert query["code_challenge_method"] == "S256"
        code = oidc.authorize(username)  # the user types their password at Keycloak
        r = await browser.get("/hub/oauth_callback",
                              params={"code": code, "state": query["state"]})
        assert r.status_code == expect, r.text
        return browser, r

    return _login


# ---- other helpers as fixtures (test modules do not import conftest) ---------------------

@pytest_asyncio.fixture(loop_scope="module")
async def api(hub):
    """`await api("alice", "POST", "/users/alice/server", json={...})`: the REST API."""
    async def _api(name, method, path, **kwargs):
        return await api_request(hub, name, method, path, **kwargs)
    return _api


@pytest.fixture
def wait_until():
    return until


# ---- reading the Server Options page -----------------------------------------------------

def _text(node) -> str:
    return " ".join(node.get_text(" ").split()) if node is not None else ""


class Section:
    """One group's part of the form."""

    def __init__(self, node):
        self.node = node
        self.problem = _text(node.select_one(".alert-warning"))
        self.instance_types = [self._card(i) for i in node.select('input[name="instance_type"]')]
        self.images = [self._card(i) for i in node.select('input[name="image"]')]
        self.datasets = [(_text(li.select_one(".ph-title")), _text(li.select_one(".ph-badge")))
                         for li in node.select(".ph-datasets li")]
        self.quota = [_text(p) for p in node.select("fieldset p.ph-meta")
                      if p.find_parent("fieldset").legend.get_text() == "Quota"]

    @staticmethod
    def _card(radio) -> dict:
        label = radio.find_parent("label")
        return {"name": radio["value"], "title": _text(label.select_one(".ph-title")),
                "meta": [_text(m) for m in label.select(".ph-meta")],
                "badges": [_text(b) for b in label.select(".ph-badge")],
                "checked": radio.has_attr("checked"), "disabled": radio.has_attr("disabled"),
                "why": _text(label.select_one(".ph-why"))}

    def checked(self, kind: str) -> str | None:
        rows = self.instance_types if kind == "instance_type" else self.images
        return next((r["name"] for r in rows if r["checked"]), None)

    def row(self, kind: str, name: str) -> dict:
        rows = self.instance_types if kind == "instance_type" else self.images
        return next(r for r in rows if r["name"] == name)


class SpawnPage:
    """The /hub/spawn page, read the way a user sees it (without JavaScript)."""

    def __init__(self, html: str):
        from bs4 import BeautifulSoup
        self.html = html
        soup = BeautifulSoup(html, "html.parser")
        self.error = _text(soup.select_one(".spawn-error-msg")).removeprefix("Error: ")
        self.form = soup.select_one("#primehub-options")
        assert self.form is not None, "no Server Options form on the page"
        self.problem = _text(self.form.select_one("#ph-problem"))
        self.notices = [_text(n) for n in self.form.select(".ph-notice")]
        self.autolaunch = _text(self.form.select_one("#ph-autolaunch"))
        self.groups = [(o["value"], _text(o), o.has_attr("selected"))
                       for o in self.form.select("#ph-group option")]
        self.env = [(n["value"], v["value"]) for n, v in zip(
            self.form.select('input[name="env_name"]'), self.form.select('input[name="env_value"]'))
            if n.get("value") or v.get("value")]
        safe = self.form.select_one('input[name="safe_mode"]')
        self.safe_mode = safe is not None and safe.has_attr("checked")

    @property
    def selected_group(self) -> str | None:
        return next((value for value, _, selected in self.groups if selected), None)

    def section(self, group: str) -> Section:
        node = self.form.select_one(f'section.ph-group[data-group="{group}"]')
        assert node is not None, f"no section for group {group}"
        return Section(node)


@pytest.fixture
def read_page():
    return SpawnPage
