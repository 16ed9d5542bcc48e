"""The Server Options model (primehub_spawner.menu.build_menu): every blocked reason, the one
default rule, what was asked and not chosen, and the group switch."""
from __future__ import annotations

import pytest
from builders import (
    demo_catalog,
    demo_user,
    image_cr,
    instance_type_cr,
    lab,
    make_catalog,
    make_group,
    make_user,
)

from primehub_spawner.menu import (
    AMBIGUOUS,
    MISCONFIGURED,
    NEEDS_GPU,
    NO_GROUP,
    NOT_GRANTED,
    NOT_READY,
    NOTHING,
    OVER_QUOTA,
    STATUS,
    Blocked,
    build_menu,
)
from primehub_spawner.quota import Usage

GPU = {"limits.gpu": 1, "gpuResourceName": "nvidia.com/gpu"}


NOTHING_USED = Usage()


def used(user=NOTHING_USED, group=NOTHING_USED):
    return lambda _group: (user, group)


def alice():
    return demo_user("alice"), demo_catalog()


def two_teams():
    user = make_user([make_group("team", ["it:small", "img:base"], id="1", path="/a/team"),
                      make_group("team", ["it:small", "img:base"], id="2", path="/b/team")])
    return user, make_catalog(instance_type_cr("small"), image_cr("base"))


def choice(menu):
    return (menu.key, menu.instance_type and menu.instance_type.name,
            menu.image and menu.image.name)


# ---- every blocked reason: code, status, sentence -----------------------------------------

@pytest.mark.parametrize("world, asked, usage, where, code, reason", [
    pytest.param(alice, {"group": "nope"}, None, "note", NOT_GRANTED,
                 "You are not a member of group 'nope', so you cannot launch a server in it.",
                 id="group-not-mine"),
    pytest.param(alice, {"group": "everyone"}, None, "note", NOT_GRANTED,
                 "Group 'everyone' holds what every group grants; it cannot be a launch "
                 "group. Choose one of your groups.", id="group-everyone"),
    pytest.param(two_teams, {"group": "team"}, None, "note", AMBIGUOUS,
                 "You are in several groups named 'team' (/a/team, /b/team); name the group "
                 "by its path.", id="group-name-shared"),
    pytest.param(alice, {"group": "class-101", "instance_type": "gpu-small"}, None, "note",
                 NOT_GRANTED, "The instance type 'gpu-small' is not available in group Class "
                 "101. Available: cpu-1, legacy-gpu.", id="instance-type-not-granted"),
    pytest.param(alice, {"group": "research", "image": "private-image"}, None, "note",
                 NOT_GRANTED, "The image 'private-image' is not available in group Research "
                 "Lab. Available: base-notebook, pytorch, research-image, tf-gpu.",
                 id="image-not-granted"),
    pytest.param(alice, {"group": "class-101", "image": "building-image"}, None, "note",
                 NOT_READY, "Image Building Image is not ready yet (it is still being built).",
                 id="image-not-ready"),
    pytest.param(alice, {"group": "research", "instance_type": "cpu-2", "image": "tf-gpu"},
                 None, "note", NEEDS_GPU, "Image TensorFlow GPU needs a GPU instance type.",
                 id="image-needs-gpu"),
    pytest.param(alice, {"group": "research", "instance_type": "cpu-2"},
                 used(user=Usage(cpu=3)), "note", OVER_QUOTA,
                 "This needs 2 CPU, but your share of group Research Lab already uses 3 of "
                 "its 4 CPU quota.", id="instance-type-over-quota"),
    pytest.param(lambda: lab(attributes={"quota-cpu": "lots"}), {}, None, "problem",
                 MISCONFIGURED, "Group lab has an invalid quota-cpu attribute 'lots'; ask an "
                 "administrator to fix it.", id="group-misconfigured"),
    pytest.param(lambda: (demo_user("carol"), demo_catalog()), {}, None, "problem", NOTHING,
                 NO_GROUP, id="no-launch-group"),
    pytest.param(lambda: (make_user([make_group("g", ["img:base"])]),
                          make_catalog(image_cr("base"))), {}, None, "problem", NOTHING,
                 "Group g offers no instance type; ask an administrator.",
                 id="no-instance-type"),
    pytest.param(lambda: (make_user([make_group("g", ["it:small"])]),
                          make_catalog(instance_type_cr("small"))), {}, None, "problem",
                 NOTHING, "Group g offers no image; ask an administrator.", id="no-image"),
    pytest.param(lambda: lab(image_cr("g", type="gpu")), {}, None, "problem", NOTHING,
                 "Group lab offers no image that runs on instance type small.",
                 id="no-image-runs"),
    pytest.param(lambda: lab(attributes={"quota-cpu": "0.5"}), {}, used(), "problem",
                 OVER_QUOTA, "This needs 1 CPU, but your share of group lab already uses 0 "
                 "of its 0.5 CPU quota.", id="every-instance-type-over-quota"),
])
def test_blocked_reasons(world, asked, usage, where, code, reason):
    user, catalog = world()
    menu = build_menu(user, catalog, asked, usage=usage)
    blocked = menu.notes[0] if where == "note" else menu.problem
    assert blocked == Blocked(code, reason)
    assert menu.refusal == blocked and blocked.status == STATUS[code]


