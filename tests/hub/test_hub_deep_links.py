"""Deep links: GET /hub/spawn?group=&instancetype=&image=&autolaunch=1&path= (DESIGN §4).

A link preselects the Server Options form and never starts a server; JupyterHub renders
the form as for a plain visit (no error, no warning in its log), and the form's POST
starts as usual, sending the browser to the link's `path` once the server is up.
"""
import logging
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from bs4 import BeautifulSoup
from tornado import web

XSS = "<img src=x onerror=alert(1)>"


async def spawn_page(browser, read_page, query=""):
    r = await browser.get(f"/hub/spawn{query}")
    assert r.status_code == 200, r.text
    return read_page(r.text)


def hidden_next(page) -> str | None:
    field = page.form.select_one('input[type="hidden"][name="next"]')
    return field["value"] if field is not None else None


def form_action(page) -> str:
    """The URL JupyterHub's <form> posts to (the page's own URL with its _xsrf token)."""
    return BeautifulSoup(page.html, "html.parser").select_one("form#spawn_form")["action"]


def chosen_fields(page) -> dict:
    """What a browser sends for the form as rendered: the chosen group's checked radios and
    the hidden fields."""
    group = page.selected_group
    section = page.section(group)
    fields = {"group": group, "instance_type": section.checked("instance_type"),
              "image": section.checked("image")}
    if hidden_next(page):
        fields["next"] = hidden_next(page)
    return fields


def hub_records(caplog, hub, name="alice"):
    # The spawner logs through the hub's logger only when the hub is the traitlets
    # application singleton (JupyterHub 6's MockHub; not 5.5's), else through its own.
    loggers = {"MockHub", hub.users[name].spawner.log.name, "tornado.application",
               "tornado.general"}
    return [r for r in caplog.records
            if r.name in loggers and not r.pathname.endswith("proxy.py")]


# ---- preselection ------------------------------------------------------------------------

@pytest.mark.parametrize("query, group, instance_type, image", [
    ("?group=research&instancetype=gpu-small&image=tf-gpu", "research", "gpu-small", "tf-gpu"),
    ("?group=research&instance_type=cpu-2&image=pytorch", "research", "cpu-2", "pytorch"),
    ("?group=class-101&image=private-image", "class-101", "cpu-1", "private-image"),
    ("?group=research", "research", "cpu-1", "base-notebook"),
    ("?group=research&instancetype=cpu-2&instance_type=gpu-small", "research", "cpu-2",
     "base-notebook"),
])
async def test_deep_link_preselects_and_starts_nothing(login_as, read_page, edge, hub,
                                                       query, group, instance_type, image):
    page = await spawn_page(await login_as("alice"), read_page, query)
    assert page.selected_group == group
    assert page.section(group).checked("instance_type") == instance_type
    assert page.section(group).checked("image") == image
    assert page.notices == [] and page.error == "" and page.autolaunch == ""
    assert hidden_next(page) is None
    assert edge.api.created == []
    assert not hub.users["alice"].spawner.active


# The same sentences as a start refused for the same names (one model decides both).
@pytest.mark.parametrize("query, notice", [
    ("?group=nope", "You are not a member of group 'nope', so you cannot launch a server in it."),
    ("?group=research&instancetype=nope",
     ("The instance type 'nope' is not available in group Research Lab. "
      "Available: cpu-1, cpu-2, gpu-small.")),
    ("?group=research&image=private-image",
     ("The image 'private-image' is not available in group Research Lab. "
      "Available: base-notebook, pytorch, research-image, tf-gpu.")),
    ("?group=class-101&image=building-image",
     "Image Building Image is not ready yet (it is still being built)."),
    ("?group=research&instancetype=cpu-1&image=tf-gpu",
     "Image TensorFlow GPU needs a GPU instance type."),
])
async def test_deep_link_to_something_unavailable_gives_a_notice(login_as, read_page, edge,
                                                                  query, notice):
    page = await spawn_page(await login_as("alice"), read_page, query)
    assert page.notices == [notice]
    assert edge.api.created == []


async def test_a_deep_link_logs_no_error_and_no_warning(login_as, read_page, hub, caplog):
    browser = await login_as("alice")
    caplog.set_level(logging.DEBUG)
    page = await spawn_page(browser, read_page,
                            "?group=research&instancetype=cpu-2&autolaunch=1&foo=bar")
    assert page.selected_group == "research"
    logged = hub_records(caplog, hub)
    assert any("Serving options form for alice" in r.getMessage() for r in logged)
    assert [r.getMessage() for r in logged if r.levelno >= logging.WARNING] == []
    assert [r.getMessage() for r in logged if r.exc_info] == []
    # JupyterHub never got to start a server from the query (nor to warn about user options).
    assert not [r for r in logged if "query arguments" in r.getMessage()
                or "user-option" in r.getMessage().lower()
                or "User options" in r.getMessage()]


async def test_the_link_leaves_jupyterhubs_own_arguments_alone(login_as, read_page, edge):
    page = await spawn_page(await login_as("alice"), read_page,
                            "?group=research&next=%2Fhub%2Fhome")
    assert page.notices == [] and page.selected_group == "research"
    # JupyterHub's own form URL still carries the whole query, `next` included.
    assert parse_qs(urlparse(form_action(page)).query)["next"] == ["/hub/home"]
    assert edge.api.created == []


