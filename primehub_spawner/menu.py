"""The Server Options menu of one launch group: what is offered, what is blocked and why, and
what is chosen (DESIGN §4).

Pure, and the one place these rules live. The form (`form.py`, the template, the page's
script) displays a `Menu`; the start-time check (`options.validate_user_options`) refuses
what a `Menu` did not choose. So the page preselects exactly what a start with the same
request would launch.

`build_menu` reads the chosen group only (its lists, its quota), plus the names of the
user's other groups for the switch: its cost grows with what the user may launch in that
group, not with the catalog or the number of groups.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from .catalog import Catalog, Image, InstanceType
from .entitlements import (
    Group,
    GroupMenu,
    GroupMisconfigured,
    Quota,
    UserEntitlements,
    resolve_menu,
)
from .names import shown
from .quantities import format_cpu, format_memory
from .quota import Usage, over_quota, usage_of

# Why something cannot be launched: a short code, and the HTTP status of a start refused so.
NOT_GRANTED = "not-granted"      # not one of the user's groups, or not offered in the group
AMBIGUOUS = "ambiguous"          # a group name two of the user's groups share
NOT_READY = "not-ready"          # an image still being built
NEEDS_GPU = "needs-gpu"          # a GPU-only image on an instance type without GPU
OVER_QUOTA = "over-quota"        # the instance type would exceed the group's quota
MISCONFIGURED = "misconfigured"  # the group's attributes cannot be read
NOTHING = "nothing-offered"      # no launch group, no instance type, no image that runs
STATUS = {NOT_GRANTED: 403, AMBIGUOUS: 400, NOT_READY: 400, NEEDS_GPU: 400, OVER_QUOTA: 403,
          MISCONFIGURED: 403, NOTHING: 403}

NO_GROUP = ("You are not in any group that can launch a server. "
            "Ask an administrator to add you to a group.")

# What a start may name; everything else in `asked` is not the model's concern.
ASKED_KEYS = ("group", "instance_type", "image")


@dataclass(frozen=True)
class Blocked:
    """Why something cannot be launched: a `code` (above) and a sentence for the person."""
    code: str
    reason: str

    @property
    def status(self) -> int:
        """The HTTP status of a start refused for this reason (400 or 403)."""
        return STATUS[self.code]


@dataclass(frozen=True)
class InstanceTypeRow:
    instance_type: InstanceType
    blocked: Blocked | None = None  # over quota
    # The image chosen with this instance type when none is named (None: none runs on it).
    default_image: str | None = None


@dataclass(frozen=True)
class ImageRow:
    image: Image
    # Why it cannot run on any instance type of the group (not ready; GPU-only in a group
    # without a GPU instance type), or None.
    blocked: Blocked | None = None
    # The group's instance types it does not run on, and why (needs a GPU).
    unfit: tuple[str, ...] = ()
    unfit_reason: Blocked | None = None

    def blocked_on(self, instance_type: InstanceType | None) -> Blocked | None:
        """Why this image cannot be launched with `instance_type`, or None."""
        if self.blocked or instance_type is None:
            return self.blocked
        return self.unfit_reason if instance_type.name in self.unfit else None


@dataclass(frozen=True)
class GroupEntry:
    """A launch group in the switch: how the form names it, and how a person reads it."""
    key: str
    display_name: str


@dataclass(frozen=True)
class Menu:
    # Every launch group of the user, by display name.
    groups: tuple[GroupEntry, ...]
    # The chosen group (None: the user has no launch group) and its key.
    group: Group | None = None
    key: str = ""
    # Its entitlements resolved against the catalog (None when its attributes cannot be read).
    resolved: GroupMenu | None = None
    instance_types: tuple[InstanceTypeRow, ...] = ()
    images: tuple[ImageRow, ...] = ()
    quota_lines: tuple[str, ...] = ()
    # What this launch leaves out and why (another group misconfigured, a bad attribute).
    group_notes: tuple[str, ...] = ()
    # The choice: what a start with this request launches.
    instance_type: InstanceType | None = None
    image: Image | None = None
    # Why nothing can be launched, when so.
    problem: Blocked | None = None
    # What was asked for and not chosen, and why (group, then instance type, then image).
    notes: tuple[Blocked, ...] = ()

    @property
    def datasets(self):
        """The datasets mounted by a launch in this group (MountedDataset: ro or rw)."""
        return self.resolved.datasets if self.resolved else ()

    @property
    def refusal(self) -> Blocked | None:
        """Why a start with this request is refused: the first note, else the problem."""
        return self.notes[0] if self.notes else self.problem


def build_menu(entitlements: UserEntitlements, catalog: Catalog, asked: object = None, *,
               prefix: str = "", usage: Callable[[Group], tuple[Usage, Usage]] | None = None
               ) -> Menu:
    """The menu of the asked group (default: the first by display name), with its choice.

    `asked` is untrusted (a query, a form, a REST body): a mapping whose `group`,
    `instance_type` and `image` strings name what is wanted; anything else in it is ignored.
    `usage(group)` gives (this user's use of the group, the whole group's use); without it
    quotas are not checked. The choice follows one rule: a named item that can be launched
    wins; else the first instance type not over quota, then the first image that is ready
    and runs on it. A named item not chosen gets a note saying why.
    """
    asked = asked if isinstance(asked, Mapping) else {}
    wanted = {key: value for key in ASKED_KEYS
              if isinstance(value := asked.get(key), str) and value}
    launch_groups = entitlements.launch_groups()
    entries = tuple(GroupEntry(entitlements.group_key(g), g.display_name) for g in launch_groups)
    if not launch_groups:
        return Menu(groups=(), problem=Blocked(NOTHING, NO_GROUP))
    notes: list[Blocked] = []
    group = _group(entitlements, wanted.get("group"), notes) or launch_groups[0]
    base = Menu(groups=entries, group=group, key=entitlements.group_key(group))
    try:
        resolved = resolve_menu(entitlements, group, catalog, prefix)
    except GroupMisconfigured as e:
        return replace(base, problem=Blocked(MISCONFIGURED, str(e)), notes=tuple(notes))
    name = group.display_name
    user_used, group_used = usage(group) if usage else (Usage(), Usage())
    quota = (lambda it: quota_problem(resolved, it, user_used, group_used)) if usage else None

    images = tuple(_image_row(image, resolved.instance_types) for image in resolved.images)
    instance_types = tuple(
        InstanceTypeRow(it, Blocked(OVER_QUOTA, why) if quota and (why := quota(it)) else None,
                        _first_image(images, it))
        for it in resolved.instance_types)

    row = _named(instance_types, wanted.get("instance_type"), "instance type", name, notes)
    if row is not None and row.blocked:
        notes.append(row.blocked)
    usable = row if row is not None and not row.blocked else next(
        (r for r in instance_types if not r.blocked), None)
    instance_type = usable.instance_type if usable else None

    image_row = _named(images, wanted.get("image"), "image", name, notes)
    why = image_row.blocked_on(instance_type) if image_row is not None else None
    if why:
        notes.append(why)
    if image_row is not None and not why:
        image = image_row.image
    else:
        default = usable.default_image if usable else None
        image = next((r.image for r in images if r.image.name == default), None)

    problem = None
    if not instance_types:
        problem = Blocked(NOTHING, f"Group {name} offers no instance type; ask an administrator.")
    elif usable is None:
        problem = instance_types[0].blocked
    elif not images:
        problem = Blocked(NOTHING, f"Group {name} offers no image; ask an administrator.")
    elif image is None:
        problem = Blocked(NOTHING, f"Group {name} offers no image that runs on instance type "
                                   f"{instance_type.display_name}.")
    quota_lines = tuple(line for line in (
        describe_usage(user_used, resolved.settings.user_quota, "You"),
        describe_usage(group_used, resolved.settings.project_quota, "The group"),
    ) if line)
    return replace(base, resolved=resolved, instance_types=instance_types, images=images,
                 quota_lines=quota_lines,
                 group_notes=(*resolved.left_out, *resolved.settings.problems),
                 instance_type=instance_type, image=image, problem=problem, notes=tuple(notes))


def quota_problem(menu: GroupMenu, instance_type: InstanceType,
                  user_used: Usage, group_used: Usage) -> str | None:
    """Why `instance_type` would exceed the user's share or the group's quota, or None."""
    wanted = usage_of(instance_type)
    name = menu.group.display_name
    return (over_quota(menu.settings.user_quota, user_used, wanted, f"your share of group {name}")
            or over_quota(menu.settings.project_quota, group_used, wanted, f"group {name}"))


def describe_usage(used: Usage, quota: Quota, scope: str) -> str | None:
    """"You use 1 of 4 CPU, ..." for the limits `quota` sets; None when it sets none."""
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


def _group(entitlements: UserEntitlements, key: str | None, notes: list) -> Group | None:
    """The group `key` names, or None (with a note when a key was given)."""
    if key is None:
        return None
    found = entitlements.find_groups(key)
    if len(found) == 1:
        return found[0]
    everyone = entitlements.everyone
    if found:
        paths = ", ".join(g.path for g in found)
        notes.append(Blocked(AMBIGUOUS, f"You are in several groups named {shown(key)} "
                                        f"({paths}); name the group by its path."))
    elif everyone is not None and key == everyone.name:
        notes.append(Blocked(NOT_GRANTED, f"Group {shown(key)} holds what every group grants; "
                                          "it cannot be a launch group. Choose one of your "
                                          "groups."))
    else:
        notes.append(Blocked(NOT_GRANTED, f"You are not a member of group {shown(key)}, so you "
                                          "cannot launch a server in it."))
    return None


def _named(rows, name: str | None, what: str, group: str, notes: list):
    """The row of the item `name`, or None (with a note when a name was given)."""
    if name is None:
        return None
    for row in rows:
        if _item(row).name == name:
            return row
    offered = ", ".join(_item(r).name for r in rows) or "none"
    notes.append(Blocked(NOT_GRANTED, f"The {what} {shown(name)} is not available in group "
                                      f"{group}. Available: {offered}."))
    return None


def _item(row: InstanceTypeRow | ImageRow) -> InstanceType | Image:
    return row.instance_type if isinstance(row, InstanceTypeRow) else row.image


def _image_row(image: Image, instance_types: tuple[InstanceType, ...]) -> ImageRow:
    unfit = tuple(it.name for it in instance_types if not image.fits(it))
    unfit_reason = (Blocked(NEEDS_GPU, f"Image {image.display_name} needs a GPU instance type.")
                    if unfit else None)
    if not image.ready:
        blocked = Blocked(NOT_READY, f"Image {image.display_name} is not ready yet (it is still "
                                     "being built).")
    elif unfit and len(unfit) == len(instance_types):
        blocked = unfit_reason
    else:
        blocked = None
    return ImageRow(image, blocked, unfit, unfit_reason)


def _first_image(images: tuple[ImageRow, ...], instance_type: InstanceType) -> str | None:
    return next((r.image.name for r in images if r.blocked_on(instance_type) is None), None)
