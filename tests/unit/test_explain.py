"""Why a user can or cannot launch each item, per group (primehub_spawner.explain): one
table row per reason the issue names, then the group selection, quota figures from pods,
and the plain-text rendering."""
from __future__ import annotations

import pytest
from builders import (
    dataset_cr,
    demo_catalog,
    demo_user,
    image_cr,
    instance_type_cr,
    make_catalog,
    make_group,
    make_pod,
    make_user,
)

from primehub_spawner.check import Rejected
from primehub_spawner.explain import (
    AVAILABLE,
    BLOCKED,
    MALFORMED,
    NO_RESOURCE,
    NOT_GRANTED,
    Grant,
    explain,
    render_text,
    usage_from_pods,
)
from primehub_spawner.labels import escape_label
from primehub_spawner.quota import Usage

GIB = 2**30
EVERYONE = make_group("everyone", ["it:small", "img:base"])
CATALOG = make_catalog(
    instance_type_cr("small"), instance_type_cr("big", **{"limits.cpu": 4}),
    instance_type_cr("gpu", **{"limits.gpu": 1, "gpuResourceName": "nvidia.com/gpu"}),
    image_cr("base"), image_cr("cuda", type="gpu"), image_cr("building", url=""),
    dataset_cr("shared"), dataset_cr("only-here", annotations={
        "dataset.primehub.io/launchGroupOnly": "true"}),
    dataset_cr("repo", type="git", url="https://example.org/r.git"), dataset_cr("loose"))
REJECTED = (Rejected("InstanceType", "broken", "limits.cpu is required"),)


def lab_user(roles, others=(), everyone=EVERYONE, attributes=None):
    lab = make_group("lab", roles, attributes)
    other = make_group("other", others)
    return make_user([lab, other], everyone)


def row(explanation, group, kind, name):
    found = next(g for g in explanation.groups if g.group.name == group)
    item = next((i for i in found.items if i.kind == kind and i.name == name), None)
    assert item is not None, f"no {kind} {name} in group {group}"
    return item.state, item.reason, item.grants


LAB = Grant("lab", "it:big", True)


@pytest.mark.parametrize("roles, others, kind, name, state, reason, grants", [
    pytest.param(["it:big"], [], "InstanceType", "big", AVAILABLE,
                 "Granted by lab through it:big.", (LAB,), id="granted-by-the-group"),
    pytest.param([], [], "InstanceType", "small", AVAILABLE,
                 "Granted by everyone through it:small.", (Grant("everyone", "it:small", True),),
                 id="granted-by-everyone"),
    pytest.param(["it:big"], ["it:big"], "InstanceType", "big", AVAILABLE,
                 "Granted by lab through it:big.",
                 (LAB, Grant("other", "it:big", False)), id="granted-here-and-elsewhere"),
    pytest.param([], [], "InstanceType", "big", NOT_GRANTED,
                 "Neither group lab nor everyone has role it:big.", (), id="no-role"),
    pytest.param([], ["it:big"], "InstanceType", "big", NOT_GRANTED,
                 "Neither group lab nor everyone has role it:big. It is granted by other "
                 "through it:big, which counts only when launching there.",
                 (Grant("other", "it:big", False),), id="role-in-another-group"),
    pytest.param(["it:ghost"], [], "InstanceType", "ghost", NO_RESOURCE,
                 "Granted by lab through it:ghost, but there is no InstanceType ghost.",
                 (Grant("lab", "it:ghost", True),), id="role-without-a-resource"),
    pytest.param(["it:broken"], [], "InstanceType", "broken", MALFORMED,
                 "InstanceType broken is malformed, so no menu offers it: limits.cpu is "
                 "required", (Grant("lab", "it:broken", True),), id="malformed"),
    pytest.param([], [], "InstanceType", "broken", MALFORMED,
                 "InstanceType broken is malformed, so no menu offers it: limits.cpu is "
                 "required", (), id="malformed-and-not-granted"),
    pytest.param(["img:cuda"], [], "Image", "cuda", BLOCKED,
                 "Image cuda needs a GPU, and instance type small has none.",
                 (Grant("lab", "img:cuda", True),), id="gpu-only-on-the-only-cpu-type"),
    pytest.param(["img:cuda", "it:big"], [], "Image", "cuda", BLOCKED,
                 "Image cuda needs a GPU, and none of group lab's instance types has one.",
                 (Grant("lab", "img:cuda", True),), id="gpu-only-on-cpu-types"),
    pytest.param(["img:cuda", "it:gpu"], [], "Image", "cuda", AVAILABLE,
                 "Granted by lab through img:cuda. It runs on gpu.",
                 (Grant("lab", "img:cuda", True),), id="gpu-only-with-a-gpu-type"),
    pytest.param(["img:building"], [], "Image", "building", BLOCKED,
                 "Image building is not ready yet (it is still being built).",
                 (Grant("lab", "img:building", True),), id="not-ready"),
    pytest.param([], ["img:cuda"], "Image", "cuda", NOT_GRANTED,
                 "Neither group lab nor everyone has role img:cuda. It is granted by other "
                 "through img:cuda, which counts only when launching there.",
                 (Grant("other", "img:cuda", False),), id="image-of-another-group"),
    pytest.param([], ["ds:only-here"], "Dataset", "only-here", BLOCKED,
                 "Dataset only-here is launchGroupOnly: it is mounted only when launching in "
                 "a group that grants it (other through ds:only-here).",
                 (Grant("other", "ds:only-here", False),), id="launch-group-only"),
    pytest.param(["ds:only-here"], [], "Dataset", "only-here", AVAILABLE,
                 "Mounted read-only: granted by lab through ds:only-here.",
                 (Grant("lab", "ds:only-here", True),), id="launch-group-only-in-its-group"),
    pytest.param([], ["ds:shared"], "Dataset", "shared", AVAILABLE,
                 "Mounted read-only: granted by other through ds:shared.",
                 (Grant("other", "ds:shared", False),), id="dataset-of-another-group"),
    pytest.param(["ds:rw:shared"], [], "Dataset", "shared", AVAILABLE,
                 "Mounted read-write: granted by lab through ds:rw:shared.",
                 (Grant("lab", "ds:rw:shared", True),), id="read-write"),
    pytest.param([], ["ds:rw:shared"], "Dataset", "shared", AVAILABLE,
                 "Mounted read-only: granted by other through ds:rw:shared. Read-write "
                 "(other through ds:rw:shared) counts only when launching there.",
                 (Grant("other", "ds:rw:shared", False),), id="read-write-elsewhere"),
    pytest.param(["ds:rw:repo"], [], "Dataset", "repo", AVAILABLE,
                 "Mounted read-only: granted by lab through ds:rw:repo. A git dataset is "
                 "never writable.", (Grant("lab", "ds:rw:repo", True),), id="git-never-writable"),
    pytest.param([], [], "Dataset", "loose", NOT_GRANTED,
                 "No group of the user, nor everyone, has role ds:loose or ds:rw:loose.", (),
                 id="dataset-not-granted"),
    pytest.param(["ds:ghost"], [], "Dataset", "ghost", NO_RESOURCE,
                 "Granted by lab through ds:ghost, but there is no Dataset ghost.",
                 (Grant("lab", "ds:ghost", True),), id="dataset-role-without-a-resource"),
])
def test_each_reason(roles, others, kind, name, state, reason, grants):
    explanation = explain(lab_user(roles, others), CATALOG, REJECTED)
    assert row(explanation, "lab", kind, name) == (state, reason, grants)