async def test_unknown_arguments_are_ignored_with_a_notice(login_as, read_page, edge, hub,
                                                           caplog):
    browser = await login_as("alice")
    caplog.set_level(logging.INFO)
    page = await spawn_page(browser, read_page, "?" + urlencode(
        [("group", "research"), ("opt-image", "pytorch"), ("cpu", "64"), (XSS, "1")]))
    assert page.notices == [(f"The link's arguments {XSS!r}, 'cpu', 'opt-image' are not known "
                             "here and were ignored.")]
    assert "<img src=x" not in page.html
    assert page.error == "" and page.selected_group == "research"
    assert page.section("research").checked("image") == "base-notebook"
    assert edge.api.created == [] and not hub.users["alice"].spawner.active
    assert [r.getMessage() for r in hub_records(caplog, hub) if r.levelno >= logging.WARNING] == []


# ---- autolaunch --------------------------------------------------------------------------

async def test_autolaunch_asks_for_one_confirmation(login_as, read_page, edge, hub):
    page = await spawn_page(await login_as("alice"), read_page,
                            "?group=research&instancetype=cpu-2&image=pytorch&autolaunch=1")
    assert page.autolaunch == (
        "You are about to start a server in group Research Lab with instance type CPU 2 and "
        "image PyTorch. Press Start to go on, or change the choice below.")
    assert edge.api.created == []
    assert not hub.users["alice"].spawner.active


async def test_autolaunch_of_something_unavailable_does_not_confirm(login_as, read_page):
    page = await spawn_page(await login_as("alice"), read_page,
                            "?group=research&instancetype=nope&autolaunch=1")
    assert page.autolaunch == ""
    assert page.notices[-1] == ("The link asked to start a server at once, but what it names "
                                "is not available; choose below.")


async def test_confirming_an_autolaunch_starts_the_linked_choice(login_as, read_page, edge, hub,
                                                                 wait_until):
    browser = await login_as("alice")
    page = await spawn_page(browser, read_page,
                            "?group=research&instancetype=cpu-2&image=pytorch&autolaunch=1")
    r = await browser.http.post(form_action(page), data=chosen_fields(page))
    assert r.status_code == 302, r.text
    assert urlparse(r.headers["location"]).path == "/hub/spawn-pending/alice"
    spawner = hub.users["alice"].spawner
    await wait_until(lambda: spawner.ready, what="alice's server to be ready")
    assert spawner.user_options == {"group": "research", "instance_type": "cpu-2",
                                    "image": "pytorch", "safe_mode": False}
    [pod] = edge.api.created_pods()
    assert pod["metadata"]["labels"]["primehub.io/group"] == "escaped-research"


# ---- path --------------------------------------------------------------------------------

async def test_the_links_path_is_opened_once_the_server_is_up(login_as, read_page, hub,
                                                              wait_until):
    browser = await login_as("alice")
    page = await spawn_page(browser, read_page,
                            "?group=research&path=lab/tree/notebooks/my%20intro.ipynb")
    assert page.notices == []
    target = "/user/alice/lab/tree/notebooks/my%20intro.ipynb"
    assert hidden_next(page) == target
    r = await browser.http.post(form_action(page), data=chosen_fields(page))
    assert r.status_code == 302, r.text
    pending = urlparse(r.headers["location"])
    assert pending.path == "/hub/spawn-pending/alice"
    assert parse_qs(pending.query)["next"] == [target]
    spawner = hub.users["alice"].spawner
    await wait_until(lambda: spawner.ready, what="alice's server to be ready")
    r = await browser.get(r.headers["location"])
    assert r.status_code == 302 and r.headers["location"] == target


@pytest.mark.parametrize("path, why", [
    ("/etc/passwd", "it must be relative to your server, like lab/tree/notebook.ipynb"),
    ("lab/../../hub/admin", "it steps out of your server with '..'"),
    ("javascript:alert(1)", "it names a scheme, not a page of your server"),
])
async def test_a_bad_path_is_dropped_with_a_notice(login_as, read_page, edge, path, why):
    page = await spawn_page(await login_as("alice"), read_page,
                            "?" + urlencode({"group": "research", "path": path}))
    assert page.notices == [(f"The link's path {path!r} is not used: {why}. Your server "
                             "opens at its start page.")]
    assert hidden_next(page) is None
    assert edge.api.created == []


async def test_a_refused_start_keeps_the_links_path(login_as, read_page, edge, hub):
    browser = await login_as("alice")
    page = await spawn_page(browser, read_page, "?group=research&path=lab/tree/a.ipynb")
    fields = {**chosen_fields(page), "image": "private-image"}  # not granted in research
    r = await browser.http.post(form_action(page), data=fields)
    assert r.status_code == 403, r.text
    again = read_page(r.text)
    assert "private-image" in again.error
    assert hidden_next(again) == "/user/alice/lab/tree/a.ipynb"
    assert again.notices == []
    assert edge.api.created == []


# ---- other ways in -----------------------------------------------------------------------

async def test_the_rest_api_is_not_a_deep_link(login_as, api, hub, edge, wait_until):
    await login_as("alice")
    r = await api("alice", "POST", "/users/alice/server?group=class-101&path=/x",
                  json={"group": "research", "instance_type": "cpu-2"})
    assert r.status_code in (201, 202), r.text
    spawner = hub.users["alice"].spawner
    await wait_until(lambda: spawner.ready, what="alice's server to be ready")
    assert spawner.user_options == {"group": "research", "instance_type": "cpu-2"}
    [pod] = edge.api.created_pods()
    assert pod["metadata"]["labels"]["primehub.io/group"] == "escaped-research"


async def test_query_options_that_reach_the_spawner_are_refused_plainly(hub, login_as):
    await login_as("alice")
    with pytest.raises(web.HTTPError) as info:
        hub.users["alice"].spawner.options_from_query({"group": ["research"]})
    assert info.value.status_code == 400
    assert info.value.jupyterhub_message == ("Query arguments only preselect the Server "
                                             "Options form; start the server from the form "
                                             "or the REST API.")
