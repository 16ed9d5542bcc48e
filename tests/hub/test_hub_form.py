"""GET /hub/spawn: the Server Options form as a user of the demo realm sees it (DESIGN §4).

The hub is real; the catalog, the realm and the pod watch are the doubles of doubles.py.
Reading is done without JavaScript: what the HTML says is selected, disabled and shown.
The page carries the chosen group's lists only; `?group=` shows another group's.
"""

import pytest
from doubles import FakeCatalogCache, demo_objects, image_cr, instance_type_cr, running_pod

from primehub_spawner.options import NO_GROUP

XSS = "<img src=x onerror=alert(1)>"


async def spawn_page(browser, read_page, query=""):
    r = await browser.get(f"/hub/spawn{query}")
    assert r.status_code == 200, r.text
    return read_page(r.text)


async def test_groups_are_the_users_launch_groups_by_display_name(login_as, read_page):
    page = await spawn_page(await login_as("alice"), read_page)
    assert page.groups == [("class-101", "Class 101", True), ("research", "Research Lab", False)]
    assert "everyone" not in page.html.split('id="ph-group"', 1)[1].split("</select>")[0]
    assert page.problem == ""


@pytest.mark.parametrize("query, shown, absent", [
    pytest.param("", "class-101", ["gpu-small", "tf-gpu", "pytorch"], id="default-group"),
    pytest.param("?group=research", "research", ["legacy-gpu", "private-image", "class-only"],
                 id="asked-group"),
])
async def test_the_page_carries_one_group_s_lists(login_as, read_page, query, shown, absent):
    page = await spawn_page(await login_as("alice"), read_page, query)
    assert [s["data-group"] for s in page.form.select("section.ph-group")] == [shown]
    assert page.selected_group == shown
    for name in absent:  # granted by the other group only: not on this page at all
        assert f'value="{name}"' not in page.html


async def test_instance_types_show_name_cpu_memory_gpu(login_as, read_page):
    research = (await spawn_page(await login_as("alice"), read_page,
                                 "?group=research")).section("research")
    assert [(r["name"], r["title"], r["meta"]) for r in research.instance_types] == [
        ("cpu-1", "CPU 1", ["CPU 1 · Memory 1Gi", "1 CPU, 1 GB memory"]),
        ("cpu-2", "CPU 2", ["CPU 2 · Memory 4Gi",
                            "up to 2 CPU and 4 GB memory, 0.5 CPU and 1 GB guaranteed"]),
        ("gpu-small", "GPU small", ["CPU 4 · Memory 8Gi · GPU 1", "1 NVIDIA GPU, 4 CPU, 8 GB memory"]),
    ]
    assert research.checked("instance_type") == "cpu-1"
    assert not any(r["disabled"] for r in research.instance_types)


async def test_images_carry_type_badges_and_a_not_ready_image_is_disabled(login_as, read_page):
    browser = await login_as("alice")
    research = (await spawn_page(browser, read_page, "?group=research")).section("research")
    assert [(r["name"], r["title"], r["badges"]) for r in research.images] == [
        ("base-notebook", "Base Notebook", ["CPU", "System image"]),
        ("pytorch", "PyTorch", ["Universal", "System image"]),
        ("research-image", "Research Image", ["CPU", "Group image"]),
        ("tf-gpu", "TensorFlow GPU", ["GPU", "System image"]),
    ]
    assert research.checked("image") == "base-notebook"
    page = await spawn_page(browser, read_page)
    building = page.section("class-101").row("image", "building-image")
    assert building["disabled"] and not building["checked"]
    assert building["why"] == "Image Building Image is not ready yet (it is still being built)."


async def test_what_an_image_runs_on_is_in_the_page(login_as, read_page):
    """The script holds no rule: the page says which instance types an image does not run
    on, why, and which image each instance type takes instead."""
    page = await spawn_page(await login_as("alice"), read_page, "?group=research")
    form = page.form
    tf_gpu = form.select_one('input[name="image"][value="tf-gpu"]')
    assert tf_gpu["data-unfit"] == "cpu-1 cpu-2" and not tf_gpu.has_attr("disabled")
    assert page.section("research").row("image", "tf-gpu")["why"] == (
        "Image TensorFlow GPU needs a GPU instance type.")
    assert form.select_one('input[name="image"][value="pytorch"]')["data-unfit"] == ""
    defaults = {r["value"]: r["data-default-image"]
                for r in form.select('input[name="instance_type"]')}
    assert defaults == {"cpu-1": "base-notebook", "cpu-2": "base-notebook",
                        "gpu-small": "base-notebook"}


@pytest.mark.parametrize("group, datasets", [
    pytest.param("research", [
        ("Git Repo", "read-only"), ("Host Data", "read-only"), ("Public Env", "read-only"),
        ("Shared NFS", "read-only"), ("Team Data", "read-write")], id="research"),
    pytest.param("class-101", [
        ("Class Only", "read-only"), ("Git Repo", "read-only"), ("Host Data", "read-only"),
        ("Public Env", "read-only"), ("Shared NFS", "read-only"), ("Team Data", "read-only")],
        id="class-101-rw-only-through-launch-group"),
])
async def test_datasets_are_marked_read_only_or_read_write(login_as, read_page, group, datasets):
    page = await spawn_page(await login_as("alice"), read_page, f"?group={group}")
    assert page.section(group).datasets == datasets