def test_over_quota_gives_the_figures():
    user = lab_user(["it:big"], attributes={"quota-cpu": "5", "project-quota-memory": "4G"})
    used = {"lab": (Usage(cpu=2), Usage(cpu=2, memory=3 * GIB))}
    explanation = explain(user, CATALOG, usage=lambda g: used.get(g.name, (Usage(), Usage())))
    assert row(explanation, "lab", "InstanceType", "big")[:2] == (
        BLOCKED, ("This needs 4 CPU, but your share of group lab already uses 2 of its 5 CPU "
                 "quota."))
    assert row(explanation, "lab", "InstanceType", "small")[:2] == (
        AVAILABLE, "Granted by everyone through it:small.")
    lab = explanation.groups[0]
    assert lab.quota == ("Quota: alice in group lab uses 2 of 5 CPU.",
                         "Quota: group lab uses 3Gi of 4Gi memory.")
    # Without usage, quotas are shown as limits and nothing is blocked by them.
    lab = explain(user, CATALOG).groups[0]
    assert lab.quota == ("Quota: alice in group lab may use 5 CPU.",
                         "Quota: group lab may use 4Gi memory.")
    assert row(explain(user, CATALOG), "lab", "InstanceType", "big")[0] == AVAILABLE


def test_a_misconfigured_group_blocks_what_it_grants_and_says_why():
    user = lab_user(["it:big"], attributes={"quota-cpu": "lots"})
    lab = explain(user, CATALOG).groups[0]
    assert lab.problem == ("Group lab has an invalid quota-cpu attribute 'lots'; ask an "
                           "administrator to fix it.")
    assert row(explain(user, CATALOG), "lab", "InstanceType", "big")[:2] == (BLOCKED, lab.problem)
    assert row(explain(user, CATALOG), "lab", "InstanceType", "gpu")[0] == NOT_GRANTED
    # The other group is explained as usual.
    assert explain(user, CATALOG).groups[1].problem is None


