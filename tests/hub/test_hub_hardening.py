"""Bad configuration and bad input through the real hub (issue 8 items 4, 7, 9, 10 and
issue 7 item 6): a sentence with a 4xx status, never a 500, nothing created for a refusal,
and no variable of the form in a URL."""
from urllib.parse import parse_qs, urlparse

import pytest

from primehub_spawner.entitlements import Group

SHARED = {"enabled-shared-volume": "true", "shared-volume-capacity": "1G"}


def put_group(edge, name, roles=(), *, members=("alice",), list_attributes=None, **attributes):
    """A group of the fake realm, with `members` added to it."""
    edge.keycloak.groups[name] = Group(id=f"gid-{name}", name=name, roles=tuple(roles),
                                       attributes=attributes, path=f"/{name}",
                                       list_attributes=list_attributes or {})
    for member in members:
        edge.keycloak.users[member]["groups"].append(name)


def env_of(pod: dict) -> list[tuple[str, str]]:
    [notebook] = [c for c in pod["spec"]["containers"] if c["name"] == "notebook"]
    return [(e["name"], e.get("value")) for e in notebook["env"]]


# ---- item 9: the no-JavaScript group switch -----------------------------------------------

async def test_the_group_switch_carries_only_the_group(login_as, read_page):
    browser = await login_as("alice")
    r = await browser.get("/hub/spawn")
    page = read_page(r.text)
    links = page.form.select(".ph-switch a")
    assert [a.get_text() for a in links] == ["Research Lab"]  # the groups not shown
    for link in links:
        url = urlparse(link["href"])
        assert url.path == "/hub/spawn"
        assert parse_qs(url.query) == {"group": ["research"]}
    # No control of the form submits it with GET, which would put every field in the URL.
    assert page.form.select("[formmethod]") == []

    switched = read_page((await browser.get(links[0]["href"])).text)
    assert switched.selected_group == "research"
    assert switched.notices == [] and switched.env == []


async def test_the_group_switch_keeps_a_deep_links_path(login_as, read_page):
    browser = await login_as("alice")
    page = read_page((await browser.get("/hub/spawn?path=lab/tree/a%20b.ipynb")).text)
    (link,) = page.form.select(".ph-switch a")
    assert parse_qs(urlparse(link["href"]).query) == {"group": ["research"],
                                                      "path": ["lab/tree/a b.ipynb"]}
    switched = read_page((await browser.get(link["href"])).text)
    assert switched.selected_group == "research" and switched.notices == []
    field = switched.form.select_one('input[type="hidden"][name="next"]')
    assert field["value"] == "/user/alice/lab/tree/a%20b.ipynb"


async def test_a_user_with_one_group_gets_no_switch(login_as, read_page):
    page = read_page((await (await login_as("bob")).get("/hub/spawn")).text)
    assert page.form.select(".ph-switch") == []


# ---- item 7: another group's bad attribute ------------------------------------------------

BAD = {**SHARED, "quota-memory": "9" * 400, "displayName": "Broken"}


async def test_another_group_s_bad_attribute_is_a_note_on_the_form(edge, login_as, read_page):
    put_group(edge, "broken", ["it:cpu-1", "img:base-notebook"], **BAD)
    browser = await login_as("alice")
    page = read_page((await browser.get("/hub/spawn?group=research")).text)
    research = page.section("research")
    notes = [n.get_text(" ", strip=True) for n in research.node.select(".ph-group-note")]
    assert len(notes) == 1 and notes[0].startswith("Group Broken has an invalid quota-memory")
    assert notes[0].endswith("Its shared volume is not mounted until then.")
    assert len(notes[0]) < 300
    page = read_page((await browser.get("/hub/spawn?group=broken")).text)
    assert page.section("broken").problem.startswith("Group Broken has an invalid quota-memory")


async def test_another_group_s_bad_attribute_does_not_stop_a_rest_start(
        hub, edge, login_as, api, wait_until):
    put_group(edge, "broken", **BAD)
    await login_as("alice")
    r = await api("alice", "POST", "/users/alice/server", json={"group": "research"})
    assert r.status_code in (201, 202), r.text
    await wait_until(lambda: hub.users["alice"].spawner.ready)
    [pod] = edge.api.created_pods()
    claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["spec"]["volumes"]
              if "persistentVolumeClaim" in v]
    assert "project-research" in claims and "project-broken" not in claims


