"""`user_options`: form translation and validation against current entitlements
(DESIGN §4, primehub_spawner.options)."""
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

from primehub_spawner.entitlements import Group
from primehub_spawner.options import (
    MAX_ENV,
    NO_GROUP,
    OptionsRefused,
    options_from_form,
    validate_user_options,
)
from primehub_spawner.quota import Usage

# ---- options_from_form: translation only --------------------------------------------------

@pytest.mark.parametrize("formdata, expected", [
    pytest.param({}, {"safe_mode": False}, id="empty-form"),
    pytest.param({"group": ["research"], "instance_type": ["cpu-2"], "image": ["pytorch"]},
                 {"group": "research", "instance_type": "cpu-2", "image": "pytorch",
                  "safe_mode": False}, id="choices"),
    pytest.param({"group": ["a", "b"]}, {"group": "a", "safe_mode": False}, id="first-value"),
    pytest.param({"group": [""], "instance_type": [], "image": [""]}, {"safe_mode": False},
                 id="empty-choices-dropped"),
    pytest.param({"safe_mode": ["on"]}, {"safe_mode": True}, id="checkbox-on"),
    pytest.param({"safe_mode": ["true"]}, {"safe_mode": True}, id="checkbox-true"),
    pytest.param({"safe_mode": ["1"]}, {"safe_mode": True}, id="checkbox-1"),
    pytest.param({"safe_mode": ["off"]}, {"safe_mode": False}, id="checkbox-off"),
    pytest.param({"safe_mode": []}, {"safe_mode": False}, id="checkbox-unchecked"),
    pytest.param({"env_name": ["A", "B"], "env_value": ["1", "two words"]},
                 {"safe_mode": False, "env": {"A": "1", "B": "two words"}}, id="env-rows"),
    pytest.param({"env_name": ["", "A", ""], "env_value": ["", "1", ""]},
                 {"safe_mode": False, "env": {"A": "1"}}, id="empty-env-rows-skipped"),
    pytest.param({"env_name": ["", ""], "env_value": ["", ""]}, {"safe_mode": False},
                 id="only-empty-rows"),
    pytest.param({"env_name": ["  A  "], "env_value": [" x "]},
                 {"safe_mode": False, "env": {"A": " x "}}, id="name-stripped-value-kept"),
    pytest.param({"env_name": ["A", "B"], "env_value": ["1"]},
                 {"safe_mode": False, "env": {"A": "1", "B": ""}}, id="missing-value-is-empty"),
    pytest.param({"env_name": [""], "env_value": ["orphan"]},
                 {"safe_mode": False, "env": {"": "orphan"}},
                 id="value-without-name-left-for-validation"),
    pytest.param({"_xsrf": ["token"], "cpu": ["8"], "autolaunch": ["1"], "group": ["g"]},
                 {"group": "g", "safe_mode": False}, id="unknown-fields-ignored"),
])
def test_options_from_form(formdata, expected):
    assert options_from_form(formdata) == expected


def test_form_with_a_nameless_variable_is_refused_by_validation():
    options = options_from_form({"group": ["research"], "env_name": [""], "env_value": ["x"]})
    with pytest.raises(OptionsRefused) as info:
        validate_user_options(options, demo_user("alice"), demo_catalog())
    assert info.value.status == 400 and "name '' is not valid" in info.value.message


# ---- validate_user_options: what starts ---------------------------------------------------