def test_each_code_has_its_status():
    assert STATUS == {NOT_GRANTED: 403, AMBIGUOUS: 400, NOT_READY: 400, NEEDS_GPU: 400,
                      OVER_QUOTA: 403, MISCONFIGURED: 403, NOTHING: 403}


def test_rows_say_what_is_blocked_and_on_what():
    menu = build_menu(*alice(), {"group": "research"},
                      usage=used(user=Usage(cpu=3)))
    rows = {r.instance_type.name: r for r in menu.instance_types}
    assert rows["cpu-1"].blocked is None
    assert rows["cpu-2"].blocked.code == OVER_QUOTA
    assert rows["gpu-small"].blocked.code == OVER_QUOTA
    images = {r.image.name: r for r in menu.images}
    tf_gpu = images["tf-gpu"]
    assert tf_gpu.blocked is None  # the group has a GPU instance type
    assert tf_gpu.unfit == ("cpu-1", "cpu-2")
    assert tf_gpu.unfit_reason == Blocked(NEEDS_GPU, "Image TensorFlow GPU needs a GPU "
                                                     "instance type.")
    cpu_1, gpu = (rows[n].instance_type for n in ("cpu-1", "gpu-small"))
    assert tf_gpu.blocked_on(cpu_1) == tf_gpu.unfit_reason and tf_gpu.blocked_on(gpu) is None
    assert images["pytorch"].unfit == () and images["pytorch"].blocked_on(cpu_1) is None
    # Each instance type names the image chosen with it.
    assert {n: r.default_image for n, r in rows.items()} == {
        "cpu-1": "base-notebook", "cpu-2": "base-notebook", "gpu-small": "base-notebook"}


def test_a_gpu_only_image_in_a_group_without_gpu_is_blocked_everywhere():
    menu = build_menu(*lab(image_cr("g", type="gpu"), image_cr("b")))
    row = next(r for r in menu.images if r.image.name == "g")
    assert row.blocked == row.unfit_reason and row.blocked.code == NEEDS_GPU


def test_a_not_ready_image_is_blocked_everywhere():
    menu = build_menu(*alice(), {"group": "class-101"})
    row = next(r for r in menu.images if r.image.name == "building-image")
    assert row.blocked.code == NOT_READY
    assert all(row.blocked_on(r.instance_type) == row.blocked for r in menu.instance_types)


# ---- the default rule ---------------------------------------------------------------------

BIG_MEMORY = instance_type_cr("a", {"limits.cpu": 1, "limits.memory": "8G"})
SMALL_MEMORY = instance_type_cr("b", {"limits.cpu": 2, "limits.memory": "1G"})


@pytest.mark.parametrize("world, asked, usage, expected", [
    pytest.param(alice, {}, None, ("class-101", "cpu-1", "base-notebook"),
                 id="first-group-smallest-type-first-image"),
    pytest.param(alice, {"group": "research", "instance_type": "gpu-small"}, None,
                 ("research", "gpu-small", "base-notebook"), id="first-image-by-display-name"),
    pytest.param(alice, {"group": "research", "image": "pytorch"}, None,
                 ("research", "cpu-1", "pytorch"), id="named-image-wins"),
    pytest.param(alice, {"group": "research", "instance_type": "gpu-small", "image": "tf-gpu"},
                 None, ("research", "gpu-small", "tf-gpu"), id="named-both-win"),
    pytest.param(lambda: lab(BIG_MEMORY, SMALL_MEMORY, attributes={"quota-memory": "4G"}),
                 {}, used(), ("lab", "b", "base"), id="first-type-over-quota-skipped"),
    pytest.param(lambda: lab(BIG_MEMORY, SMALL_MEMORY, attributes={"quota-memory": "4G"}),
                 {}, None, ("lab", "a", "base"), id="no-usage-no-quota"),
    pytest.param(lambda: lab(BIG_MEMORY, SMALL_MEMORY, attributes={"quota-memory": "4G"}),
                 {"instance_type": "a"}, used(), ("lab", "b", "base"),
                 id="named-type-over-quota-not-chosen"),
    pytest.param(lambda: lab(image_cr("x", displayName="A", url=""),
                             image_cr("y", displayName="B", type="gpu"),
                             image_cr("z", displayName="C")), {}, None, ("lab", "small", "z"),
                 id="first-image-ready-and-fitting"),
    pytest.param(lambda: lab(instance_type_cr("g", GPU), image_cr("y", displayName="B", type="gpu"),
                             image_cr("z", displayName="C")), {"instance_type": "g"}, None,
                 ("lab", "g", "y"), id="gpu-image-first-on-gpu-type"),
    pytest.param(alice, {"group": "research", "image": "tf-gpu"}, None,
                 ("research", "cpu-1", "base-notebook"), id="named-image-unfit-not-chosen"),
    pytest.param(alice, {"group": "nope", "instance_type": "cpu-2"}, None,
                 ("class-101", "cpu-1", "base-notebook"), id="unknown-group-falls-back"),
])
def test_the_default_rule(world, asked, usage, expected):
    user, catalog = world()
    assert choice(build_menu(user, catalog, asked, usage=usage)) == expected


