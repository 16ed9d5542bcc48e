"""Who may launch what, in which group (DESIGN §3, primehub_spawner.entitlements)."""
import json

import pytest
from builders import (
    dataset_cr,
    demo_catalog,
    demo_user,
    image_cr,
    instance_type_cr,
    make_catalog,
    make_group,
    make_user,
)

from primehub_spawner.entitlements import (
    Group,
    GroupMisconfigured,
    GroupSettings,
    Quota,
    UserEntitlements,
    group_settings,
    project_dir,
    resolve_menu,
)
from primehub_spawner.roles import Grants, grants_of


def summary(menu):
    return ([it.name for it in menu.instance_types], [i.name for i in menu.images],
            {m.dataset.name: m.writable for m in menu.datasets},
            [g.name for g in menu.shared_volume_groups])


# ---- the devstack demo data ---------------------------------------------------------------

@pytest.mark.parametrize("username, group, expected", [
    pytest.param("alice", "research", (
        ["cpu-1", "cpu-2", "gpu-small"],
        ["base-notebook", "pytorch", "research-image", "tf-gpu"],
        {"git-repo": False, "host-data": False, "public-env": False, "shared-nfs": False,
         "team-data": True},
        ["research"]), id="alice-in-research"),
    pytest.param("alice", "class-101", (
        ["cpu-1", "legacy-gpu"],
        ["base-notebook", "building-image", "private-image"],
        {"class-only": False, "git-repo": False, "host-data": False, "public-env": False,
         "shared-nfs": False, "team-data": False},
        ["class-101", "research"]), id="alice-in-class-101"),
    pytest.param("bob", "class-101", (
        ["cpu-1", "legacy-gpu"],
        ["base-notebook", "building-image", "private-image"],
        {"class-only": False, "git-repo": False, "public-env": False, "team-data": False},
        ["class-101"]), id="bob-in-class-101"),
    pytest.param("phadmin", "research", (
        ["cpu-1", "cpu-2", "gpu-small"],
        ["base-notebook", "pytorch", "research-image", "tf-gpu"],
        {"host-data": False, "public-env": False, "shared-nfs": False, "team-data": True},
        ["research"]), id="phadmin-in-research"),
    pytest.param("dave", "empty-group", (
        ["cpu-1"], ["base-notebook"], {"public-env": False}, []), id="everyone-only"),
])
def test_demo_menus(username, group, expected):
    user = demo_user(username)
    assert summary(resolve_menu(user, user.group(group), demo_catalog())) == expected


# ---- the rules of §3, one row each --------------------------------------------------------

RULES_CATALOG = [
    instance_type_cr("small"), instance_type_cr("big", {"limits.cpu": 8, "limits.memory": "8G"}),
    image_cr("x", displayName="X"), image_cr("y", displayName="Y"),
    dataset_cr("d"), dataset_cr("e", type="env", variables={"K": "v"}),
    dataset_cr("l", annotations={"dataset.primehub.io/launchGroupOnly": "true"}),
]