@pytest.mark.parametrize("username, options, expected", [
    pytest.param("alice", {}, ("class-101", "cpu-1", "base-notebook"),
                 id="all-defaults-first-group-by-display-name"),
    pytest.param("alice", None, ("class-101", "cpu-1", "base-notebook"), id="none-is-empty"),
    pytest.param("alice", {"group": "research"}, ("research", "cpu-1", "base-notebook"),
                 id="first-instance-type-is-smallest"),
    pytest.param("alice", {"group": "research", "instance_type": "gpu-small"},
                 ("research", "gpu-small", "base-notebook"), id="cpu-image-runs-on-gpu"),
    pytest.param("alice", {"group": "research", "instance_type": "gpu-small", "image": "tf-gpu"},
                 ("research", "gpu-small", "tf-gpu"), id="gpu-image-on-gpu"),
    pytest.param("alice", {"group": "research", "image": "pytorch"},
                 ("research", "cpu-1", "pytorch"), id="image-both-on-cpu"),
    pytest.param("alice", {"group": "class-101", "instance_type": "legacy-gpu",
                           "image": "private-image"},
                 ("class-101", "legacy-gpu", "private-image"), id="everything-given"),
    pytest.param("alice", {"group": "research", "instance_type": "cpu-1"},
                 ("research", "cpu-1", "base-notebook"), id="instance-type-from-everyone"),
    pytest.param("bob", {}, ("class-101", "cpu-1", "base-notebook"), id="bob"),
    pytest.param("phadmin", {}, ("research", "cpu-1", "base-notebook"), id="phadmin"),
    pytest.param("dave", {}, ("empty-group", "cpu-1", "base-notebook"), id="everyone-grants"),
])
def test_valid_choices(username, options, expected):
    choice = validate_user_options(options, demo_user(username), demo_catalog())
    assert (choice.menu.group.name, choice.instance_type.name, choice.image.name) == expected
    assert choice.safe_mode is False
    assert choice.env == {}


@pytest.mark.parametrize("objs, it_name, expected", [
    pytest.param([image_cr("a", displayName="A", type="gpu"),
                  image_cr("b", displayName="B", type="cpu")], None, "b",
                 id="skips-gpu-only-image-on-cpu-type"),
    pytest.param([image_cr("a", displayName="A", url=""), image_cr("b", displayName="B")],
                 None, "b", id="skips-not-ready-image"),
    pytest.param([instance_type_cr("gpu", {"limits.gpu": 1, "gpuResourceName": "nvidia.com/gpu"}),
                  image_cr("a", displayName="A", type="gpu"), image_cr("b", displayName="B")],
                 "gpu", "a", id="gpu-only-image-first-on-gpu-type"),
    pytest.param([image_cr("z", displayName="alpha"), image_cr("a", displayName="Beta")],
                 None, "z", id="first-by-display-name"),
])
def test_default_image_is_the_first_that_fits(objs, it_name, expected):
    user, catalog = lab(*objs)
    options = {"instance_type": it_name} if it_name else {}
    assert validate_user_options(options, user, catalog).image.name == expected


def test_safe_mode_and_env_pass_through():
    choice = validate_user_options({"group": "research", "safe_mode": True,
                                    "env": {"MY_SETTING": "1", "_x": "", "lower": "v"}},
                                   demo_user("alice"), demo_catalog())
    assert choice.safe_mode is True
    assert choice.env == {"MY_SETTING": "1", "_x": "", "lower": "v"}


def test_as_many_variables_as_allowed():
    env = {f"V{i}": str(i) for i in range(MAX_ENV)}
    assert validate_user_options({"env": env}, demo_user("alice"), demo_catalog()).env == env


def test_choice_summary():
    choice = validate_user_options({"group": "research", "instance_type": "gpu-small",
                                    "image": "pytorch"}, demo_user("alice"), demo_catalog())
    assert choice.summary() == {
        "group": "research", "group_display_name": "Research Lab",
        "instance_type": "gpu-small", "instance_type_display_name": "GPU small",
        "image": "pytorch", "image_display_name": "PyTorch"}


def test_usage_is_asked_for_the_launch_group():
    asked = []

    def usage(group):
        asked.append(group.name)
        return Usage(), Usage()

    validate_user_options({"group": "research"}, demo_user("alice"), demo_catalog(), usage=usage)
    assert asked == ["research"]


def test_role_prefix_is_applied():
    user = make_user([make_group("g", ["c1:it:small", "c1:img:base", "it:big"])])
    catalog = make_catalog(instance_type_cr("small"), instance_type_cr("big"), image_cr("base"))
    assert validate_user_options({}, user, catalog, prefix="c1").instance_type.name == "small"
    with pytest.raises(OptionsRefused) as info:
        validate_user_options({"instance_type": "big"}, user, catalog, prefix="c1")
    assert info.value.status == 403


# ---- validate_user_options: every refusal -------------------------------------------------

NOTHING = Usage()


def quota_used(user=NOTHING, group=NOTHING):
    return lambda _group: (user, group)


R = "research"


