"""The Server Options form as data (form.make_form_view): the chosen group's menu, what is
checked, and what the page says besides."""
from __future__ import annotations

import pytest
from builders import demo_catalog, demo_user, make_group, make_user

from primehub_spawner.form import make_form_view
from primehub_spawner.quota import Usage


def chosen(view):
    return view.menu.key, view.checked_instance_type, view.checked_image


@pytest.mark.parametrize("user, preselect, expected, notices", [
    pytest.param("alice", {}, ("class-101", "cpu-1", "base-notebook"), [],
                 id="defaults-first-group-by-display-name"),
    pytest.param("alice", {"group": "research", "instance_type": "gpu-small", "image": "tf-gpu"},
                 ("research", "gpu-small", "tf-gpu"), [], id="deep-link"),
    pytest.param("alice", {"group": "nope"}, ("class-101", "cpu-1", "base-notebook"),
                 ["You are not a member of group 'nope', so you cannot launch a server in it."],
                 id="unknown-group"),
    pytest.param("alice", {"group": "research", "instance_type": "legacy-gpu"},
                 ("research", "cpu-1", "base-notebook"),
                 [("The instance type 'legacy-gpu' is not available in group Research Lab. "
                   "Available: cpu-1, cpu-2, gpu-small.")],
                 id="instance-type-of-another-group"),
    pytest.param("alice", {"group": "class-101", "image": "building-image"},
                 ("class-101", "cpu-1", "base-notebook"),
                 ["Image Building Image is not ready yet (it is still being built)."],
                 id="not-ready-image"),
    pytest.param("alice", {"group": "research", "image": "tf-gpu"},
                 ("research", "cpu-1", "tf-gpu"),
                 ["Image TensorFlow GPU needs a GPU instance type."],
                 id="unfit-image-stays-checked-with-the-reason"),
])
def test_preselection(user, preselect, expected, notices):
    view = make_form_view(demo_user(user), demo_catalog(), preselect=preselect)
    assert chosen(view) == expected
    assert list(view.notices) == notices


def test_only_the_chosen_group_is_in_the_view_the_others_by_name():
    view = make_form_view(demo_user("alice"), demo_catalog(), preselect={"group": "research"})
    assert [(g.key, g.display_name) for g in view.menu.groups] == [
        ("class-101", "Class 101"), ("research", "Research Lab")]
    assert view.menu.group.name == "research"
    assert [r.instance_type.name for r in view.menu.instance_types] == [
        "cpu-1", "cpu-2", "gpu-small"]


def test_a_user_without_a_launch_group_gets_the_sentence():
    view = make_form_view(demo_user("carol"), demo_catalog())
    assert view.menu is None and "not in any group" in view.problem


@pytest.mark.parametrize("preselect, sentence", [
    pytest.param({"group": "research", "instance_type": "cpu-2", "image": "pytorch"},
                 "You are about to start a server in group Research Lab with instance type "
                 "CPU 2 and image PyTorch.", id="asks-once"),
    pytest.param({"group": "research", "instance_type": "nope"}, None, id="nothing-to-confirm"),
])
def test_autolaunch(preselect, sentence):
    view = make_form_view(demo_user("alice"), demo_catalog(), preselect=preselect, autolaunch=True)
    assert view.autolaunch == sentence
    if sentence is None:
        assert any("asked to start a server at once" in n for n in view.notices)


def test_an_instance_type_over_quota_is_disabled_with_the_reason():
    def usage(group):  # alice already runs 4 CPU in research, her per-user quota
        return (Usage(cpu=4), Usage(cpu=4)) if group.name == "research" else (Usage(), Usage())

    view = make_form_view(demo_user("alice"), demo_catalog(), usage=usage,
                          preselect={"group": "research"})
    reasons = {r.instance_type.name: r.blocked for r in view.menu.instance_types}
    assert all(b.code == "over-quota" and "quota" in b.reason for b in reasons.values())
    assert chosen(view)[1] is None  # nothing usable to preselect
    assert view.menu.problem == reasons["cpu-1"]  # said once, in the group's section too
    assert "You use 4 of 4 CPU" in view.menu.quota_lines[0]