@pytest.mark.parametrize("launch, everyone, other, expected", [
    pytest.param(["it:small"], [], [], (["small"], [], {}), id="it-from-launch-group"),
    pytest.param([], ["it:small"], [], (["small"], [], {}), id="it-from-everyone"),
    pytest.param(["it:big"], ["it:small"], [], (["small", "big"], [], {}),
                 id="it-launch-and-everyone-by-size"),
    pytest.param([], [], ["it:small"], ([], [], {}), id="it-from-other-group-not-offered"),
    pytest.param(["img:x"], [], [], ([], ["x"], {}), id="img-from-launch-group"),
    pytest.param([], ["img:y"], [], ([], ["y"], {}), id="img-from-everyone"),
    pytest.param([], [], ["img:x"], ([], [], {}), id="img-from-other-group-not-offered"),
    pytest.param(["ds:d"], [], [], ([], [], {"d": False}), id="ds-launch-read-only"),
    pytest.param(["ds:rw:d"], [], [], ([], [], {"d": True}), id="ds-launch-read-write"),
    pytest.param([], ["ds:d"], [], ([], [], {"d": False}), id="ds-everyone-read-only"),
    pytest.param([], ["ds:rw:d"], [], ([], [], {"d": True}), id="ds-everyone-read-write"),
    pytest.param([], [], ["ds:d"], ([], [], {"d": False}), id="ds-other-group-mounted"),
    pytest.param([], [], ["ds:rw:d"], ([], [], {"d": False}),
                 id="ds-rw-via-other-group-is-read-only"),
    pytest.param(["ds:d"], [], ["ds:rw:d"], ([], [], {"d": False}),
                 id="ds-launch-ro-other-rw-is-read-only"),
    pytest.param(["ds:rw:d"], [], ["ds:d"], ([], [], {"d": True}),
                 id="ds-launch-rw-other-ro-is-read-write"),
    pytest.param(["ds:d"], ["ds:rw:d"], [], ([], [], {"d": True}),
                 id="ds-launch-ro-everyone-rw-is-read-write"),
    pytest.param(["ds:l"], [], [], ([], [], {"l": False}), id="launch-group-only-via-launch"),
    pytest.param([], ["ds:rw:l"], [], ([], [], {"l": True}), id="launch-group-only-via-everyone"),
    pytest.param([], [], ["ds:l"], ([], [], {}), id="launch-group-only-via-other-absent"),
    pytest.param([], [], ["ds:rw:l"], ([], [], {}), id="launch-group-only-rw-via-other-absent"),
    pytest.param(["ds:rw:e"], [], [], ([], [], {"e": False}), id="env-never-writable-launch"),
    pytest.param([], ["ds:rw:e"], [], ([], [], {"e": False}), id="env-never-writable-everyone"),
    pytest.param(["it:ghost", "img:ghost", "ds:ghost", "ds:rw:ghost2"], ["it:ghost3"],
                 ["ds:ghost4"], ([], [], {}), id="granted-but-missing-absent"),
    pytest.param(["offline_access", "admin", "uma_authorization"], [], [], ([], [], {}),
                 id="unrelated-roles"),
])
def test_rules(launch, everyone, other, expected):
    user = make_user([make_group("launch", launch), make_group("other", other)],
                     make_group("everyone", everyone))
    menu = resolve_menu(user, user.group("launch"), make_catalog(*RULES_CATALOG))
    assert summary(menu)[:3] == expected


@pytest.mark.parametrize("prefix, launch, everyone, expected", [
    pytest.param("c1", ["c1:it:small", "it:big"], ["c1:img:x", "img:y"],
                 (["small"], ["x"], {}), id="prefix-only-prefixed-count"),
    pytest.param("c1", ["c1:ds:rw:d", "ds:rw:e", "c2:ds:l"], [], ([], [], {"d": True}),
                 id="prefix-datasets"),
    pytest.param("", ["c1:it:small", "it:big"], ["c1:img:x", "img:y"], (["big"], ["y"], {}),
                 id="no-prefix-prefixed-ignored"),
])
def test_role_prefix(prefix, launch, everyone, expected):
    user = make_user([make_group("launch", launch)], make_group("everyone", everyone))
    menu = resolve_menu(user, user.group("launch"), make_catalog(*RULES_CATALOG), prefix)
    assert summary(menu)[:3] == expected


def test_no_everyone_group():
    user = make_user([make_group("launch", ["it:small"])], everyone=None)
    menu = resolve_menu(user, user.group("launch"), make_catalog(*RULES_CATALOG))
    assert summary(menu) == (["small"], [], {}, [])


def test_menu_order():
    catalog = make_catalog(
        instance_type_cr("gpu", {"limits.gpu": 1, "gpuResourceName": "nvidia.com/gpu",
                                 "limits.cpu": 1}),
        instance_type_cr("cpu-8", {"limits.cpu": 8}),
        instance_type_cr("cpu-2b", {"limits.cpu": 2, "limits.memory": "4G"}),
        instance_type_cr("cpu-2a", {"limits.cpu": 2, "limits.memory": "2G"}),
        image_cr("zz", displayName="alpha"), image_cr("aa", displayName="Beta"),
        dataset_cr("zeta"), dataset_cr("alpha"))
    user = make_user([make_group("g", ["it:gpu", "it:cpu-8", "it:cpu-2b", "it:cpu-2a",
                                       "img:zz", "img:aa", "ds:zeta", "ds:alpha"])])
    its, images, datasets, _ = summary(resolve_menu(user, user.group("g"), catalog))
    assert its == ["cpu-2a", "cpu-2b", "cpu-8", "gpu"]  # no GPU first, then cpu, then memory
    assert images == ["zz", "aa"]  # by display name, case-insensitive
    assert list(datasets) == ["alpha", "zeta"]


