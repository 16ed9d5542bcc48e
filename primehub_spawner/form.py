"""The Server Options form as data: groups, their lists, what is preselected and why not.

Pure. The spawner passes the cached entitlements and catalog, a usage function backed by
the shared pod watch, and the preselection (a deep link or a refused choice); the template
`templates/form.html` only displays the result.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .catalog import Catalog, Image, InstanceType
from .entitlements import Group, GroupMenu, GroupMisconfigured, UserEntitlements, resolve_menu
from .names import shown
from .options import NO_GROUP, quota_problem
from .quantities import format_cpu, format_memory
from .quota import Usage


@dataclass
class InstanceTypeView:
    it: InstanceType
    problem: str | None  # over quota: shown disabled with this reason
    selected: bool = False


@dataclass
class ImageView:
    image: Image
    selected: bool = False


@dataclass
class GroupView:
    group: Group
    # How the form names the group (`group` field, `?group=`): its name, or its path when
    # the user has two groups of that name.
    key: str = ""
    problem: str | None = None
    # What this launch leaves out and why (another group misconfigured, a bad attribute).
    notes: list[str] = field(default_factory=list)
    menu: GroupMenu | None = None
    instance_types: list[InstanceTypeView] = field(default_factory=list)
    images: list[ImageView] = field(default_factory=list)
    quota_lines: list[str] = field(default_factory=list)
    selected: bool = False


@dataclass
class FormView:
    groups: list[GroupView]
    problem: str | None = None
    notices: list[str] = field(default_factory=list)
    autolaunch: str | None = None  # the "You are about to start ..." sentence
    safe_mode: bool = False
    env: list[tuple[str, str]] = field(default_factory=list)


def describe_usage(used: Usage, quota, scope: str) -> str | None:
    if quota.unlimited:
        return None
    parts = []
    if quota.cpu is not None:
        parts.append(f"{format_cpu(used.cpu)} of {format_cpu(quota.cpu)} CPU")
    if quota.gpu is not None:
        parts.append(f"{used.gpu} of {quota.gpu} GPU")
    if quota.memory is not None:
        parts.append(f"{format_memory(used.memory)} of {format_memory(quota.memory)} memory")
    verb = "use" if scope == "You" else "uses"
    return f"{scope} {verb} {', '.join(parts)}."


def make_form_view(entitlements: UserEntitlements, catalog: Catalog, *, prefix: str = "",
                   usage: Callable[[Group], tuple[Usage, Usage]] | None = None,
                   preselect: Mapping | None = None, autolaunch: bool = False,
                   explain: bool = True) -> FormView:
    """The form's data, for any `preselect` (untrusted: a query or refused user_options).
    With `explain` (a deep link, the no-JavaScript group switch among them), a preselected
    item that is not available gets a notice. Without it (a refused start, whose error line
    already says why), the preselection is silent where it does not apply."""
    preselect = preselect if isinstance(preselect, Mapping) else {}
    groups = entitlements.launch_groups()
    if not groups:
        return FormView(groups=[], problem=NO_GROUP)
    views = [_group_view(entitlements, g, catalog, prefix, usage) for g in groups]
    notices: list[str] = []
    told = notices if explain else None

    wanted_group = preselect.get("group")
    found = entitlements.find_groups(wanted_group)
    chosen = next((v for v in views if len(found) == 1 and v.group == found[0]), None)
    if wanted_group and chosen is None and explain:
        notices.append(f"Group {shown(wanted_group)} is not available to you; "
                       f"showing {views[0].group.display_name} instead.")
    chosen = chosen or views[0]
    chosen.selected = True
    for view in views:
        is_chosen = view is chosen
        _select_instance_type(view, preselect.get("instance_type") if is_chosen else None,
                              told if is_chosen else None)
        _select_image(view, preselect.get("image") if is_chosen else None,
                      told if is_chosen else None)

    env = preselect.get("env") or {}
    form = FormView(groups=views, notices=notices, safe_mode=preselect.get("safe_mode") is True,
                    env=[(str(k), str(v)) for k, v in env.items()] if isinstance(env, Mapping) else [])
    if autolaunch:
        it = next((i.it for i in chosen.instance_types if i.selected), None)
        image = next((i.image for i in chosen.images if i.selected), None)
        if it and image and not notices and not chosen.problem:
            form.autolaunch = (f"You are about to start a server in group "
                               f"{chosen.group.display_name} with instance type "
                               f"{it.display_name} and image {image.display_name}.")
        else:
            notices.append("The link asked to start a server at once, but what it names is "
                           "not available; choose below.")
    return form


def _group_view(entitlements, group, catalog, prefix, usage) -> GroupView:
    key = entitlements.group_key(group)
    try:
        menu = resolve_menu(entitlements, group, catalog, prefix)
    except GroupMisconfigured as e:
        return GroupView(group=group, key=key, problem=str(e))
    view = GroupView(group=group, key=key, menu=menu,
                     notes=[*menu.left_out, *menu.settings.problems])
    user_used, group_used = usage(group) if usage else (Usage(), Usage())
    view.instance_types = [
        InstanceTypeView(it, quota_problem(menu, it, user_used, group_used) if usage else None)
        for it in menu.instance_types]
    view.images = [ImageView(image) for image in menu.images]
    view.quota_lines = [line for line in (
        describe_usage(user_used, menu.settings.user_quota, "You"),
        describe_usage(group_used, menu.settings.project_quota, "The group"),
    ) if line]
    if not menu.instance_types:
        view.problem = f"Group {group.display_name} offers no instance type; ask an administrator."
    elif not menu.images:
        view.problem = f"Group {group.display_name} offers no image; ask an administrator."
    return view


def _select_instance_type(view: GroupView, wanted: str | None, notices: list | None) -> None:
    usable = [i for i in view.instance_types if i.problem is None]
    match = next((i for i in view.instance_types if i.it.name == wanted), None)
    if wanted and notices is not None:
        if match is None:
            notices.append(f"Instance type {shown(wanted)} is not available in group "
                           f"{view.group.display_name}.")
        elif match.problem:
            notices.append(f"Instance type {match.it.display_name} cannot start now: {match.problem}")
    pick = match if match and match.problem is None else (usable[0] if usable else None)
    if pick:
        pick.selected = True


def _select_image(view: GroupView, wanted: str | None, notices: list | None) -> None:
    it = next((i.it for i in view.instance_types if i.selected), None)

    def fits(image: Image) -> bool:
        return image.ready and (it is None or image.fits(it))

    match = next((i for i in view.images if i.image.name == wanted), None)
    if wanted and notices is not None:
        if match is None:
            notices.append(f"Image {shown(wanted)} is not available in group "
                           f"{view.group.display_name}.")
        elif not match.image.ready:
            notices.append(f"Image {match.image.display_name} is not ready yet (it is still being built).")
        elif not fits(match.image):
            notices.append(f"Image {match.image.display_name} needs a GPU instance type.")
    # A named image that is ready stays chosen even on an instance type it does not fit: the
    # notice (or the refusal) says why, and the person changes one of the two. (The page's
    # script swaps in a fitting image until a GPU instance type is chosen.)
    keep = match if match and match.image.ready else None
    pick = keep or next((i for i in view.images if fits(i.image)), None)
    if pick:
        pick.selected = True