@pytest.mark.parametrize("username, options, usage, status, reason", [
    # shape
    pytest.param("alice", [], None, 400, "Server options must be a JSON object.", id="list"),
    pytest.param("alice", "research", None, 400, "must be a JSON object", id="string"),
    pytest.param("alice", 5, None, 400, "must be a JSON object", id="number"),
    pytest.param("alice", {"cpu": 4}, None, 400, "Unknown server option 'cpu'.",
                 id="unknown-key"),
    pytest.param("alice", {"b": 1, "a": 2, "group": R}, None, 400,
                 "Unknown server option 'a', 'b'. Known options are: group, instance_type",
                 id="unknown-keys-listed"),
    pytest.param("alice", {"group": 1}, None, 400,
                 "Server option 'group' must be a non-empty string.", id="group-number"),
    pytest.param("alice", {"group": ""}, None, 400, "'group' must be a non-empty string",
                 id="group-empty"),
    pytest.param("alice", {"instance_type": ["cpu-1"]}, None, 400,
                 "'instance_type' must be a non-empty string", id="instance-type-list"),
    pytest.param("alice", {"image": {"name": "x"}}, None, 400,
                 "'image' must be a non-empty string", id="image-mapping"),
    pytest.param("alice", {"safe_mode": "true"}, None, 400,
                 "'safe_mode' must be true or false", id="safe-mode-string"),
    pytest.param("alice", {"safe_mode": 1}, None, 400, "'safe_mode' must be true or false",
                 id="safe-mode-number"),
    pytest.param("alice", {"env": ["A=1"]}, None, 400,
                 "'env' must be an object of names to strings", id="env-list"),
    pytest.param("alice", {"env": "A=1"}, None, 400, "'env' must be an object", id="env-string"),
    # group
    pytest.param("carol", {}, None, 403, NO_GROUP, id="no-launch-group"),
    pytest.param("carol", {"group": R}, None, 403, NO_GROUP, id="no-launch-group-named"),
    pytest.param("alice", {"group": "empty-group"}, None, 403,
                 "You are not a member of group 'empty-group'", id="group-not-a-member"),
    pytest.param("alice", {"group": "nope"}, None, 403, "not a member of group 'nope'",
                 id="group-unknown"),
    pytest.param("alice", {"group": "everyone"}, None, 403, "cannot be a launch group",
                 id="group-everyone"),
    pytest.param("alice", {"group": "Research"}, None, 403, "not a member of group 'Research'",
                 id="group-wrong-case"),
    # instance type
    pytest.param("alice", {"group": "class-101", "instance_type": "gpu-small"}, None, 403,
                 "The instance type 'gpu-small' is not available in group Class 101. "
                 "Available: cpu-1, legacy-gpu.", id="instance-type-of-another-group"),
    pytest.param("alice", {"group": R, "instance_type": "huge"}, None, 403,
                 "The instance type 'huge' is not available in group Research Lab",
                 id="instance-type-missing"),
    pytest.param("bob", {"instance_type": "cpu-2"}, None, 403,
                 "instance type 'cpu-2' is not available", id="instance-type-ungranted"),
    # image
    pytest.param("alice", {"group": "class-101", "image": "pytorch"}, None, 403,
                 "The image 'pytorch' is not available in group Class 101", id="image-ungranted"),
    pytest.param("alice", {"group": R, "image": "ghost"}, None, 403,
                 "The image 'ghost' is not available", id="image-missing"),
    pytest.param("alice", {"group": R, "instance_type": "cpu-2", "image": "tf-gpu"}, None, 400,
                 "Image TensorFlow GPU needs a GPU instance type.",
                 id="gpu-only-image-on-cpu-type"),
    pytest.param("alice", {"group": R, "image": "tf-gpu"}, None, 400, "needs a GPU",
                 id="gpu-only-image-on-default-type"),
    pytest.param("alice", {"group": "class-101", "image": "building-image"}, None, 400,
                 "Image Building Image is not ready yet", id="image-not-ready"),
    # environment
    pytest.param("alice", {"env": {"1ABC": "x"}}, None, 400,
                 "Environment variable name '1ABC' is not valid", id="env-leading-digit"),
    pytest.param("alice", {"env": {"A-B": "x"}}, None, 400, "name 'A-B' is not valid",
                 id="env-dash"),
    pytest.param("alice", {"env": {"A B": "x"}}, None, 400, "name 'A B' is not valid",
                 id="env-space"),
    pytest.param("alice", {"env": {"": "x"}}, None, 400, "name '' is not valid", id="env-empty"),
    pytest.param("alice", {"env": {"É": "x"}}, None, 400, "is not valid", id="env-non-ascii"),
    pytest.param("alice", {"env": {"JUPYTERHUB_API_TOKEN": "x"}}, None, 400,
                 "Environment variable JUPYTERHUB_API_TOKEN is set by the hub and cannot be "
                 "changed.", id="reserved-jupyterhub-token"),
    pytest.param("alice", {"env": {"JUPYTERHUB_ANYTHING": "x"}}, None, 400, "set by the hub",
                 id="reserved-jupyterhub-prefix"),
    pytest.param("alice", {"env": {"JPY_API_TOKEN": "x"}}, None, 400, "set by the hub",
                 id="reserved-jpy-prefix"),
    pytest.param("alice", {"env": {"PRIMEHUB_USER": "bob"}}, None, 400,
                 "PRIMEHUB_USER is set by the hub", id="reserved-primehub-user"),
    pytest.param("alice", {"env": {"PRIMEHUB_SOMETHING": "x"}}, None, 400, "set by the hub",
                 id="reserved-primehub-prefix"),
    pytest.param("alice", {"env": {"TZ": "UTC"}}, None, 400, "TZ is set by the hub",
                 id="reserved-tz"),
    pytest.param("alice", {"env": {"GROUP_NAME": "x"}}, None, 400, "set by the hub",
                 id="reserved-group-name"),
    pytest.param("alice", {"env": {"INSTANCE_TYPE": "x"}}, None, 400, "set by the hub",
                 id="reserved-instance-type"),
    pytest.param("alice", {"env": {"NVIDIA_VISIBLE_DEVICES": "all"}}, None, 400,
                 "set by the hub", id="reserved-nvidia-visible-devices"),
    pytest.param("alice", {"group": R, "env": {"MLFLOW_TRACKING_URI": "x"}}, None, 400,
                 "set by the hub", id="reserved-mlflow"),
    pytest.param("alice", {"env": {"PUBLIC_ENV_REGION": "us"}}, None, 400,
                 "PUBLIC_ENV_REGION is set by the hub", id="reserved-dataset-variable"),
    pytest.param("alice", {"env": {"A": 1}}, None, 400,
                 "Environment variable A must be a string.", id="env-value-number"),
    pytest.param("alice", {"env": {"A": None}}, None, 400, "A must be a string",
                 id="env-value-null"),
    pytest.param("alice", {"env": {"A": True}}, None, 400, "A must be a string",
                 id="env-value-bool"),
    pytest.param("alice", {"env": {"A": ["x"]}}, None, 400, "A must be a string",
                 id="env-value-list"),
    pytest.param("alice", {"env": {"A": "x\x00y"}}, None, 400, "NUL byte", id="env-value-nul"),
    pytest.param("alice", {"env": {"A": "x" * 20000}}, None, 400, "A is too long",
                 id="env-value-too-long"),
    pytest.param("alice", {"env": {f"V{i}": "x" for i in range(MAX_ENV + 1)}}, None, 400,
                 f"At most {MAX_ENV} environment variables may be set.", id="env-too-many"),
    # quota
    pytest.param("alice", {"group": R, "instance_type": "cpu-2"}, quota_used(user=Usage(cpu=3)),
                 403, "This needs 2 CPU, but your share of group Research Lab already uses 3 "
                 "of its 4 CPU quota.", id="user-quota-cpu"),
    pytest.param("alice", {"group": R, "instance_type": "gpu-small"},
                 quota_used(user=Usage(gpu=1)), 403, "your share of group Research Lab",
                 id="user-quota-gpu"),
    pytest.param("alice", {"group": R, "instance_type": "gpu-small"},
                 quota_used(group=Usage(gpu=2)), 403,
                 "but group Research Lab already uses 2 of its 2 GPU quota",
                 id="project-quota-gpu"),
    pytest.param("alice", {"group": R, "instance_type": "cpu-2"},
                 quota_used(group=Usage(memory=30 * 2**30)), 403, "32Gi memory quota",
                 id="project-quota-memory"),
])
def test_refused(username, options, usage, status, reason):
    with pytest.raises(OptionsRefused) as info:
        validate_user_options(options, demo_user(username), demo_catalog(), usage=usage)
    assert info.value.status == status
    assert reason in info.value.message
    assert str(info.value) == info.value.message
    assert info.value.message.endswith(".")  # a sentence, not a code