# ---- shared volumes -----------------------------------------------------------------------

SHARED = {"enabled-shared-volume": "true", "shared-volume-capacity": "10G"}
SHARED_LGO = dict(SHARED, **{"launch-group-only": "true"})


@pytest.mark.parametrize("launch_attrs, others, expected", [
    pytest.param({}, [], [], id="none"),
    pytest.param(SHARED, [], ["launch"], id="launch-group-shared"),
    pytest.param(SHARED_LGO, [], ["launch"], id="launch-group-only-mounted-in-itself"),
    pytest.param({}, [("other", SHARED)], ["other"], id="other-group-shared"),
    pytest.param({}, [("other", SHARED_LGO)], [], id="other-launch-group-only-not-mounted"),
    pytest.param(SHARED, [("zeta", SHARED), ("alpha", SHARED)], ["launch", "alpha", "zeta"],
                 id="launch-first-then-by-name"),
    pytest.param(SHARED, [("other", {"enabled-shared-volume": "false",
                                     "shared-volume-capacity": "1G"})], ["launch"],
                 id="disabled-not-mounted"),
    pytest.param(SHARED, [("broken", {"enabled-shared-volume": "true"})], ["launch"],
                 id="misconfigured-other-group-skipped"),
    pytest.param(SHARED, [("bad", {"enabled-shared-volume": "TRUE",
                                   "shared-volume-capacity": "10G", "quota-cpu": "x"})],
                 ["launch"], id="other-group-bad-quota-skipped"),
])
def test_shared_volume_groups(launch_attrs, others, expected):
    user = make_user([make_group("launch", attributes=launch_attrs),
                      *(make_group(n, attributes=a) for n, a in others)])
    menu = resolve_menu(user, user.group("launch"), make_catalog())
    assert [g.name for g in menu.shared_volume_groups] == expected


def test_misconfigured_launch_group_raises():
    user = make_user([make_group("launch", attributes={"quota-cpu": "lots"})])
    with pytest.raises(GroupMisconfigured, match="invalid quota-cpu attribute 'lots'"):
        resolve_menu(user, user.group("launch"), make_catalog())


# ---- group attributes ---------------------------------------------------------------------

@pytest.mark.parametrize("attributes, expected", [
    pytest.param({}, GroupSettings(), id="no-attributes"),
    pytest.param({"quota-cpu": "4", "quota-gpu": "1", "quota-memory": "8G"},
                 GroupSettings(user_quota=Quota(cpu=4.0, gpu=1, memory=8 * 2**30)),
                 id="user-quota"),
    pytest.param({"project-quota-cpu": "16", "project-quota-gpu": "2",
                  "project-quota-memory": "32Gi"},
                 GroupSettings(project_quota=Quota(cpu=16.0, gpu=2, memory=32 * 2**30)),
                 id="project-quota"),
    pytest.param({"quota-cpu": "0.5", "quota-memory": " 512M "},
                 GroupSettings(user_quota=Quota(cpu=0.5, memory=512 * 2**20)),
                 id="fractions-and-spaces"),
    pytest.param({"quota-cpu": "", "quota-gpu": "  "}, GroupSettings(), id="empty-is-unlimited"),
    pytest.param({"quota-gpu": "0"}, GroupSettings(user_quota=Quota(gpu=0)), id="zero-gpu"),
    pytest.param(SHARED, GroupSettings(shared_volume=True, shared_volume_capacity="10G"),
                 id="shared-volume"),
    pytest.param({"enabled-shared-volume": "True", "shared-volume-capacity": " 5G "},
                 GroupSettings(shared_volume=True, shared_volume_capacity="5G"),
                 id="shared-volume-case-and-space"),
    pytest.param({"enabled-shared-volume": "false", "shared-volume-capacity": "nonsense"},
                 GroupSettings(shared_volume_capacity="nonsense"),
                 id="shared-volume-disabled-capacity-unchecked"),
    pytest.param({"launch-group-only": "true", "home-symlink": "true"},
                 GroupSettings(launch_group_only=True, home_symlink=True), id="flags"),
    pytest.param({"launch-group-only": "yes", "home-symlink": "1"}, GroupSettings(),
                 id="only-true-is-true"),
    pytest.param({"mlflow-tracking-uri": "http://m:5000", "mlflow-ui-url": "http://m/ui"},
                 GroupSettings(mlflow_tracking_uri="http://m:5000", mlflow_ui_url="http://m/ui"),
                 id="mlflow"),
])
def test_group_settings(attributes, expected):
    assert group_settings(make_group("research", attributes=attributes)) == expected


