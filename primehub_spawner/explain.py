"""Why a user can, or cannot, launch each instance type, image and dataset, per group.

Pure. The decisions are the Server Options menu's own: what a launch group offers comes
from `resolve_menu`, what blocks an offered item from `image_problem` and `quota_problem`.
This module adds where each item comes from (which group grants it through which role) and
the items the menu leaves out silently: not granted, granted but missing, malformed.
`primehub-spawner explain` prints it with `render_text`; the hub's admin page
/hub/primehub/explain shows it as a table (templates/explain.html).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from .catalog import Catalog, Image, InstanceType
from .check import Rejected
from .entitlements import (
    WRITABLE_TYPES,
    Group,
    GroupMenu,
    GroupMisconfigured,
    Quota,
    UserEntitlements,
    resolve_menu,
)
from .labels import escape_label
from .names import shown
from .options import image_problem, quota_problem
from .quantities import format_cpu, format_memory
from .quota import Usage, group_usage
from .roles import parse_roles

AVAILABLE = "available"  # offered in this launch group (a dataset: mounted)
BLOCKED = "blocked"  # granted, but it cannot be used now; the reason says why
NOT_GRANTED = "not granted"
NO_RESOURCE = "no resource"  # a role names it, but no such custom resource exists
MALFORMED = "malformed"  # the custom resource exists and is rejected

KINDS = ("InstanceType", "Image", "Dataset")
_ROLE = {"InstanceType": "it", "Image": "img", "Dataset": "ds"}

UsageOf = Callable[[Group], tuple[Usage, Usage]]


@dataclass(frozen=True)
class Grant:
    """One role of one group that grants an item."""
    group: str  # the group's label (its path for a subgroup), or the everyone group's name
    role: str
    # Through the launch group or everyone: it counts in this launch. Otherwise another of
    # the user's groups, which counts in this launch only for a dataset.
    counts: bool

    def __str__(self) -> str:
        return f"{self.group} ({self.role})" if self.counts else \
            f"{self.group} ({self.role}, another group)"


@dataclass(frozen=True)
class Item:
    kind: str  # InstanceType, Image or Dataset
    name: str
    display_name: str
    state: str  # AVAILABLE, BLOCKED, NOT_GRANTED, NO_RESOURCE or MALFORMED
    reason: str
    grants: tuple[Grant, ...] = ()

    @property
    def granted_by(self) -> str:
        """Who grants the item, as one cell: `group (role)` entries, or `-` for nobody."""
        return ", ".join(map(str, self.grants)) or "-"


@dataclass(frozen=True)
class GroupExplanation:
    group: Group
    problem: str | None  # the group cannot launch at all (a misconfigured attribute)
    notes: tuple[str, ...]  # what the menu notes: other groups left out, ignored attributes
    quota: tuple[str, ...]  # quota and current use, one line per scope
    instance_types: tuple[Item, ...]
    images: tuple[Item, ...]
    datasets: tuple[Item, ...]

    @property
    def items(self) -> tuple[Item, ...]:
        """Every item of the group, instance types first, then images, then datasets."""
        return self.instance_types + self.images + self.datasets


@dataclass(frozen=True)
class Explanation:
    username: str
    groups: tuple[GroupExplanation, ...]
    problem: str | None = None  # no group to explain, with why


def explain(entitlements: UserEntitlements, catalog: Catalog, rejected: Iterable[Rejected] = (),
            usage: UsageOf | None = None, group: str | None = None,
            prefix: str = "") -> Explanation:
    """For each launch group of the user (or only `group`, by name or path), every instance
    type, image and dataset: its state, why, and the roles that grant it.

    `rejected` are the custom resources the catalog left out; `usage(group)` gives (this
    user's, the whole group's) use for the quota check, which is skipped without it.
    """
    username = entitlements.username
    groups = entitlements.launch_groups()
    if group is not None:
        groups = entitlements.find_groups(group)
        if len(groups) > 1:
            return Explanation(username, (), f"{username} is in several groups named "
                                             f"{shown(group)}; name one by its path.")
        everyone = entitlements.everyone
        if not groups and everyone is not None and group == everyone.name:
            return Explanation(username, (), f"Group {shown(group)} holds what every group "
                                             "grants; it is not a launch group.")
        if not groups:
            return Explanation(username, (), f"{username} is not a member of group "
                                             f"{shown(group)}.")
    if not groups:
        return Explanation(username, (), f"{username} is in no group that can launch a server.")
    sources = _sources(entitlements, prefix)
    broken = {(r.kind, r.name): r.reason for r in rejected}
    return Explanation(username, tuple(
        _explain_group(entitlements, g, catalog, broken, sources, usage, prefix) for g in groups))


# ---- provenance -------------------------------------------------------------------------------

def _sources(entitlements: UserEntitlements, prefix: str) -> dict[tuple[str, str], list]:
    """(kind, name) -> [(group, role)] over the user's groups and everyone, in that order."""
    sources: dict[tuple[str, str], list] = {}
    holders = [*entitlements.groups, *([entitlements.everyone] if entitlements.everyone else [])]
    for holder in holders:
        for role in holder.roles:
            grants = parse_roles([role], prefix)
            for kind, names in (("InstanceType", grants.instance_types),
                                ("Image", grants.images), ("Dataset", grants.datasets)):
                for name in names:
                    sources.setdefault((kind, name), []).append((holder, role))
    return sources