@pytest.mark.parametrize("world, options, status, reason", [
    pytest.param(lambda: (make_user([make_group("g", ["img:base"])]),
                          make_catalog(image_cr("base"))), {}, 403,
                 "Group g offers no instance type; ask an administrator.",
                 id="no-instance-type"),
    pytest.param(lambda: lab(image_cr("g", type="gpu")), {}, 403,
                 "Group lab offers no image that runs on instance type small.",
                 id="no-image-fits"),
    pytest.param(lambda: lab(image_cr("b", url="")), {}, 403,
                 "offers no image that runs", id="only-image-not-ready"),
    pytest.param(lambda: (make_user([make_group("g", ["it:small"])]),
                          make_catalog(instance_type_cr("small"))), {}, 403,
                 "offers no image", id="no-image"),
    pytest.param(lambda: lab(attributes={"quota-cpu": "lots", "displayName": "Lab"}), {}, 403,
                 "Group Lab has an invalid quota-cpu attribute 'lots'",
                 id="misconfigured-quota"),
    pytest.param(lambda: lab(attributes={"enabled-shared-volume": "true"}), {}, 403,
                 "shared-volume-capacity", id="misconfigured-shared-volume"),
])
def test_refused_in_a_small_world(world, options, status, reason):
    user, catalog = world()
    with pytest.raises(OptionsRefused) as info:
        validate_user_options(options, user, catalog)
    assert info.value.status == status
    assert reason in info.value.message


