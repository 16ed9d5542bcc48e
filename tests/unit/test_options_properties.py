"""Property tests of the decisions (issue 8, "bad input, measured"): for any `user_options`
of any JSON shape, any group attributes and roles, `validate_user_options` either refuses
with OptionsRefused (400/403 and a sentence) or returns a Choice that holds only what the
user is granted; `make_form_view` always gives a form. Nothing else may escape. And the
form preselects what a start with the same request launches, or says why it would be
refused (issue 9: one model for both)."""
from __future__ import annotations

from builders import demo_catalog, demo_groups
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from primehub_spawner.entitlements import Group, UserEntitlements
from primehub_spawner.form import make_form_view
from primehub_spawner.menu import build_menu
from primehub_spawner.names import is_env_name, is_reserved_env
from primehub_spawner.options import OptionsRefused, validate_user_options
from primehub_spawner.quota import Usage

CATALOG = demo_catalog()
DEMO = demo_groups()
NAMES = sorted({*CATALOG.instance_types, *CATALOG.images, *CATALOG.datasets})
GROUP_NAMES = ["research", "class-101", "ml_team", "ml-team", "Research", "team", "everyone"]
ATTRIBUTES = ["displayName", "quota-cpu", "quota-gpu", "quota-memory", "project-quota-cpu",
              "project-quota-gpu", "project-quota-memory", "enabled-shared-volume",
              "shared-volume-capacity", "launch-group-only", "home-symlink",
              "mlflow-tracking-uri", "mlflow-ui-url"]
PROPERTY = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

# Text that hits the edges: newlines, non-ASCII digits, long runs, markup.
edgy_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", "true", "TRUE", "10G", "8Gi", "4", "0.5", "-1", "²", "٣",
                     "1\n", "x\n", "9" * 400, "<b>", "A=1", "=x", "LD_PRELOAD=/x.so"]),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                  max_size=3),
    max_leaves=8)
names = st.one_of(st.sampled_from(NAMES + GROUP_NAMES + ["/a/team", "/b/team"]), edgy_text)
user_options = st.one_of(
    json_values,
    st.fixed_dictionaries({}, optional={
        "group": st.one_of(names, json_values),
        "instance_type": st.one_of(names, json_values),
        "image": st.one_of(names, json_values),
        "safe_mode": st.one_of(st.booleans(), json_values),
        "env": st.one_of(st.dictionaries(edgy_text, st.one_of(edgy_text, json_values),
                                         max_size=4), json_values),
    }),
)
GRANTS = [f"{kind}:{name}" for kind in ("it", "img", "ds", "ds:rw") for name in NAMES]
# Read-write grants drawn apart, so that each dataset type meets `ds:rw:` often.
RW_GRANTS = [f"ds:rw:{name}" for name in sorted(CATALOG.datasets)]
roles = st.builds(
    lambda grants, rw, edgy: grants + rw + edgy,
    st.lists(st.sampled_from(GRANTS), max_size=10),
    st.lists(st.sampled_from(RW_GRANTS), max_size=4),
    st.lists(edgy_text, max_size=3))


@st.composite
def groups(draw, name=None):
    name = name or draw(st.sampled_from(GROUP_NAMES[:-1]))
    parent = draw(st.sampled_from(["", "/a", "/b"]))
    attributes = draw(st.dictionaries(st.sampled_from(ATTRIBUTES), edgy_text, max_size=6))
    if draw(st.booleans()):  # a readable shared volume, so that volume names meet
        attributes.update({"enabled-shared-volume": "true", "shared-volume-capacity": "1G"})
    lists = draw(st.dictionaries(st.sampled_from(["mlflow-tracking-envs", "mlflow-artifact-envs"]),
                                 st.lists(edgy_text, max_size=3).map(tuple), max_size=2))
    return Group(id=f"{parent}/{name}", name=name, roles=tuple(draw(roles)),
                 attributes=attributes, list_attributes=lists, path=f"{parent}/{name}")


@st.composite
def users(draw):
    mine = draw(st.lists(st.one_of(groups(), st.sampled_from(list(DEMO.values()))),
                         max_size=4, unique_by=lambda g: g.id))
    everyone = draw(st.one_of(st.none(), st.just(DEMO["everyone"]), groups(name="everyone")))
    return UserEntitlements(username="u", user_id="uid-u",
                            groups=tuple(g for g in mine if g.name != "everyone"),
                            everyone=everyone)


usages = st.one_of(st.none(), st.builds(
    lambda cpu, gpu, mem: (lambda group: (Usage(cpu, gpu, mem), Usage(cpu, gpu, mem))),
    st.floats(0, 64), st.integers(0, 8), st.integers(0, 2**40)))


def granted(group: Group | None, kind: str, name: str) -> bool:
    return group is not None and f"{kind}:{name}" in group.roles


# Options a person would send: one of their groups (by name or path), catalog names, valid
# variable names; so that many are accepted and the Choice itself is checked.
def plausible_options(user: UserEntitlements):
    keys = [g.name for g in user.groups] + [g.path for g in user.groups] + GROUP_NAMES
    return st.fixed_dictionaries({}, optional={
        "group": st.sampled_from(keys),
        "instance_type": st.sampled_from(sorted(CATALOG.instance_types)),
        "image": st.sampled_from(sorted(CATALOG.images)),
        "safe_mode": st.booleans(),
        "env": st.dictionaries(st.from_regex(r"[A-Z_][A-Z0-9_]{0,8}", fullmatch=True),
                               st.text(max_size=5), max_size=3),
    })


