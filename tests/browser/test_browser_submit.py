"""Pressing Start in Chromium: with the keyboard only, without JavaScript, from a deep link,
with autolaunch, and when the hub refuses (the page comes back with the sentence and the
person's choices).
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.stack import hub_client

from .browsing import HUB, hub_url, log_in, run, server_model, server_url, snap, wait_ready

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("stack")]


def group_select(page: Page):
    return page.get_by_role("combobox", name="Launch the server in group")


def started_with(username: str) -> tuple:
    options = server_model(username)["servers"][""]["user_options"]
    return options.get("group"), options.get("instance_type"), options.get("image")


def no_server(username: str) -> None:
    assert server_model(username)["servers"] == {}
    assert run(hub_client.pod(hub_client.POD.format(username))) is None


def focused(page: Page) -> str:
    """The focused element, as a person would name it: its role and accessible name."""
    return page.evaluate("""() => {
        const e = document.activeElement;
        const name = e.getAttribute("aria-labelledby")
            ? document.getElementById(e.getAttribute("aria-labelledby")).textContent
            : (e.labels && e.labels[0] ? e.labels[0].textContent
               : e.getAttribute("aria-label") || e.textContent);
        return `${e.tagName.toLowerCase()}${e.type ? ":" + e.type : ""} ${name.trim()}`;
    }""")


def tab_to(page: Page, wanted: str, limit: int = 30) -> None:
    for _ in range(limit):
        if focused(page) == wanted:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {wanted!r}; last: {focused(page)!r}")


def test_keyboard_only_from_group_to_start(open_page, servers):
    page = open_page()
    servers.add("alice")
    log_in(page, "alice")
    page.locator("body").focus()
    tab_to(page, "select:select-one Launch the server in group")
    page.keyboard.press("ArrowDown")  # Class 101 -> Research Lab, the lists follow
    expect(group_select(page)).to_have_value("research")
    expect(page.get_by_role("radio", name="GPU small")).to_be_visible()

    page.keyboard.press("Tab")  # into the instance types, at the checked one
    assert focused(page) == "input:radio CPU 1"
    page.keyboard.press("ArrowRight")  # arrows move and choose within a radio group
    assert focused(page) == "input:radio CPU 2"
    expect(page.get_by_role("radio", name="CPU 2")).to_be_checked()
    page.keyboard.press("ArrowRight")
    assert focused(page) == "input:radio GPU small"
    page.keyboard.press("Tab")  # the images: TensorFlow GPU is allowed on GPU small
    assert focused(page) == "input:radio Base Notebook"
    for _ in range(3):
        page.keyboard.press("ArrowDown")
    assert focused(page) == "input:radio TensorFlow GPU"
    page.keyboard.press("Space")
    expect(page.get_by_role("radio", name="TensorFlow GPU")).to_be_checked()
    # The focused card is outlined: a person sees where the keyboard is.
    outline = page.get_by_role("radio", name="TensorFlow GPU").evaluate(
        "e => getComputedStyle(e.closest('label')).outlineStyle")
    assert outline == "solid"

    page.keyboard.press("Tab")
    assert focused(page).startswith("summary Advanced settings")
    page.keyboard.press("Enter")  # opens the advanced settings
    page.keyboard.press("Tab")
    assert focused(page) == "input:checkbox Safe mode"
    page.keyboard.press("Space")
    tab_to(page, "input:text Variable name 1", limit=3)
    page.keyboard.type("FROM_KEYBOARD")
    page.keyboard.press("Tab")
    page.keyboard.type("yes")
    tab_to(page, "button:submit Start")
    snap(page, "test_keyboard_only_from_group_to_start-before-start")
    page.keyboard.press("Enter")

    page.wait_for_url(server_url("alice"), timeout=90_000)
    assert started_with("alice") == ("research", "gpu-small", "tf-gpu")
    options = server_model("alice")["servers"][""]["user_options"]
    assert options["safe_mode"] is True and options["env"] == {"FROM_KEYBOARD": "yes"}


def test_a_refused_start_shows_the_sentence_and_keeps_the_choices(open_page, servers):
    page = open_page()
    servers.add("alice")
    log_in(page, "alice")
    group_select(page).select_option(label="Research Lab")
    page.get_by_role("radio", name="CPU 2").check()
    page.get_by_role("radio", name="PyTorch").check()
    page.get_by_text("Advanced settings").click()
    page.get_by_role("checkbox", name="Safe mode").check()
    page.get_by_label("Variable name 1").fill("JUPYTERHUB_X")
    page.get_by_label("Variable value 1").fill("1")
    page.get_by_label("Variable name 2").fill("MY_SETTING")
    page.get_by_label("Variable value 2").fill("42")
    page.get_by_role("button", name="Start", exact=True).click()

    error = page.locator(".spawn-error-msg")
    expect(error).to_have_text("Error: Environment variable JUPYTERHUB_X is set by the hub "
                               "and cannot be changed.")
    expect(page).to_have_url(hub_url("/hub/spawn"))
    expect(group_select(page)).to_have_value("research")
    expect(page.get_by_role("radio", name="CPU 2")).to_be_checked()
    expect(page.get_by_role("radio", name="PyTorch")).to_be_checked()
    expect(page.get_by_role("checkbox", name="Safe mode")).to_be_checked()  # and open
    expect(page.get_by_label("Variable name 1")).to_have_value("JUPYTERHUB_X")
    expect(page.get_by_label("Variable value 2")).to_have_value("42")
    snap(page, "test_a_refused_start_shows_the_sentence_and_keeps_the_choices-refused")
    no_server("alice")

    # Remove the refused variable and start.
    page.get_by_role("button", name="Remove variable 1").click()
    page.get_by_role("button", name="Start", exact=True).click()
    page.wait_for_url(server_url("alice"), timeout=90_000)
    assert started_with("alice") == ("research", "cpu-2", "pytorch")
    assert server_model("alice")["servers"][""]["user_options"]["env"] == {"MY_SETTING": "42"}


def test_without_javascript_the_form_still_works(open_page, servers):
    page = open_page(js=False)
    servers.add("alice")
    log_in(page, "alice")
    expect(group_select(page)).to_have_value("class-101")
    expect(page.get_by_role("radio", name="GPU small")).to_have_count(0)
    page.get_by_text("Advanced settings").click()  # <details> opens without JavaScript
    page.get_by_label("Variable value 1").fill("a secret")
    # Switch groups: a link that carries only the group (issue 8 item 9: variables, maybe
    # secrets, never travel in a URL), then the page shows Research Lab.
    page.get_by_role("link", name="Research Lab").click()
    expect(page).to_have_url(f"{HUB}/hub/spawn?group=research")
    expect(group_select(page)).to_have_value("research")
    expect(page.locator(".ph-notice")).to_have_count(0)
    expect(page.get_by_label("Variable value 1")).to_have_value("")
    page.get_by_text("Advanced settings").click()
    page.get_by_label("Variable name 1").fill("KEPT")
    page.get_by_label("Variable value 1").fill("across the refusal")
    no_server("alice")

    # Without JavaScript a GPU-only image can be sent with a CPU instance type: the hub
    # refuses with its sentence, and the page keeps the choice.
    tf_gpu = page.get_by_role("radio", name="TensorFlow GPU")
    expect(tf_gpu).to_be_enabled()
    expect(page.get_by_text("Image TensorFlow GPU needs a GPU instance type.",
                            exact=True)).to_be_visible()
    page.get_by_role("radio", name="CPU 2").check()
    tf_gpu.check()
    page.get_by_role("button", name="Start", exact=True).click()
    expect(page.locator(".spawn-error-msg")).to_have_text(
        "Error: Image TensorFlow GPU needs a GPU instance type.")
    expect(page.locator(".ph-notice")).to_have_count(0)  # the error line says it all
    expect(group_select(page)).to_have_value("research")
    expect(page.get_by_role("radio", name="CPU 2")).to_be_checked()
    expect(tf_gpu).to_be_checked()
    expect(page.get_by_label("Variable name 1")).to_have_value("KEPT")
    snap(page, "test_without_javascript_the_form_still_works-refused")
    no_server("alice")

    page.get_by_role("radio", name="GPU small").check()  # and TensorFlow GPU is still chosen
    page.get_by_role("button", name="Start", exact=True).click()
    page.wait_for_url(re.compile(re.escape(HUB) + r"/(hub/spawn-pending/alice|user/alice/)"))
    wait_ready("alice")
    if "/hub/spawn-pending/" in page.url:
        page.reload()  # without JavaScript the pending page does not move on: a person reloads
    page.wait_for_url(server_url("alice"))
    assert started_with("alice") == ("research", "gpu-small", "tf-gpu")
    options = server_model("alice")["servers"][""]["user_options"]
    assert options["env"] == {"KEPT": "across the refusal"}


def test_a_deep_link_preselects_after_the_login_and_says_what_is_not_available(open_page):
    page = open_page()
    link = "/hub/spawn?group=research&instancetype=gpu-small&image=tf-gpu"
    page.goto(HUB + link)  # not logged in yet: the hub asks to, then comes back
    expect(page).to_have_url(hub_url("/hub/login"))
    log_in(page, "alice")
    expect(page).to_have_url(HUB + link)
    expect(group_select(page)).to_have_value("research")
    expect(page.get_by_role("radio", name="GPU small")).to_be_checked()
    expect(page.get_by_role("radio", name="TensorFlow GPU")).to_be_checked()
    expect(page.locator(".ph-notice, .spawn-error-msg")).to_have_count(0)
    no_server("alice")  # a link never starts anything by itself

    page.goto(f"{HUB}/hub/spawn?group=research&instancetype=legacy-gpu&image=private-image")
    notices = page.get_by_role("status")
    expect(notices).to_have_text([  # what a start of the same choice would be refused with
        ("The instance type 'legacy-gpu' is not available in group Research Lab. "
        "Available: cpu-1, cpu-2, gpu-small."),
        ("The image 'private-image' is not available in group Research Lab. "
        "Available: base-notebook, pytorch, research-image, tf-gpu."),
    ])
    expect(group_select(page)).to_have_value("research")
    expect(page.get_by_role("radio", name="CPU 1", exact=True)).to_be_checked()
    page.goto(f"{HUB}/hub/spawn?group=empty-group")
    expect(page.get_by_role("status")).to_have_text(
        "You are not a member of group 'empty-group', so you cannot launch a server in it.")
    page.goto(f"{HUB}/hub/spawn?group=class-101&image=building-image")
    expect(page.get_by_role("status")).to_have_text(
        "Image Building Image is not ready yet (it is still being built).")
    no_server("alice")


def test_autolaunch_asks_once_then_starts_and_home_shows_the_choice(open_page, servers):
    page = open_page()
    servers.add("bob")
    log_in(page, "bob")
    page.goto(f"{HUB}/hub/spawn?group=class-101&instancetype=legacy-gpu&image=private-image"
              "&autolaunch=1")
    question = page.get_by_role("alert").filter(has_text="You are about to start")
    expect(question).to_have_text(
        "You are about to start a server in group Class 101 with instance type Legacy GPU and "
        "image Private Image. Press Start to go on, or change the choice below.")
    confirm = page.get_by_role("button", name="Start", exact=True).first
    expect(confirm).to_be_focused()  # Enter confirms
    expect(page.get_by_role("radio", name="Legacy GPU")).to_be_checked()
    expect(page.get_by_role("radio", name="Private Image")).to_be_checked()
    no_server("bob")  # asked, not started
    snap(page, "test_autolaunch_asks_once_then_starts_and_home_shows_the_choice-question")
    page.keyboard.press("Enter")

    page.wait_for_url(server_url("bob"), timeout=90_000)
    assert started_with("bob") == ("class-101", "legacy-gpu", "private-image")
    page.goto(f"{HUB}/hub/home")
    running = page.get_by_role("region", name="Your running server")
    expect(running.get_by_role("definition")).to_have_text(
        ["Class 101", "Legacy GPU", "Private Image"])
    expect(running.get_by_role("term")).to_have_text(["Group", "Instance type", "Image"])