def test_quota_is_not_checked_without_usage():
    choice = validate_user_options({"group": R, "instance_type": "gpu-small"},
                                   demo_user("alice"), demo_catalog(), usage=None)
    assert choice.instance_type.name == "gpu-small"


def test_an_omitted_instance_type_is_the_first_not_over_quota():
    # The form preselects `b` when `a` is over quota; a REST start of {} launches the same
    # (it was refused with a's quota sentence before issue 9).
    user, catalog = lab(instance_type_cr("a", {"limits.cpu": 1, "limits.memory": "8G"}),
                        instance_type_cr("b", {"limits.cpu": 2, "limits.memory": "1G"}),
                        attributes={"quota-memory": "4G"})
    choice = validate_user_options({}, user, catalog, usage=quota_used())
    assert choice.instance_type.name == "b"
    with pytest.raises(OptionsRefused) as info:
        validate_user_options({"instance_type": "a"}, user, catalog, usage=quota_used())
    assert info.value.status == 403 and "This needs 8Gi memory" in info.value.message


def test_no_quota_attributes_means_unlimited():
    user, catalog = lab()
    huge = quota_used(Usage(1000, 100, 10**15), Usage(1000, 100, 10**15))
    assert validate_user_options({}, user, catalog, usage=huge).instance_type.name == "small"


# ---- hardening (issue 8): full matches, bounded echoes, capped names -----------------------

HUGE = "K" * 160_000