async def test_quota_lines(login_as, read_page):
    browser = await login_as("alice")
    page = await spawn_page(browser, read_page, "?group=research")
    assert page.section("research").quota == [
        "You use 0 of 4 CPU, 0 of 1 GPU, 0 of 8Gi memory.",
        "The group uses 0 of 16 CPU, 0 of 2 GPU, 0 of 32Gi memory.",
    ]
    page = await spawn_page(browser, read_page)
    assert page.section("class-101").quota == ["You use 0 of 2 CPU, 0 of 4Gi memory."]


async def test_instance_type_over_quota_is_disabled_with_the_reason(login_as, read_page, edge):
    # alice already runs another server using 3 of her 4 CPU in research; bob uses 12 of 16.
    pods = [running_pod("jupyter-alice-other", "alice", "research", {"cpu": "3", "memory": "2Gi"}),
            running_pod("jupyter-bob", "bob", "research", {"cpu": "12", "memory": "4Gi"})]
    for pod in pods:
        edge.api.pods[f"hub/{pod['metadata']['name']}"] = pod
    research = (await spawn_page(await login_as("alice"), read_page,
                                 "?group=research")).section("research")
    assert research.quota == [
        "You use 3 of 4 CPU, 0 of 1 GPU, 2Gi of 8Gi memory.",
        "The group uses 15 of 16 CPU, 0 of 2 GPU, 6Gi of 32Gi memory.",
    ]
    rows = {r["name"]: r for r in research.instance_types}
    assert not rows["cpu-1"]["disabled"] and rows["cpu-1"]["checked"]
    assert rows["cpu-2"]["disabled"] and not rows["cpu-2"]["checked"]
    assert rows["cpu-2"]["why"] == ("This needs 2 CPU, but your share of group Research Lab "
                                    "already uses 3 of its 4 CPU quota.")
    assert rows["gpu-small"]["disabled"]
    assert rows["gpu-small"]["why"].startswith("This needs 4 CPU, but your share of group")


async def test_names_from_the_cluster_and_keycloak_are_escaped(login_as, read_page, edge):
    edge.catalog_cache = FakeCatalogCache(demo_objects() + [
        image_cr("xss", displayName=XSS, description="<script>alert(2)</script> {{ 7*7 }}"),
        instance_type_cr("xss-it", displayName=f"big {XSS}"),
    ])
    edge.keycloak.add_group("evil", ["img:xss", "it:xss-it"], displayName=f"Evil {XSS}")
    edge.keycloak.add_user("mallory", ["evil"])
    page = await spawn_page(await login_as("mallory"), read_page)
    assert "<img src=x" not in page.html
    assert "<script>alert(2)" not in page.html
    assert page.html.count("&lt;img src=x onerror=alert(1)&gt;") >= 3
    assert page.groups == [("evil", f"Evil {XSS}", True)]
    evil = page.section("evil")
    assert evil.row("image", "xss")["title"] == XSS
    assert "{{ 7*7 }}" in evil.row("image", "xss")["meta"][0]


async def test_user_without_launch_group_is_told_plainly(login_as, read_page):
    page = await spawn_page(await login_as("carol"), read_page)
    assert page.problem == NO_GROUP
    assert page.groups == []
    assert page.form.select("input[type=radio]") == []


async def test_user_without_entitlements_is_told_to_log_in_again(login_as, read_page):
    page = await spawn_page(await login_as("alice", entitlements=None), read_page)
    assert page.problem == ("Your permissions are not known to the hub; log out and log in "
                            "again through Keycloak.")


async def test_catalog_not_loaded_is_a_503_sentence(login_as, edge):
    from doubles import UnloadedCatalogCache
    browser = await login_as("alice")
    edge.catalog_cache = UnloadedCatalogCache()
    r = await browser.get("/hub/spawn")
    assert r.status_code == 503
    assert "has not been read from Kubernetes yet" in r.text


async def test_the_form_template_can_be_replaced(login_as, read_page, hub):
    """`options_form_template`: the operator's Jinja string, with the same variables (and
    the built-in form at hand through include)."""
    browser = await login_as("alice")
    spawner = hub.users["alice"].spawner
    spawner.options_form_template = (
        '<p id="mine">{{ view.menu.group.display_name }}: '
        '{{ view.menu.instance_types | length }} sizes</p>{% include "form.html" %}')
    try:
        page = await spawn_page(browser, read_page, "?group=research")
    finally:
        spawner.options_form_template = ""
    assert page.form.find_previous("p", id="mine").get_text() == "Research Lab: 3 sizes"
    assert page.section("research").checked("instance_type") == "cpu-1"


def test_a_template_that_does_not_compile_stops_the_hub():
    import kubespawner.spawner

    from primehub_spawner.spawner import PrimeHubSpawner
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(kubespawner.spawner, "load_config", lambda **kwargs: None)
        mp.setattr(kubespawner.spawner, "shared_client", lambda *args, **kwargs: None)
        with pytest.raises(ValueError, match="options_form_template is not a Jinja template"):
            PrimeHubSpawner(_mock=True, options_form_template="{% if %}")


async def test_the_style_and_script_are_inlined(login_as, read_page):
    page = await spawn_page(await login_as("alice"), read_page)
    assert ".primehub-options .ph-card" in page.form.style.get_text()
    script = page.form.find_all("script")[-1].get_text()
    assert "DOMParser" in script and "data-unfit" not in page.form.style.get_text()
