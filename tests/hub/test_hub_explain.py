"""The admin page /hub/primehub/explain (handlers.py) in a real JupyterHub: an admin sees
what a user can launch in each group and why, from the user's stored entitlements, the
catalog cache and the pod watch; everyone else is refused; hostile names are escaped.

PrimeHubAuthenticator serves the page: the hub here has no setting for it, and users log in
through (fake) Keycloak."""
from __future__ import annotations

from pathlib import Path

import pytest
import pytest_asyncio
import yaml
from bs4 import BeautifulSoup
from doubles import FakeCatalogCache, FakeOIDC, demo_objects, image_cr, running_pod
from jupyterhub.app import JupyterHub
from traitlets.config import Config

from primehub_spawner.authenticator import PrimeHubAuthenticator
from primehub_spawner.check import Rejected
from primehub_spawner.entitlements import Group, UserEntitlements
from primehub_spawner.handlers import PATH, ExplainHandler
from primehub_spawner.names import AUTH_STATE_KEY

PAGE = "/hub/primehub/explain"
REPO = Path(__file__).resolve().parents[2]


def hub_config(c, edge):
    FakeOIDC.configure(c)  # PrimeHubAuthenticator; phadmin is an admin in the realm


@pytest_asyncio.fixture(loop_scope="module")
async def login_as(hub, edge, keycloak_login):
    """`await login_as("alice")`: logged in through Keycloak (a user the realm lacks is
    added, in no group); `entitlements=` replaces the ones stored (None: none stored)."""
    missing = object()

    async def _login(name: str, entitlements=missing):
        if name not in edge.keycloak.users:
            edge.keycloak.add_user(name, [])
        browser, _ = await keycloak_login(name)
        if entitlements is not missing:
            user = hub.users[name]
            state = await user.get_auth_state()
            state.pop(AUTH_STATE_KEY)
            if entitlements is not None:
                state[AUTH_STATE_KEY] = entitlements.to_json()
            await user.save_auth_state(state)
        return browser

    return _login


class ExplainPage:
    def __init__(self, html: str):
        soup = BeautifulSoup(html, "html.parser")
        self.html = html
        self.problem = _text(soup.select_one("#ph-explain-problem"))
        self.notes = [_text(n) for n in soup.select(".ph-explain-note")]
        self.groups = {}
        for section in soup.select("section.ph-explain-group"):
            self.groups[section["data-group"]] = {
                (row["data-kind"], row["data-name"]): [_text(td) for td in row.select("td")]
                for row in section.select("tr.ph-explain-item")}
        self.quota = {s["data-group"]: [_text(p) for p in s.select(".ph-explain-quota")]
                      for s in soup.select("section.ph-explain-group")}


def _text(node) -> str:
    return " ".join(node.get_text(" ").split()) if node is not None else ""


async def explain_page(browser, **params):
    r = await browser.get(PAGE, params=params)
    return r, ExplainPage(r.text) if r.status_code != 403 else None


async def test_an_admin_sees_each_group_with_provenance_and_reasons(login_as, edge):
    admin = await login_as("phadmin")
    await login_as("alice")
    edge.api.pods["hub/jupyter-alice"] = running_pod(
        "jupyter-alice", "alice", "research", {"cpu": "3", "memory": "1Gi"})

    r, page = await explain_page(admin, user="alice")

    assert r.status_code == 200, r.text
    assert page.problem == ""
    assert set(page.groups) == {"research", "class-101"}
    research = page.groups["research"]
    assert research["InstanceType", "cpu-1"] == [
        "cpu-1 CPU 1", "available", "everyone (it:cpu-1)", "Granted by everyone through it:cpu-1."]
    # Over alice's share of the research quota (4 CPU), with the figures.
    assert research["InstanceType", "cpu-2"] == [
        "cpu-2 CPU 2", "blocked", "research (it:cpu-2)",
        ("This needs 2 CPU, but your share of group Research Lab already uses 3 of its 4 CPU "
        "quota.")]
    assert research["InstanceType", "legacy-gpu"][1:3] == [
        "not granted", "class-101 (it:legacy-gpu, another group)"]
    assert research["Dataset", "class-only"][1] == "blocked"
    assert "launchGroupOnly" in research["Dataset", "class-only"][3]
    assert page.groups["class-101"]["Image", "building-image"][1:] == [
        "blocked", "class-101 (img:building-image)",
        "Image Building Image is not ready yet (it is still being built)."]
    assert page.quota["research"] == [
        "Quota: alice in group Research Lab uses 3 of 4 CPU, 0 of 1 GPU, 1Gi of 8Gi memory.",
        "Quota: group Research Lab uses 3 of 16 CPU, 0 of 2 GPU, 1Gi of 32Gi memory."]