async def test_launching_in_the_misconfigured_group_is_a_403_sentence(hub, edge, login_as, api):
    put_group(edge, "broken", ["it:cpu-1", "img:base-notebook"], **BAD)
    await login_as("alice")
    r = await api("alice", "POST", "/users/alice/server", json={"group": "broken"})
    assert r.status_code == 403
    assert r.json()["message"].startswith("Group Broken has an invalid quota-memory attribute '99")
    assert edge.api.created == []


# ---- item 4: two groups, one volume -------------------------------------------------------

async def test_groups_that_share_a_volume_name_are_refused(hub, edge, login_as, api, read_page):
    put_group(edge, "Research", ["it:cpu-1", "img:base-notebook"], **SHARED)
    browser = await login_as("alice")
    r = await api("alice", "POST", "/users/alice/server", json={"group": "research"})
    assert r.status_code == 403
    assert r.json()["message"] == (
        "Groups research and Research both have the shared volume project-research, so one "
        "would see the other's data; ask an administrator to rename one of them.")
    assert edge.api.created == []
    page = read_page((await browser.get("/hub/spawn?group=Research")).text)
    assert "both have the shared volume project-research" in page.section("Research").problem


# ---- issue 7 item 6: the group's MLflow variables -----------------------------------------

async def test_mlflow_list_attributes_are_exported_and_reserved(hub, edge, login_as, api,
                                                                     wait_until):
    research = edge.keycloak.groups["research"]
    edge.keycloak.groups["research"] = Group(
        id=research.id, name=research.name, roles=research.roles,
        attributes=research.attributes, path="/research", list_attributes={
            "mlflow-tracking-envs": ("MLFLOW_TRACKING_USERNAME=ml", "BAD NAME=x"),
            "mlflow-artifact-envs": ("AWS_ACCESS_KEY_ID=key", "LD_PRELOAD=/evil.so")})
    await login_as("alice")
    r = await api("alice", "POST", "/users/alice/server",
                  json={"group": "research", "env": {"AWS_ACCESS_KEY_ID": "mine"}})
    assert (r.status_code, r.json()["message"]) == (
        400, "Environment variable AWS_ACCESS_KEY_ID is set by the hub and cannot be changed.")
    r = await api("alice", "POST", "/users/alice/server",
                  json={"group": "research", "env": {"MINE": "1"}})
    assert r.status_code in (201, 202), r.text
    await wait_until(lambda: hub.users["alice"].spawner.ready)
    [pod] = edge.api.created_pods()
    env = dict(env_of(pod))
    assert env["MLFLOW_TRACKING_USERNAME"] == "ml" and env["AWS_ACCESS_KEY_ID"] == "key"
    assert env["MINE"] == "1" and env["PRIMEHUB_USER"] == "alice"
    assert "LD_PRELOAD" not in env and "BAD NAME" not in env


# ---- items 6 and 10: bad input ------------------------------------------------------------

HUGE = "K" * 160_000


@pytest.mark.parametrize("options, sentence", [
    pytest.param({"env": {"X\n": "1"}}, "Environment variable name 'X\\n' is not valid",
                 id="env-name-newline"),
    pytest.param({HUGE: 1}, "Unknown server option 'KKKK", id="key-160-kb"),
    pytest.param({"env": {HUGE: "1"}}, "is longer than 256 characters", id="env-name-160-kb"),
    pytest.param({"group": HUGE}, "'group' is longer than 253 characters", id="group-160-kb"),
])
async def test_bad_input_is_a_short_400_sentence(hub, edge, login_as, api, caplog, options,
                                                 sentence):
    await login_as("alice")
    r = await api("alice", "POST", "/users/alice/server", json=options)
    assert r.status_code == 400
    assert sentence in r.json()["message"] and len(r.json()["message"]) < 400
    assert edge.api.created == []
    assert all(HUGE not in record.getMessage() for record in caplog.records)