def test_role_prefix():
    user = lab_user(["c1:it:big", "it:gpu"], everyone=make_group("everyone", ["c1:it:small"]))
    explanation = explain(user, CATALOG, prefix="c1")
    assert row(explanation, "lab", "InstanceType", "big")[0] == AVAILABLE
    assert row(explanation, "lab", "InstanceType", "small")[2] == (
        Grant("everyone", "c1:it:small", True),)
    assert row(explanation, "lab", "InstanceType", "gpu")[:2] == (
        NOT_GRANTED, "Neither group lab nor everyone has role it:gpu.")


@pytest.mark.parametrize("group, groups, problem", [
    pytest.param(None, ["class-101", "research"], None, id="every-group"),
    pytest.param("research", ["research"], None, id="by-name"),
    pytest.param("/research", ["research"], None, id="by-path"),
    pytest.param("everyone", [], "Group 'everyone' holds what every group grants; it is not "
                 "a launch group.", id="everyone"),
    pytest.param("nope", [], "alice is not a member of group 'nope'.", id="not-a-member"),
])
def test_which_groups(group, groups, problem):
    explanation = explain(demo_user("alice"), demo_catalog(), group=group)
    assert ([g.group.name for g in explanation.groups], explanation.problem) == (groups, problem)


def test_two_groups_of_one_name_need_a_path():
    user = make_user([make_group("team", path="/a/team", id="1"),
                      make_group("team", path="/b/team", id="2")])
    assert explain(user, CATALOG, group="team").problem == (
        "alice is in several groups named 'team'; name one by its path.")
    explanation = explain(user, CATALOG, group="/b/team")
    assert [g.group.label for g in explanation.groups] == ["/b/team"]


def test_no_group():
    explanation = explain(demo_user("carol"), demo_catalog())
    assert (explanation.groups, explanation.problem) == (
        (), "carol is in no group that can launch a server.")


def test_the_demo_user_matches_the_menu():
    """Every item available in a group is exactly what the menu offers there."""
    explanation = explain(demo_user("alice"), demo_catalog())
    research = next(g for g in explanation.groups if g.group.name == "research")
    assert [i.name for i in research.instance_types if i.state == AVAILABLE] == [
        "cpu-1", "cpu-2", "gpu-small"]
    assert row(explanation, "research", "Dataset", "team-data") == (
        AVAILABLE, "Mounted read-write: granted by research through ds:rw:team-data.",
        (Grant("research", "ds:rw:team-data", True), Grant("class-101", "ds:team-data", False)))


def test_usage_from_pods_counts_the_group_and_the_user():
    pods = [make_pod("jupyter-alice", escape_label("alice"), escape_label("lab"),
                     {"cpu": "2", "memory": "1Gi", "nvidia.com/gpu": "1"}),
            make_pod("jupyter-bob", escape_label("bob"), escape_label("lab"), {"cpu": "1"}),
            make_pod("jupyter-old", escape_label("alice"), escape_label("lab"), {"cpu": "8"},
                     phase="Succeeded"),
            make_pod("jupyter-x", escape_label("alice"), escape_label("other"), {"cpu": "5"})]
    usage = usage_from_pods(pods, "alice", CATALOG)
    assert usage(make_group("lab")) == (Usage(cpu=2, gpu=1, memory=GIB), Usage(cpu=3, gpu=1,
                                                                                memory=GIB))


def test_render_text():
    text = render_text(explain(lab_user(["it:big", "it:ghost"]), CATALOG, REJECTED, group="lab"))
    lines = text.splitlines()
    assert lines[:3] == ["User alice", "", "Group lab"]
    header = next(line for line in lines if line.lstrip().startswith("INSTANCE TYPE"))
    assert header.split() == ["INSTANCE", "TYPE", "STATE", "GRANTED", "BY", "WHY"]
    assert "  big            available    lab (it:big)         Granted by lab through it:big." \
        in lines
    assert any(line.split()[:2] == ["ghost", "no"] for line in lines)
    assert any(line.split()[:2] == ["broken", "malformed"] for line in lines)


def test_render_text_escapes_control_characters():
    catalog = make_catalog(instance_type_cr("small"), image_cr(
        "evil", displayName="Evil\x1b[2J\nrm -rf"))
    user = lab_user(["img:evil"])
    text = render_text(explain(user, catalog, group="lab"))
    assert "\x1b" not in text
    assert "evil (Evil\\x1b[2J\\nrm -rf)  available" in text
    assert render_text(explain(user, catalog, group="nope")).splitlines() == [
        "User alice", "alice is not a member of group 'nope'."]


def test_grants_are_listed_the_same_whatever_order_keycloak_gives_the_groups():
    lab, other = make_group("lab", ["ds:rw:shared"]), make_group("other", ["ds:shared"])
    for groups in ([lab, other], [other, lab]):
        explanation = explain(make_user(groups, EVERYONE), CATALOG, group="lab")
        assert row(explanation, "lab", "Dataset", "shared")[2] == (
            Grant("lab", "ds:rw:shared", True), Grant("other", "ds:shared", False))