def test_a_refused_choice_is_kept_silently():
    view = make_form_view(demo_user("alice"), demo_catalog(), explain=False, preselect={
        "group": "research", "instance_type": "cpu-1", "image": "tf-gpu", "safe_mode": True,
        "env": {"JUPYTERHUB_X": "1"}})
    assert chosen(view) == ("research", "cpu-1", "tf-gpu")
    assert view.notices == () and view.safe_mode and view.env == (("JUPYTERHUB_X", "1"),)


# ---- hardening (issue 8) ------------------------------------------------------------------

def test_subgroups_of_one_name_are_keyed_by_path():
    user = make_user([make_group("team", ["it:small"], id="1", path="/a/team"),
                      make_group("team", ["it:small"], id="2", path="/b/team")])
    view = make_form_view(user, demo_catalog(), preselect={"group": "/b/team"})
    assert [g.key for g in view.menu.groups] == ["/a/team", "/b/team"]
    assert view.menu.key == "/b/team" and view.menu.group.id == "2"
    assert view.notices == ()


@pytest.mark.parametrize("preselect", [
    pytest.param(["research"], id="not-a-mapping"),
    pytest.param({"group": ["research"], "instance_type": {"a": 1}, "image": 5,
                  "env": ["A=1"], "safe_mode": "yes"}, id="wrong-types"),
    pytest.param({"group": "g" * 160_000}, id="huge-group"),
])
def test_any_preselection_gives_a_form(preselect):
    view = make_form_view(demo_user("alice"), demo_catalog(), preselect=preselect)
    assert chosen(view) == ("class-101", "cpu-1", "base-notebook")
    assert all(len(notice) < 200 for notice in view.notices)
    assert view.env == () and view.safe_mode is False


def test_a_misconfigured_other_group_is_a_note_of_each_launch():
    alice = demo_user("alice")
    bad = make_group("broken", attributes={"enabled-shared-volume": "true",
                                           "shared-volume-capacity": "1G", "quota-cpu": "9" * 400})
    user = make_user([*alice.groups, bad], alice.everyone)
    research = make_form_view(user, demo_catalog(), preselect={"group": "research"}).menu
    assert len(research.group_notes) == 1
    assert "Its shared volume is not mounted" in research.group_notes[0]
    broken = make_form_view(user, demo_catalog(), preselect={"group": "broken"}).menu
    assert broken.group_notes == () and broken.resolved is None
    assert broken.problem.code == "misconfigured"
    assert broken.problem.reason.startswith("Group broken has an invalid quota-cpu attribute")


def test_the_page_grows_with_the_chosen_group_not_with_the_others():
    """Issue 9: the page carries the chosen group's lists; another group adds its name to
    the switch (an option and a link), nothing of what it grants."""
    from builders import image_cr, instance_type_cr, make_catalog

    from primehub_spawner.spawner import _form_template
    catalog = make_catalog(*[instance_type_cr(f"it-{i}") for i in range(100)],
                           *[image_cr(f"img-{i}") for i in range(100)])

    def page(others):
        groups = [make_group("a-launch", ["it:it-0", "img:img-0"])] + [
            make_group(f"other-{g}", [f"it:it-{i}" for i in range(g, 100, 7)]
                       + [f"img:img-{i}" for i in range(g, 100, 7)]) for g in range(1, others + 1)]
        view = make_form_view(make_user(groups), catalog)
        return _form_template("").render(view=view, get_url="/hub/spawn")

    one, thirty = page(1), page(30)
    assert 'value="it-5"' not in thirty and 'value="img-5"' not in thirty
    per_group = (len(thirty) - len(one)) / 29
    assert per_group < 200, per_group