@pytest.mark.parametrize("options, status, reason", [
    pytest.param({"env": {"X\n": "1"}}, 400, "Environment variable name 'X\\n' is not valid",
                 id="env-name-trailing-newline"),
    pytest.param({"env": {"\nX": "1"}}, 400, "is not valid", id="env-name-leading-newline"),
    pytest.param({"env": {"X\r": "1"}}, 400, "is not valid", id="env-name-carriage-return"),
    pytest.param({"env": {"Ⅻ": "1"}}, 400, "is not valid", id="env-name-unicode-numeral"),
    pytest.param({"env": {"A" * 257: "1"}}, 400, "is longer than 256 characters",
                 id="env-name-too-long"),
    pytest.param({"env": {HUGE: "1"}}, 400, "is longer than 256 characters",
                 id="env-name-160-kb"),
    pytest.param({HUGE: 1}, 400, "Unknown server option 'KKKK", id="unknown-key-160-kb"),
    pytest.param({f"k{i}": 1 for i in range(50)}, 400, "and 45 more.",
                 id="many-unknown-keys-counted"),
    pytest.param({"group": "research\n"}, 403, "not a member of group 'research\\n'",
                 id="group-trailing-newline"),
    pytest.param({"group": "g" * 254}, 400, "'group' is longer than 253 characters",
                 id="group-too-long"),
    pytest.param({"instance_type": "i" * 254}, 400, "'instance_type' is longer than 253",
                 id="instance-type-too-long"),
    pytest.param({"image": HUGE}, 400, "'image' is longer than 253", id="image-160-kb"),
    pytest.param({"group": "g" * 253}, 403, "not a member of group 'gggg", id="group-253-echo-cut"),
    pytest.param({"instance_type": "cpu-1\n"}, 403, "instance type 'cpu-1\\n' is not available",
                 id="instance-type-trailing-newline"),
])
def test_refused_with_a_bounded_sentence(options, status, reason):
    with pytest.raises(OptionsRefused) as info:
        validate_user_options(options, demo_user("alice"), demo_catalog())
    assert (info.value.status, reason in info.value.message) == (status, True), info.value.message
    assert len(info.value.message) < 400


@pytest.mark.parametrize("env, reason", [
    pytest.param({"MLFLOW_S3_ENDPOINT_URL": "x"}, "MLFLOW_S3_ENDPOINT_URL is set by the hub",
                 id="group-mlflow-list-variable"),
    pytest.param({"AWS_ACCESS_KEY_ID": "x"}, "AWS_ACCESS_KEY_ID is set by the hub",
                 id="group-mlflow-artifact-variable"),
])
def test_the_launch_group_s_mlflow_variables_are_reserved(env, reason):
    _, catalog = lab()
    lists = {"mlflow-tracking-envs": ("MLFLOW_S3_ENDPOINT_URL=http://s3",),
             "mlflow-artifact-envs": ("AWS_ACCESS_KEY_ID=k",)}
    user = make_user([Group(id="g", name="lab", roles=("it:small", "img:base"),
                            list_attributes=lists)])
    with pytest.raises(OptionsRefused) as info:
        validate_user_options({"env": env}, user, catalog)
    assert info.value.status == 400 and reason in info.value.message


def two_teams():
    return make_user([make_group("team", ["it:small", "img:base"], id="1", path="/a/team"),
                      make_group("team", ["it:small", "img:base"], id="2", path="/b/team")])


@pytest.mark.parametrize("options, expected", [
    pytest.param({"group": "/b/team"}, "2", id="by-path"),
    pytest.param({"group": "/a/team"}, "1", id="other-by-path"),
])
def test_a_subgroup_is_named_by_its_path(options, expected):
    catalog = make_catalog(instance_type_cr("small"), image_cr("base"))
    assert validate_user_options(options, two_teams(), catalog).menu.group.id == expected


def test_a_name_two_groups_share_is_refused():
    catalog = make_catalog(instance_type_cr("small"), image_cr("base"))
    with pytest.raises(OptionsRefused) as info:
        validate_user_options({"group": "team"}, two_teams(), catalog)
    assert info.value.status == 400
    assert info.value.message == ("You are in several groups named 'team' (/a/team, /b/team); "
                                  "name the group by its path.")


def test_another_group_s_bad_attribute_does_not_stop_a_start():
    user = demo_user("alice")
    bad = make_group("broken", attributes={"quota-memory": "9" * 400,
                                           "enabled-shared-volume": "true",
                                           "shared-volume-capacity": "1G"})
    user = make_user([*user.groups, bad], user.everyone)
    choice = validate_user_options({"group": "research"}, user, demo_catalog())
    assert [g.name for g in choice.menu.shared_volume_groups] == ["research"]
    assert "Group broken has an invalid quota-memory" in choice.menu.left_out[0]
    with pytest.raises(OptionsRefused) as info:
        validate_user_options({"group": "broken"}, user, demo_catalog())
    assert info.value.status == 403 and "invalid quota-memory attribute '99" in info.value.message