@pytest.mark.parametrize("name, attributes, reason", [
    pytest.param("g", {"quota-cpu": "lots"}, "invalid quota-cpu attribute 'lots'", id="cpu"),
    pytest.param("g", {"quota-cpu": "-1"}, "invalid quota-cpu", id="cpu-negative"),
    pytest.param("g", {"quota-gpu": "1.5"}, "invalid quota-gpu attribute '1.5'", id="gpu-fraction"),
    pytest.param("g", {"quota-gpu": "one"}, "invalid quota-gpu", id="gpu-words"),
    pytest.param("g", {"quota-memory": "8 gigs"}, "invalid quota-memory attribute '8 gigs'",
                 id="memory"),
    pytest.param("g", {"project-quota-cpu": "x"}, "invalid project-quota-cpu", id="project-cpu"),
    pytest.param("g", {"project-quota-gpu": "-2"}, "invalid project-quota-gpu", id="project-gpu"),
    pytest.param("g", {"project-quota-memory": "lots"}, "invalid project-quota-memory",
                 id="project-memory"),
    pytest.param("g", {"enabled-shared-volume": "true"}, "shared-volume-capacity ''",
                 id="shared-volume-without-capacity"),
    pytest.param("g", {"enabled-shared-volume": "true", "shared-volume-capacity": "big"},
                 "shared-volume-capacity 'big' is not a size", id="shared-volume-bad-capacity"),
    pytest.param("Research Lab", SHARED, "does not make a volume name",
                 id="shared-volume-name-with-space"),
    pytest.param("g" * 56, SHARED, "does not make a volume name", id="shared-volume-name-too-long"),
    pytest.param("-g", SHARED, "does not make a volume name", id="shared-volume-name-leading-dash"),
])
def test_group_settings_misconfigured(name, attributes, reason):
    group = make_group(name, attributes=attributes, display_name="The Group")
    with pytest.raises(GroupMisconfigured) as info:
        group_settings(group)
    message = str(info.value)
    assert reason in message
    assert message.startswith("Group The Group ")  # names the group by its display name
    assert "administrator" in message


@pytest.mark.parametrize("name, expected", [
    pytest.param("research", "research", id="plain"),
    pytest.param("Research_Lab", "research-lab", id="upper-and-underscore"),
    pytest.param("class-101", "class-101", id="dash-kept"),
    pytest.param("A_B_C", "a-b-c", id="several-underscores"),
])
def test_project_dir(name, expected):
    assert project_dir(make_group(name)) == expected


def test_shared_volume_group_name_with_underscore_and_capitals_is_fine():
    assert group_settings(make_group("Research_Lab", attributes=SHARED)).shared_volume


# ---- UserEntitlements ---------------------------------------------------------------------

@pytest.mark.parametrize("username", ["alice", "bob", "carol", "phadmin"])
def test_json_round_trip(username):
    user = demo_user(username)
    data = json.loads(json.dumps(user.to_json()))
    assert UserEntitlements.from_json(data) == user


def test_json_round_trip_without_everyone():
    user = make_user([make_group("g", ["it:a"], {"quota-cpu": "1"})], everyone=None)
    assert UserEntitlements.from_json(json.loads(json.dumps(user.to_json()))) == user


def test_from_json_defaults():
    user = UserEntitlements.from_json({"username": "eve"})
    assert user == UserEntitlements(username="eve", user_id="", groups=(), everyone=None)


def test_group_from_json_defaults():
    assert Group.from_json({"id": "1", "name": "g"}) == Group(id="1", name="g")