def _grants(kind: str, name: str, sources, launch: tuple) -> tuple[Grant, ...]:
    """The grants of an item, those that count in this launch first, each part by group:
    the same order whatever order Keycloak lists the user's groups in."""
    grants = (Grant(holder.label, role, any(holder == g for g in launch))
              for holder, role in sources.get((kind, name), ()))
    return tuple(sorted(grants, key=lambda g: (not g.counts, g.group, g.role)))


def _said(grants: Iterable[Grant]) -> str:
    return ", ".join(f"{g.group} through {g.role}" for g in grants)


# ---- one launch group ---------------------------------------------------------------------------

def _explain_group(entitlements, group, catalog, broken, sources, usage, prefix):
    launch = (group, entitlements.everyone) if entitlements.everyone else (group,)
    try:
        menu = resolve_menu(entitlements, group, catalog, prefix)
    except GroupMisconfigured as e:
        menu, problem = None, str(e)
    else:
        problem = None
    used = usage(group) if usage and menu else None
    by_kind = {}
    for kind, entries in (("InstanceType", catalog.instance_types), ("Image", catalog.images),
                          ("Dataset", catalog.datasets)):
        names = {*entries, *(n for k, n in broken if k == kind),
                 *(n for k, n in sources if k == kind)}
        items = []
        for name in sorted(names):
            grants = _grants(kind, name, sources, launch)
            items.append(_fixed(kind, name, entries, broken, grants)
                         or _decide(kind, entries[name], grants, group, menu, problem, used))
        by_kind[kind] = tuple(items)
    return GroupExplanation(
        group=group, problem=problem,
        notes=(*menu.left_out, *menu.settings.problems) if menu else (),
        quota=_quota_lines(menu, used, entitlements.username) if menu else (),
        instance_types=by_kind["InstanceType"], images=by_kind["Image"],
        datasets=by_kind["Dataset"])


def _fixed(kind, name, entries, broken, grants) -> Item | None:
    """The states that do not depend on the launch group: malformed, and no such resource."""
    if (kind, name) in broken:
        return Item(kind, name, name, MALFORMED, f"{kind} {name} is malformed, so no menu "
                                                 f"offers it: {broken[kind, name]}", grants)
    if name not in entries:
        return Item(kind, name, name, NO_RESOURCE,
                    f"Granted by {_said(grants)}, but there is no {kind} {name}.", grants)
    return None


def _decide(kind, entry, grants, group, menu: GroupMenu | None, problem, used) -> Item:
    def item(state: str, reason: str) -> Item:
        return Item(kind, entry.name, entry.display_name, state, reason, grants)

    counting = [g for g in grants if g.counts]
    others = [g for g in grants if not g.counts]
    if kind != "Dataset" and not counting:
        role = f"{_ROLE[kind]}:{entry.name}"
        elsewhere = (f" It is granted by {_said(others)}, which counts only when launching "
                     "there." if others else "")
        return item(NOT_GRANTED, f"Neither group {group.label} nor everyone has role "
                                 f"{role}.{elsewhere}")
    if kind == "Dataset" and not grants:
        return item(NOT_GRANTED, f"No group of the user, nor everyone, has role "
                                 f"ds:{entry.name} or ds:rw:{entry.name}.")
    if menu is None:
        return item(BLOCKED, problem)
    if kind == "InstanceType":
        return _instance_type(item, entry, counting, menu, used)
    if kind == "Image":
        return _image(item, entry, counting, menu)
    return _dataset(item, entry, grants, menu)


def _instance_type(item, it: InstanceType, counting, menu: GroupMenu, used) -> Item:
    if used is not None:
        over = quota_problem(menu, it, *used)
        if over:
            return item(BLOCKED, over)
    return item(AVAILABLE, f"Granted by {_said(counting)}.")


def _image(item, image: Image, counting, menu: GroupMenu) -> Item:
    name = menu.group.display_name
    problems = {it.name: image_problem(image, it) for it in menu.instance_types}
    fits = [n for n, p in problems.items() if p is None]
    if fits:
        where = f" It runs on {', '.join(fits)}." if len(fits) < len(problems) else ""
        return item(AVAILABLE, f"Granted by {_said(counting)}.{where}")
    if not problems:
        return item(BLOCKED, f"Group {name} offers no instance type to run it on.")
    reasons = set(problems.values())
    if len(reasons) == 1:  # not ready (the same on every type), or GPU-only on the only one
        return item(BLOCKED, reasons.pop())
    return item(BLOCKED, f"Image {image.display_name} needs a GPU, and none of group {name}'s "
                         "instance types has one.")


