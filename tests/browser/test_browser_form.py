"""The Server Options page in Chromium: what a person sees, hears and can choose (DESIGN §4).

Roles and accessible names are how the tests find things (get_by_role, get_by_label), so a
passing test also says that a screen reader announces the same names.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from devstack import kube

from .browsing import (
    HUB,
    XSS,
    delete_object,
    group_attributes,
    hub_url,
    log_in,
    map_roles,
    menu_shows,
    restore_group_attributes,
    run,
    server_url,
    start_server,
    until,
)

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("stack")]


def group_select(page: Page):
    return page.get_by_role("combobox", name="Launch the server in group")


def sent_fields(page: Page) -> list[list[str]]:
    """What pressing Start would send, without the empty variable rows."""
    return page.evaluate("""() => [...new FormData(document.getElementById("spawn_form"))]
        .filter(([name, value]) => !name.startsWith("env_") || value)""")


def test_changing_the_group_swaps_the_lists_without_a_reload(open_page):
    page = open_page()
    log_in(page, "alice")
    page.evaluate("window.sameDocument = true")
    # The first group by display name is preselected: Class 101.
    expect(group_select(page)).to_have_value("class-101")
    expect(page.get_by_role("radio", name="Legacy GPU")).to_be_visible()
    expect(page.get_by_role("radio", name="GPU small")).to_have_count(0)
    expect(page.get_by_role("radio", name="Private Image")).to_be_visible()

    group_select(page).select_option(label="Research Lab")
    research = page.get_by_role("region", name="Options of group Research Lab")
    expect(research).to_be_visible()
    # Swapped in from the page fetched for the group: one group's lists at a time.
    expect(page.get_by_role("region", name="Options of group Class 101")).to_have_count(0)
    expect(page.locator("section.ph-group")).to_have_count(1)
    for instance_type in ("CPU 1", "CPU 2", "GPU small"):
        expect(research.get_by_role("radio", name=instance_type, exact=True)).to_be_visible()
    for image in ("Base Notebook", "PyTorch", "Research Image", "TensorFlow GPU"):
        expect(research.get_by_role("radio", name=image, exact=True)).to_be_visible()
    expect(page.get_by_role("radio", name="Legacy GPU")).to_have_count(0)
    # Datasets with their marks; quota and current use.
    datasets = research.get_by_role("group", name="Datasets").get_by_role("listitem")
    expect(datasets).to_have_count(5)
    expect(datasets.filter(has_text="Team Data")).to_contain_text("read-write")
    expect(datasets.filter(has_text="Shared NFS")).to_contain_text("read-only")
    quota = research.get_by_role("group", name="Quota")
    expect(quota).to_contain_text(
        re.compile(r"You use [\d.]+ of 4 CPU, \d+ of 1 GPU, \S+ of 8Gi memory\."))
    expect(quota).to_contain_text(re.compile(r"The group uses [\d.]+ of 16 CPU, \d+ of 2 GPU"))
    # Each group keeps its own choice; only the shown group's is sent.
    research.get_by_role("radio", name="CPU 2").check()
    research.get_by_role("radio", name="PyTorch").check()
    group_select(page).select_option(label="Class 101")
    page.get_by_role("radio", name="Legacy GPU").check()
    assert sent_fields(page) == [["group", "class-101"], ["instance_type", "legacy-gpu"],
                                 ["image", "base-notebook"]]
    group_select(page).select_option(label="Research Lab")
    expect(research.get_by_role("radio", name="CPU 2")).to_be_checked()
    expect(research.get_by_role("radio", name="PyTorch")).to_be_checked()
    assert sent_fields(page) == [["group", "research"], ["instance_type", "cpu-2"],
                                 ["image", "pytorch"]]
    assert page.evaluate("window.sameDocument") is True
    expect(page).to_have_url(hub_url("/hub/spawn"))


def test_a_group_is_loading_then_shown_or_said_not_to_load(open_page):
    """While the group's page is fetched the select says so; when the fetch fails the
    group shown before stays, with a sentence, and the next try works."""
    page = open_page()
    log_in(page, "alice")
    held = []
    research_page = re.compile(re.escape(HUB) + r"/hub/spawn\?group=research$")
    page.route(research_page, lambda route: held.append(route))
    group_select(page).select_option(label="Research Lab")
    status = page.locator("#ph-group-status")
    expect(status).to_have_text("Loading the options of group Research Lab\u2026")
    until(page, lambda: held, 20, "the fetch of Research Lab's options")
    held.pop().fulfill(status=503, body="down")
    expect(status).to_have_text("The options of group Research Lab could not be loaded "
                                "(HTTP 503); try again.")
    expect(group_select(page)).to_have_value("class-101")
    expect(page.get_by_role("radio", name="Legacy GPU")).to_be_enabled()
    assert sent_fields(page) == [["group", "class-101"], ["instance_type", "cpu-1"],
                                 ["image", "base-notebook"]]
    page.unroute(research_page)
    group_select(page).select_option(label="Research Lab")
    expect(page.get_by_role("radio", name="GPU small")).to_be_visible()
    expect(status).to_have_text("")


def test_a_gpu_only_image_is_disabled_on_a_cpu_instance_type_with_the_reason(open_page):
    page = open_page()
    log_in(page, "alice")
    group_select(page).select_option(label="Research Lab")
    tf_gpu = page.get_by_role("radio", name="TensorFlow GPU")
    # CPU 1 is preselected: no GPU.
    expect(page.get_by_role("radio", name="CPU 1", exact=True)).to_be_checked()
    expect(tf_gpu).to_be_disabled()
    sentence = "Image TensorFlow GPU needs a GPU instance type."
    expect(tf_gpu).to_have_accessible_description(re.compile(re.escape(sentence) + "$"))
    reason = page.get_by_text(sentence, exact=True)
    expect(reason).to_be_visible()
    page.get_by_role("radio", name="GPU small").check()
    expect(tf_gpu).to_be_enabled()
    expect(reason).to_be_hidden()
    tf_gpu.check()
    # Back to a CPU type: the GPU image is unchecked and a fitting one chosen ...
    page.get_by_role("radio", name="CPU 2").check()
    expect(tf_gpu).to_be_disabled()
    expect(tf_gpu).not_to_be_checked()
    expect(page.get_by_role("radio", name="Base Notebook")).to_be_checked()
    # ... and the person's pick comes back with a GPU type.
    page.get_by_role("radio", name="GPU small").check()
    expect(tf_gpu).to_be_checked()


def test_an_image_still_being_built_is_shown_disabled(open_page):
    page = open_page()
    log_in(page, "bob")
    building = page.get_by_role("radio", name="Building Image")
    expect(building).to_be_visible()
    expect(building).to_be_disabled()
    expect(building).not_to_be_checked()
    sentence = "Image Building Image is not ready yet (it is still being built)."
    expect(building).to_have_accessible_description(re.compile(re.escape(sentence) + "$"))
    expect(page.get_by_text(sentence)).to_be_visible()
    # Clicking its card changes nothing.
    page.get_by_text("Building Image", exact=True).click(force=True)
    expect(page.get_by_role("radio", name="Base Notebook")).to_be_checked()


def test_an_instance_type_over_the_groups_quota_is_disabled_with_the_reason(open_page, servers):
    """phadmin's GPU small server takes Research Lab's one GPU (its project quota set to 1
    for this test): alice sees GPU small disabled, with the sentence and the use."""
    before = run(group_attributes("research", **{"project-quota-gpu": "1"}))
    try:
        servers.add("phadmin")
        run(start_server("phadmin", {"group": "research", "instance_type": "gpu-small",
                                     "image": "tf-gpu"}))
        # The group cache and the pod watch have caught up.
        menu_shows("alice", "1 of 1 GPU", path="/hub/spawn?group=research")
        page = open_page()
        log_in(page, "alice")
        group_select(page).select_option(label="Research Lab")
        gpu_small = page.get_by_role("radio", name="GPU small")
        sentence = ("This needs 1 GPU, but group Research Lab already uses 1 of its 1 GPU "
                    "quota.")
        expect(gpu_small).to_be_disabled()
        expect(gpu_small).to_have_accessible_description(re.compile(re.escape(sentence)))
        expect(page.get_by_text(sentence)).to_be_visible()
        expect(page.get_by_role("radio", name="CPU 2")).to_be_enabled()
        quota = page.get_by_role("region", name="Options of group Research Lab").get_by_role(
            "group", name="Quota")
        expect(quota).to_contain_text("The group uses 4 of 16 CPU, 1 of 1 GPU, 8Gi of 32Gi memory.")
    finally:
        run(restore_group_attributes("research", before))


def test_names_a_screen_reader_reads_and_variable_rows(open_page):
    page = open_page()
    log_in(page, "alice")
    expect(group_select(page)).to_have_accessible_description(
        "Each group grants its own machine sizes, images and data.")
    for group in ("Instance type", "Image", "Datasets", "Quota"):
        expect(page.get_by_role("group", name=group, exact=True)).to_be_visible()
    cpu1 = page.get_by_role("radio", name="CPU 1", exact=True)
    expect(cpu1).to_have_accessible_description("CPU 1 · Memory 1Gi 1 CPU, 1 GB memory")
    expect(page.get_by_role("radio", name="Private Image")).to_have_accessible_description(
        "CPU System image An image from a private registry")
    # Clicking anywhere on a card chooses it.
    page.get_by_text("1 NVIDIA GPU (legacy key), 2 CPU, 4 GB memory").click()
    expect(page.get_by_role("radio", name="Legacy GPU")).to_be_checked()

    # Advanced settings: safe mode, variables with add and remove.
    page.get_by_text("Advanced settings").click()
    expect(page.get_by_role("checkbox", name="Safe mode")).to_have_accessible_description(
        re.compile("^Mount your home volume at /home/jovyan/user"))
    expect(page.get_by_role("textbox", name=re.compile("^Variable name"))).to_have_count(3)
    page.get_by_role("button", name="Add a variable").click()
    expect(page.get_by_role("textbox", name="Variable name 4")).to_be_focused()
    page.get_by_label("Variable name 4").fill("FOURTH")
    page.get_by_label("Variable value 4").fill("4")
    page.get_by_label("Variable name 1").fill("FIRST")
    page.get_by_role("button", name="Remove variable 2").click()
    expect(page.get_by_role("textbox", name=re.compile("^Variable name"))).to_have_count(3)
    expect(page.get_by_label("Variable name 3")).to_have_value("FOURTH")  # renumbered
    expect(page.get_by_role("button", name="Add a variable")).to_be_focused()
    assert [f for f in sent_fields(page) if f[0].startswith("env_")] == [
        ["env_name", "FIRST"], ["env_name", "FOURTH"], ["env_value", "4"]]


def test_urls_in_the_page_are_built_from_the_hubs_base_url(open_page):
    page = open_page(js=False)
    log_in(page, "alice")
    html = page.content()
    base_url = re.search(r'base_url: "([^"]+)"', html).group(1)
    assert base_url == "/hub/"  # the dev hub serves at /
    switch = page.get_by_role("link", name="Research Lab")
    assert switch.get_attribute("href") == f"{base_url}spawn?group=research"
    assert page.locator("#spawn_form").get_attribute("action").startswith(f"{base_url}spawn?")
    # Nothing else in the form points anywhere.
    assert page.locator("#primehub-options [href]:not(.ph-switch-group), "
                        "#primehub-options [src], #primehub-options [action], "
                        "#primehub-options [formaction]").count() == 0


def test_names_from_the_cluster_are_shown_as_text(open_page, servers):
    """An Image, an InstanceType and a group named like markup: shown literally, in the form
    and on the home page, and no script of theirs runs."""
    image = {"apiVersion": "primehub.io/v1alpha1", "kind": "Image",
             "metadata": {"name": "xss-image", "namespace": "hub"},
             "spec": {"displayName": XSS, "description": "<script>alert(2)</script> {{ 7*7 }}",
                      "type": "cpu", "url": "registry.example.com/xss:1"}}
    size = {"apiVersion": "primehub.io/v1alpha1", "kind": "InstanceType",
            "metadata": {"name": "xss-size", "namespace": "hub"},
            "spec": {"displayName": f"Size {XSS}", "description": "<b onmouseover=alert(3)>x</b>",
                     "limits.cpu": 1, "limits.memory": "1G"}}
    roles = ["img:xss-image", "it:xss-size"]
    before = None
    try:
        kube.apply(image)
        kube.apply(size)
        run(map_roles("class-101", roles, mapped=True))
        before = run(group_attributes("class-101", displayName=f"Class {XSS}"))
        # Granted and renamed: wait until the group cache and the watch have caught up.
        menu_shows("bob", 'value="xss-image"', 'value="xss-size"', "Class &lt;img src=x")
        page = open_page()
        dialogs = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        servers.add("bob")
        log_in(page, "bob")

        expect(group_select(page).get_by_role("option")).to_have_text([f"Class {XSS}"])
        it_radio = page.get_by_role("radio", name=f"Size {XSS}", exact=True)
        image_radio = page.get_by_role("radio", name=XSS, exact=True)
        expect(it_radio).to_be_visible()
        expect(image_radio).to_be_visible()
        expect(page.get_by_text("<script>alert(2)</script> {{ 7*7 }}")).to_be_visible()
        expect(page.get_by_text("<b onmouseover=alert(3)>x</b>")).to_be_visible()
        options = page.locator("#primehub-options")
        expect(options.locator("img, b, script:not(:last-child)")).to_have_count(0)
        it_radio.check()
        image_radio.check()
        page.get_by_text("<b onmouseover=alert(3)>x</b>").hover()
        page.get_by_role("button", name="Start", exact=True).click()
        page.wait_for_url(server_url("bob"), timeout=90_000)

        page.goto(f"{HUB}/hub/home")
        running = page.get_by_role("region", name="Your running server")
        expect(running).to_contain_text(f"Class {XSS}")
        expect(running).to_contain_text(f"Size {XSS}")
        expect(running.locator("img")).to_have_count(0)
        assert dialogs == []
    finally:
        if before is not None:
            run(restore_group_attributes("class-101", before))
        run(map_roles("class-101", roles, mapped=False))
        delete_object(image)
        delete_object(size)