@pytest.mark.parametrize("groups, expected", [
    pytest.param([], [], id="none"),
    pytest.param([("b", "beta"), ("a", "Zulu"), ("c", None), ("d", "Alpha")],
                 ["d", "b", "c", "a"], id="by-display-name-case-insensitive"),
    pytest.param([("y", "Same"), ("x", "Same")], ["x", "y"], id="ties-by-name"),
    pytest.param([("research", "Research Lab"), ("class-101", "Class 101")],
                 ["class-101", "research"], id="demo"),
])
def test_launch_groups_sorted_by_display_name(groups, expected):
    user = make_user([make_group(n, display_name=d) for n, d in groups])
    assert [g.name for g in user.launch_groups()] == expected


@pytest.mark.parametrize("name, found", [
    pytest.param("research", True, id="member"),
    pytest.param("empty-group", False, id="not-a-member"),
    pytest.param("everyone", False, id="everyone-is-not-a-launch-group"),
    pytest.param("Research", False, id="case-sensitive"),
])
def test_group_lookup(name, found):
    assert (demo_user("alice").group(name) is not None) is found


@pytest.mark.parametrize("attributes, expected", [
    pytest.param({"displayName": "Research Lab"}, "Research Lab", id="display-name"),
    pytest.param({}, "research", id="falls-back-to-name"),
    pytest.param({"displayName": ""}, "research", id="empty-falls-back"),
])
def test_group_display_name(attributes, expected):
    assert make_group("research", attributes=attributes).display_name == expected


@pytest.mark.parametrize("quota, unlimited", [
    pytest.param(Quota(), True, id="empty"),
    pytest.param(Quota(cpu=1), False, id="cpu"),
    pytest.param(Quota(gpu=0), False, id="zero-gpu-is-a-limit"),
    pytest.param(Quota(memory=1), False, id="memory"),
])
def test_quota_unlimited(quota, unlimited):
    assert quota.unlimited is unlimited


# ---- hardening (issue 8) ------------------------------------------------------------------

@pytest.mark.parametrize("dataset, writable", [
    pytest.param("team-data", True, id="pv"),
    pytest.param("shared-nfs", True, id="nfs"),
    pytest.param("host-data", True, id="host-path"),
    pytest.param("git-repo", False, id="git-synced-read-only"),
    pytest.param("public-env", False, id="env-no-volume"),
])
def test_read_write_only_for_volumes_a_pod_can_write(dataset, writable):
    user = make_user([make_group("launch", [f"ds:rw:{dataset}"])])
    [mounted] = resolve_menu(user, user.group("launch"), demo_catalog()).datasets
    assert mounted.writable is writable


def shared(name, *, lgo=False, path=None, **more):
    attributes = dict(SHARED_LGO if lgo else SHARED, **more)
    return make_group(name, attributes=attributes, id=f"gid-{path or name}",
                      **({"path": path} if path else {}))


@pytest.mark.parametrize("groups, launch, sentence", [
    pytest.param([shared("ml_team"), shared("ml-team")], "ml_team",
                 "Groups ml_team and ml-team both have the shared volume project-ml-team",
                 id="underscore-and-dash-both-mounted"),
    pytest.param([shared("Research"), shared("research")], "research",
                 "Groups research and Research both have the shared volume project-research",
                 id="case-both-mounted"),
    pytest.param([shared("ml_team", lgo=True), shared("ml-team")], "ml-team",
                 "Groups ml-team and ml_team both have", id="launch-group-volume-is-another-s"),
    pytest.param([shared("a", lgo=False), shared("ml_team"), shared("ml-team")], "a",
                 "Groups ml-team and ml_team both have", id="both-mounted-in-a-third-group"),
    pytest.param([shared("team", path="/a/team"), shared("team", path="/b/team")], "/a/team",
                 "Groups /a/team and /b/team both have the shared volume project-team",
                 id="subgroups-of-one-name"),
])
def test_groups_sharing_a_volume_name_are_refused(groups, launch, sentence):
    user = make_user(groups)
    with pytest.raises(GroupMisconfigured) as info:
        resolve_menu(user, user.group(launch), make_catalog())
    assert sentence in str(info.value)
    assert "ask an administrator to rename one of them" in str(info.value)