def _dataset(item, dataset, grants, menu: GroupMenu) -> Item:
    mounted = next((m for m in menu.datasets if m.dataset.name == dataset.name), None)
    counting = [g for g in grants if g.counts]
    if mounted is None:
        # resolve_menu leaves out only a launchGroupOnly dataset granted elsewhere.
        return item(BLOCKED, f"Dataset {dataset.display_name} is launchGroupOnly: it is "
                             f"mounted only when launching in a group that grants it "
                             f"({_said(grants)}).")
    rw_roles = [g for g in grants if g.role.endswith(f"ds:rw:{dataset.name}")]
    if mounted.writable:
        return item(AVAILABLE, f"Mounted read-write: granted by {_said(counting)}.")
    why = ""
    if any(g.counts for g in rw_roles) and dataset.type not in WRITABLE_TYPES:
        why = f" A {dataset.type} dataset is never writable."
    elif rw_roles:
        why = f" Read-write ({_said(rw_roles)}) counts only when launching there."
    return item(AVAILABLE, f"Mounted read-only: granted by {_said(grants)}.{why}")


def _quota_lines(menu: GroupMenu, used, username: str) -> tuple[str, ...]:
    user_used, group_used = used if used else (None, None)
    return tuple(line for line in (
        _quota_line(f"{username} in group {menu.group.display_name}", menu.settings.user_quota,
                    user_used),
        _quota_line(f"group {menu.group.display_name}", menu.settings.project_quota, group_used),
    ) if line)


def _quota_line(scope: str, quota: Quota, used: Usage | None) -> str | None:
    if quota.unlimited:
        return None
    parts = []
    for what, limit, have, fmt in (("CPU", quota.cpu, used and used.cpu, format_cpu),
                                   ("GPU", quota.gpu, used and used.gpu, str),
                                   ("memory", quota.memory, used and used.memory, format_memory)):
        if limit is not None:
            parts.append(f"{fmt(limit)} {what}" if used is None
                         else f"{fmt(have)} of {fmt(limit)} {what}")
    verb = "may use" if used is None else "uses"
    return f"Quota: {scope} {verb} {', '.join(parts)}."


# ---- quota use from listed pods -----------------------------------------------------------------

def usage_from_pods(pods: Iterable[Mapping], username: str, catalog: Catalog) -> UsageOf:
    """`usage` for `explain` from pods as the API server lists them: the pods labelled with
    the group (and the user), as the spawner's quota check counts them."""
    pods = list(pods)
    gpu_names = {it.gpu_resource_name for it in catalog.instance_types.values()}
    gpu_names.add("nvidia.com/gpu")
    user = escape_label(username)

    def usage(group: Group) -> tuple[Usage, Usage]:
        label = escape_label(group.name)
        return (group_usage(pods, label, gpu_names, user), group_usage(pods, label, gpu_names))
    return usage


# ---- plain text ---------------------------------------------------------------------------------

_KIND_TITLE = {"InstanceType": "INSTANCE TYPE", "Image": "IMAGE", "Dataset": "DATASET"}


def printable(text: str) -> str:
    """`text` for a terminal: control characters (from a display name, say) escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def render_text(explanation: Explanation) -> str:
    """The explanation as plain text: one table per launch group."""
    lines = [f"User {printable(explanation.username)}"]
    if explanation.problem:
        lines.append(printable(explanation.problem))
    for g in explanation.groups:
        title = g.group.label
        if g.group.display_name != g.group.name:
            title += f" ({g.group.display_name})"
        lines += ["", f"Group {printable(title)}"]
        lines += [f"  {printable(line)}" for line in (g.problem, *g.notes, *g.quota) if line]
        for kind, items in (("InstanceType", g.instance_types), ("Image", g.images),
                            ("Dataset", g.datasets)):
            rows = [(_KIND_TITLE[kind], "STATE", "GRANTED BY", "WHY")]
            rows += [(_name(i), i.state, i.granted_by, i.reason) for i in items]
            if len(rows) == 1:
                rows.append(("-", "", "", f"There is no {kind} and no role names one."))
            widths = [max(len(printable(r[c])) for r in rows) for c in range(3)]
            lines.append("")
            for row in rows:
                cells = [printable(cell).ljust(w) for cell, w in zip(row, widths)]
                lines.append("  " + "  ".join([*cells, printable(row[3])]).rstrip())
    return "\n".join(lines) + "\n"


def _name(item: Item) -> str:
    return item.name if item.display_name == item.name else f"{item.name} ({item.display_name})"