async def test_one_group_and_malformed_resources(login_as, edge):
    edge.catalog_cache = FakeCatalogCache(
        demo_objects(), rejected=[Rejected("Image", "broken", "type 'x' is not one of cpu, "
                                                              "gpu, both")])
    admin = await login_as("phadmin")
    await login_as("alice")

    _, page = await explain_page(admin, user="alice", group="class-101")

    assert list(page.groups) == ["class-101"]
    assert page.groups["class-101"]["Image", "broken"] == [
        "broken", "malformed", "-",
        "Image broken is malformed, so no menu offers it: type 'x' is not one of cpu, gpu, both"]
    _r, page = await explain_page(admin, user="alice", group="nope")
    assert (page.groups, page.problem) == ({}, "alice is not a member of group 'nope'.")


async def test_a_user_without_stored_entitlements_is_said_so(login_as):
    admin = await login_as("phadmin")
    await login_as("carol", entitlements=None)
    r, page = await explain_page(admin, user="carol")
    assert r.status_code == 200
    assert page.problem == ("The hub holds no entitlements for carol: they are stored when the "
                            "user logs in through Keycloak.")


async def test_hostile_names_from_a_custom_resource_and_keycloak_are_escaped(login_as, edge):
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    edge.catalog_cache = FakeCatalogCache([*demo_objects(), image_cr("evil", displayName=hostile)])
    everyone = Group(id="e", name="everyone", roles=("it:cpu-1", "img:evil"))
    lab = Group(id="g", name="lab", roles=(), attributes={"displayName": hostile}, path="/lab")
    admin = await login_as("phadmin")
    await login_as("mallory", entitlements=UserEntitlements(
        username="mallory", user_id="u", groups=(lab,), everyone=everyone, fetched_at=1.0))

    r, page = await explain_page(admin, user="mallory")

    assert r.status_code == 200
    assert "<script>alert" not in r.text and "<img src=x" not in r.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in r.text
    assert page.groups["lab"]["Image", "evil"][:2] == [f"evil {hostile}", "available"]


@pytest.mark.parametrize("who, params, status, sentence", [
    pytest.param("alice", {"user": "alice"}, 403, "Action is not authorized", id="not-an-admin"),
    pytest.param("phadmin", {"user": "nobody"}, 404, "The hub has no user 'nobody'.",
                 id="unknown-user"),
    pytest.param("phadmin", {}, 400, "Name the user to explain.", id="no-user"),
])
async def test_refusals(login_as, who, params, status, sentence):
    browser = await login_as(who)
    r, page = await explain_page(browser, **params)
    assert r.status_code == status
    if page is None:
        assert sentence in r.text
    else:
        assert (page.problem, page.groups) == (sentence, {})


async def test_logged_out_visitors_are_sent_to_log_in(new_browser):
    r = await new_browser().get(PAGE, params={"user": "alice"})
    assert r.status_code == 302
    assert "/hub/login" in r.headers["location"]


def test_the_authenticator_serves_the_page_under_the_hub_prefix(hub, hub_start_records):
    assert hub.authenticator.explain_page is True
    assert hub.config.JupyterHub.get("extra_handlers") is None
    served = [h for h in hub.handlers if h[1] is ExplainHandler]
    assert [pattern for pattern, *_ in served] == [f"{hub.hub_prefix.rstrip('/')}{PATH}"]
    # OAuthenticator's own handlers are still there.
    patterns = {h[0] for h in hub.handlers}
    assert {f"{hub.hub_prefix}oauth_login", f"{hub.hub_prefix}oauth_callback",
            f"{hub.hub_prefix}logout"} <= patterns
    logged = [r.getMessage() for r in hub_start_records]
    assert any("PrimeHubAuthenticator" in m for m in logged), "the start log is captured"
    assert [m for m in logged if "extra_handlers" in m] == []


def _load(path: str, monkeypatch) -> Config:
    """The configuration `jupyterhub -f path` reads (the devstack's API token file may not
    exist yet: it is made by `make up`)."""
    monkeypatch.setenv("KEYCLOAK_CLIENT_SECRET", "example-secret")
    read_text = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: "token"
                        if self.name == "api_token" else read_text(self, *a, **k))
    app = JupyterHub()
    app.load_config_file(Path(path).name, path=str(REPO / Path(path).parent))
    return app.config


def _chart() -> Config:
    values = yaml.safe_load((REPO / "deploy/z2jh/values.yaml").read_text())
    return Config(values["hub"]["config"])


@pytest.mark.parametrize("source", ["jupyterhub_config.py", "devstack/jupyterhub_config.py",
                                    "deploy/z2jh/values.yaml"])
def test_the_example_configurations_get_the_page_without_extra_handlers(source, monkeypatch):
    monkeypatch.setenv("OAUTH_CLIENT_SECRET", "chart-secret")  # the chart's, from a Secret
    config = _chart() if source.endswith(".yaml") else _load(source, monkeypatch)
    assert "extra_handlers" not in config.JupyterHub
    assert config.PrimeHubAuthenticator.get("explain_page", True) is True
    app = JupyterHub(config=config)
    assert app.authenticator_class is PrimeHubAuthenticator
    authenticator = PrimeHubAuthenticator(parent=app)
    assert (PATH, ExplainHandler) in authenticator.get_handlers(app)