@pytest.mark.parametrize("groups, launch, mounted", [
    pytest.param([shared("a"), shared("ml_team", lgo=True), shared("ml-team")], "a",
                 ["a", "ml-team"], id="only-one-mounted-here"),
    pytest.param([make_group("ml_team"), shared("ml-team")], "ml_team", ["ml-team"],
                 id="the-other-has-no-volume"),
])
def test_a_name_clash_that_does_not_meet_in_this_launch_is_fine(groups, launch, mounted):
    user = make_user(groups)
    menu = resolve_menu(user, user.group(launch), make_catalog())
    assert [g.name for g in menu.shared_volume_groups] == mounted


BIG = "9" * 400


@pytest.mark.parametrize("attributes, left_out", [
    pytest.param(dict(SHARED, **{"quota-memory": BIG}), True, id="quota-memory-400-digits"),
    pytest.param(dict(SHARED, **{"quota-cpu": BIG}), True, id="quota-cpu-400-digits"),
    pytest.param(dict(SHARED, **{"project-quota-gpu": "²"}), True, id="gpu-superscript"),
    pytest.param({"quota-cpu": BIG}, False, id="no-volume-nothing-to-say"),
])
def test_another_group_s_bad_attribute_leaves_only_it_out(attributes, left_out):
    user = make_user([make_group("launch", ["it:small"]),
                      make_group("bad", attributes=attributes, display_name="Bad")])
    menu = resolve_menu(user, user.group("launch"), make_catalog(instance_type_cr("small")))
    assert [it.name for it in menu.instance_types] == ["small"]
    assert menu.shared_volume_groups == ()
    assert bool(menu.left_out) is left_out
    for sentence in menu.left_out:
        assert sentence.startswith("Group Bad has an invalid ")
        assert sentence.endswith("Its shared volume is not mounted until then.")
        assert len(sentence) < 300  # the 400 digits are not echoed whole


@pytest.mark.parametrize("attributes", [
    pytest.param({"quota-cpu": "9" * 400}, id="cpu-400-digits-is-not-unlimited"),
    pytest.param({"quota-gpu": "٣"}, id="gpu-arabic-indic-digit"),
    pytest.param({"project-quota-gpu": "9" * 30}, id="gpu-too-many-digits"),
])
def test_unreadable_quota_is_misconfigured(attributes):
    with pytest.raises(GroupMisconfigured):
        group_settings(make_group("g", attributes=attributes))


@pytest.mark.parametrize("lists, env, problems", [
    pytest.param({"mlflow-tracking-envs": ["A=1", "B=x=y"], "mlflow-artifact-envs": ["C="]},
                 (("A", "1"), ("B", "x=y"), ("C", "")), [], id="all-values-in-order"),
    pytest.param({"mlflow-tracking-envs": ["NOEQUALS"]}, (), ["value 'NOEQUALS' is not NAME=value"],
                 id="no-equals"),
    pytest.param({"mlflow-tracking-envs": ["X\n=1"]}, (), ["is not NAME=value"],
                 id="name-with-newline"),
    pytest.param({"mlflow-tracking-envs": ["1A=1", "A B=1"]}, (),
                 ["'1A=1'", "'A B=1'"], id="bad-names"),
    pytest.param({"mlflow-artifact-envs": ["JUPYTERHUB_API_TOKEN=x", "LD_PRELOAD=/x.so",
                                           "MLFLOW_TRACKING_URI=x"]}, (),
                 ["may not set JUPYTERHUB_API_TOKEN", "may not set LD_PRELOAD",
                  "may not set MLFLOW_TRACKING_URI"], id="reserved-names"),
    pytest.param({"mlflow-tracking-envs": ["A=" + "x" * 20000]}, (), ["too long"],
                 id="value-too-long"),
])
def test_mlflow_list_attributes(lists, env, problems):
    group = Group(id="g", name="g", list_attributes={k: tuple(v) for k, v in lists.items()})
    settings = group_settings(group)
    assert settings.mlflow_env == env
    assert len(settings.problems) == len(problems)
    for sentence, expected in zip(settings.problems, problems):
        assert expected in sentence and sentence.endswith("ignored.")


def test_group_json_keeps_path_and_list_attributes():
    group = Group(id="g", name="team", path="/a/team",
                  list_attributes={"mlflow-tracking-envs": ("A=1", "B=2")})
    assert Group.from_json(json.loads(json.dumps(group.to_json()))) == group
    assert "list_attributes" not in Group(id="g", name="g").to_json()  # small when unused