@pytest.mark.parametrize("asked", [
    pytest.param(None, id="none"),
    pytest.param(["research"], id="a-list"),
    pytest.param({"group": 5, "instance_type": ["cpu-2"], "image": "", "env": {"A": "1"}},
                 id="wrong-types-are-not-names"),
])
def test_asked_is_read_only_for_names(asked):
    menu = build_menu(*alice(), asked)
    assert choice(menu) == ("class-101", "cpu-1", "base-notebook") and menu.notes == ()


# ---- what was asked and not chosen ----------------------------------------------------------

def test_notes_come_in_order_group_instance_type_image():
    menu = build_menu(*alice(), {"group": "nope", "instance_type": "huge", "image": "ghost"})
    assert [n.reason.split(",")[0].split(" is ")[0] for n in menu.notes] == [
        "You are not a member of group 'nope'", "The instance type 'huge'", "The image 'ghost'"]
    assert menu.refusal == menu.notes[0]


def test_nothing_asked_nothing_noted():
    menu = build_menu(*alice(), {"group": "research", "instance_type": "cpu-2",
                                 "image": "pytorch"})
    assert menu.notes == () and menu.problem is None and menu.refusal is None


def test_a_misconfigured_group_notes_nothing_about_its_lists():
    user, catalog = lab(attributes={"quota-cpu": "lots"})
    menu = build_menu(user, catalog, {"instance_type": "nope"})
    assert menu.notes == () and menu.resolved is None and menu.instance_types == ()
    assert menu.refusal.code == MISCONFIGURED


# ---- the group switch and what is read ----------------------------------------------------

def test_the_switch_lists_every_launch_group_by_display_name():
    menu = build_menu(*alice(), {"group": "research"})
    assert [(g.key, g.display_name) for g in menu.groups] == [
        ("class-101", "Class 101"), ("research", "Research Lab")]
    assert menu.key == "research" and menu.group.display_name == "Research Lab"


def test_groups_that_share_a_name_are_keyed_by_path():
    user, catalog = two_teams()
    menu = build_menu(user, catalog, {"group": "/b/team"})
    assert [g.key for g in menu.groups] == ["/a/team", "/b/team"]
    assert menu.key == "/b/team" and menu.group.id == "2" and menu.notes == ()


def test_only_the_chosen_group_s_usage_is_read():
    asked = []

    def usage(group):
        asked.append(group.name)
        return Usage(), Usage()

    build_menu(*alice(), {"group": "research"}, usage=usage)
    assert asked == ["research"]


def test_quota_lines_and_group_notes():
    bad = make_group("broken", attributes={"enabled-shared-volume": "true",
                                           "shared-volume-capacity": "1G", "quota-cpu": "x"})
    user, catalog = alice()
    user = make_user([*user.groups, bad], user.everyone)
    menu = build_menu(user, catalog, {"group": "research"}, usage=used(Usage(cpu=1.5)))
    assert menu.quota_lines == ("You use 1.5 of 4 CPU, 0 of 1 GPU, 0 of 8Gi memory.",
                                "The group uses 0 of 16 CPU, 0 of 2 GPU, 0 of 32Gi memory.")
    assert len(menu.group_notes) == 1 and menu.group_notes[0].startswith(
        "Group broken has an invalid quota-cpu attribute 'x'")
    assert [m.dataset.name for m in menu.datasets][:2] == ["git-repo", "host-data"]


def test_role_prefix():
    user = make_user([make_group("g", ["c1:it:small", "c1:img:base", "it:big"])])
    catalog = make_catalog(instance_type_cr("small"), instance_type_cr("big"), image_cr("base"))
    assert choice(build_menu(user, catalog, prefix="c1")) == ("g", "small", "base")
    assert build_menu(user, catalog, {"instance_type": "big"}, prefix="c1").notes[0].code == \
        NOT_GRANTED