demo_users = st.builds(
    lambda mine, extra, everyone: UserEntitlements(
        username="u", user_id="uid-u", everyone=everyone,
        groups=tuple([DEMO[n] for n in mine] + [g for g in extra if g.name != "everyone"])),
    st.lists(st.sampled_from(["research", "class-101", "empty-group"]), unique=True),
    st.lists(groups(), max_size=2, unique_by=lambda g: g.id),
    st.one_of(st.just(DEMO["everyone"]), groups(name="everyone")))


@PROPERTY
@given(user_options, users(), usages)
def test_only_designed_refusals_or_a_granted_choice(options, user, usage):
    check(options, user, usage)


@PROPERTY
@given(demo_users, st.one_of(st.none(), usages), st.data())
def test_a_plausible_choice_is_granted_or_refused(user, usage, data):
    check(data.draw(plausible_options(user)), user, usage)


def check(options, user, usage) -> None:
    try:
        choice = validate_user_options(options, user, CATALOG, usage=usage)
    except OptionsRefused as refused:
        event(f"refused {refused.status}")
        assert refused.status in (400, 403)
        assert refused.message.endswith(".") and len(refused.message) < 1000
        return
    event("accepted")
    group, everyone = choice.menu.group, user.everyone
    assert group in user.groups
    if isinstance(options, dict) and isinstance(options.get("group"), str):
        assert options["group"] in (group.name, group.path)
    launch = (group, everyone)
    it, image = choice.instance_type, choice.image
    assert any(granted(g, "it", it.name) for g in launch) and it.name in CATALOG.instance_types
    assert any(granted(g, "img", image.name) for g in launch) and image.name in CATALOG.images
    assert image.ready and image.fits(it)
    for key, picked in (("instance_type", it.name), ("image", image.name)):
        if isinstance(options, dict) and options.get(key) is not None:
            assert options[key] == picked
    for mounted in choice.menu.datasets:
        name, dataset = mounted.dataset.name, mounted.dataset
        by_launch = any(granted(g, "ds", name) or granted(g, "ds:rw", name) for g in launch)
        by_any = by_launch or any(granted(g, "ds", name) or granted(g, "ds:rw", name)
                                  for g in user.groups)
        assert by_any and (by_launch or not dataset.launch_group_only)
        rw = any(granted(g, "ds:rw", name) for g in launch) and dataset.type in {"pv", "nfs", "hostPath"}
        assert mounted.writable is rw
    for name in choice.env:
        assert is_env_name(name) and not is_reserved_env(name)
    volumes = [g.name.lower().replace("_", "-") for g in choice.menu.shared_volume_groups]
    assert len(volumes) == len(set(volumes))  # never two groups on one volume


@PROPERTY
@given(user_options, users(), usages, st.booleans(), st.booleans())
def test_any_preselection_and_attributes_give_a_form(preselect, user, usage, autolaunch, explain):
    view = make_form_view(user, CATALOG, usage=usage, preselect=preselect,
                          autolaunch=autolaunch, explain=explain)
    if user.groups:
        assert view.menu.key in [g.key for g in view.menu.groups]
        assert all(len(notice) < 1000 for notice in view.notices)
    else:
        assert view.problem and view.menu is None


def without_env(asked):
    # The variables are checked after the menu, and the form only shows them back.
    return {k: v for k, v in asked.items() if k != "env"}


@st.composite
def offered(draw, user, usage):
    """A request naming what the menu lists (blocked or not): a group of the user, then an
    instance type and an image of that group's menu, each maybe."""
    asked = {}
    keys = [user.group_key(g) for g in user.groups]
    if keys and draw(st.booleans()):
        asked["group"] = draw(st.sampled_from(keys))
    menu = build_menu(user, CATALOG, asked, usage=usage)
    for key, names in (("instance_type", [r.instance_type.name for r in menu.instance_types]),
                       ("image", [r.image.name for r in menu.images])):
        if names and draw(st.booleans()):
            asked[key] = draw(st.sampled_from(names))
    return asked


@PROPERTY
@given(st.one_of(demo_users, users()), usages, st.data())
def test_the_form_preselects_what_a_start_launches(user, usage, data):
    # Mostly requests for what is listed, so that many are accepted and compared.
    asked = data.draw(st.one_of(offered(user, usage), st.just({}),
                                plausible_options(user).map(without_env)))
    view = make_form_view(user, CATALOG, usage=usage, preselect=asked)
    try:
        choice = validate_user_options(asked, user, CATALOG, usage=usage)
    except OptionsRefused as refused:
        event("refused: the form says why")
        said = [*view.notices, view.problem]
        if view.menu and view.menu.problem:
            said.append(view.menu.problem.reason)
        assert refused.message in said
        return
    event("accepted: the form preselects it" + (" (asked nothing)" if not asked else ""))
    assert view.notices == ()
    assert (view.menu.group, view.checked_instance_type, view.checked_image) == (
        choice.menu.group, choice.instance_type.name, choice.image.name)