def test_older_auth_state_without_path_or_lists_is_read():
    group = Group.from_json({"id": "g", "name": "team", "roles": [], "attributes": {}})
    assert (group.path, group.list_attributes) == ("", {})


@pytest.mark.parametrize("key, found", [
    pytest.param("solo", ["/solo"], id="unique-name"),
    pytest.param("team", ["/a/team", "/b/team"], id="shared-name"),
    pytest.param("/b/team", ["/b/team"], id="path"),
    pytest.param("/team", [], id="unknown-path"),
    pytest.param(["team"], [], id="not-text"),
])
def test_groups_are_found_by_name_or_path(key, found):
    user = make_user([make_group("team", id="1", path="/a/team"),
                      make_group("team", id="2", path="/b/team"),
                      make_group("solo", id="3", path="/solo")])
    assert [g.path for g in user.find_groups(key)] == found
    assert [user.group_key(g) for g in user.groups] == ["/a/team", "/b/team", "solo"]


# ---- issue 9: each group's roles parsed once, no groups x groups work --------------------

def test_each_group_s_roles_are_parsed_once_across_reads():
    grants_of.cache_clear()
    everyone = make_group("everyone", ["it:small"])
    user = make_user([make_group(f"g{i}", [f"img:i{i}", f"ds:d{i}"]) for i in range(20)],
                     everyone)
    catalog = make_catalog(instance_type_cr("small"),
                           *[dataset_cr(f"d{i}") for i in range(20)])
    for group in user.groups:
        assert len(resolve_menu(user, group, catalog).datasets) == 20
    again = UserEntitlements.from_json(json.loads(json.dumps(user.to_json())))  # a new read
    for group in again.groups:
        resolve_menu(again, group, catalog)
    assert grants_of.cache_info().misses == 21  # 20 groups and everyone, once each


def test_all_grants_is_the_union_of_the_user_s_groups_without_everyone():
    user = make_user([make_group("a", ["it:x", "ds:d"]), make_group("b", ["ds:rw:e"])],
                     make_group("everyone", ["img:y"]))
    assert user.all_grants() == Grants(frozenset({"x"}), frozenset(),
                                       frozenset({"d", "e"}), frozenset({"e"}))
    assert user.all_grants() is user.all_grants()  # once per snapshot
    assert user.all_grants("c1") == Grants()
    assert user.grants(None) == Grants()


# ---- worked out once, for everyone --------------------------------------------------------

CATALOG_OBJS = (instance_type_cr("small"), image_cr("base"), dataset_cr("data"))
ROLES = ("it:small", "img:base", "ds:data")


def test_users_of_the_same_groups_share_what_their_group_offers():
    catalog = make_catalog(*CATALOG_OBJS)
    alice = make_user([make_group("lab", ROLES)], username="alice")
    bob = make_user([make_group("lab", ROLES)], username="bob")
    ours, theirs = (resolve_menu(u, u.group("lab"), catalog) for u in (alice, bob))
    assert summary(ours) == (["small"], ["base"], {"data": False}, [])
    assert ours.datasets is theirs.datasets and ours.instance_types is theirs.instance_types


def test_a_new_catalog_is_read_afresh():
    user = make_user([make_group("lab", ROLES)])
    before = resolve_menu(user, user.group("lab"), make_catalog(*CATALOG_OBJS))
    after = resolve_menu(user, user.group("lab"), make_catalog(
        instance_type_cr("small"), image_cr("base"),
        dataset_cr("data", annotations={"dataset.primehub.io/homeSymlink": "true"})))
    assert [m.dataset.home_symlink for m in before.datasets] == [False]
    assert [m.dataset.home_symlink for m in after.datasets] == [True]


def test_a_groups_settings_follow_its_attributes():
    assert group_settings(make_group("lab", attributes={"quota-cpu": "1"})).user_quota.cpu == 1
    assert group_settings(make_group("lab", attributes={"quota-cpu": "2"})).user_quota.cpu == 2
    with pytest.raises(GroupMisconfigured):
        group_settings(make_group("lab", attributes={"quota-cpu": "two"}))
    with pytest.raises(GroupMisconfigured):  # said again, not remembered as fine
        group_settings(make_group("lab", attributes={"quota-cpu": "two"}))
