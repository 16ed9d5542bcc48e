"""What is wrong with a namespace's custom resources and a realm's access roles.

Pure. `read_catalog` parses listed InstanceType, Image and Dataset objects as the hub's
watch cache does, keeping each rejected one with its reason; `check` adds the realm roles
in our namespace of roles (`it:`, `img:`, `ds:`, `ds:rw:`, with the role prefix) that
cannot name a resource or name one that does not exist. Used by `primehub-spawner check`,
whose exit status tells an operator's CI whether anything is wrong.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from .catalog import PARSERS, Catalog, InvalidResource
from .names import shown
from .roles import parse_roles

# Role kinds (the part after the prefix) and the custom resource kind each one names.
ROLE_KINDS = {"it": "InstanceType", "img": "Image", "ds": "Dataset"}


class Rejected(NamedTuple):
    """A custom resource left out of every menu: its kind, `metadata.name`, the reason."""
    kind: str
    name: str
    reason: str


@dataclass(frozen=True)
class Problem:
    """One thing wrong: `what` is "resource" or "role", `line` the sentence printed."""
    what: str
    line: str


def parse_object(kind: str, obj: object) -> tuple[object | None, str | None]:
    """(entry, None) for an object the hub offers, (None, reason) for one it leaves out;
    never raises, whatever the object: one bad object must not stop a watch or a check."""
    try:
        return PARSERS[kind](obj), None
    except InvalidResource as e:
        return None, str(e)
    except Exception as e:  # noqa: BLE001 - a parser's own bug is a reason too
        return None, f"unexpected {type(e).__name__} while reading it: {shown(str(e))}"


def read_catalog(objects: Mapping[str, Iterable[object]]) -> tuple[Catalog, tuple[Rejected, ...]]:
    """Parse listed objects by kind (`{"InstanceType": [...], ...}`) into the catalog the
    hub would serve and the objects it would leave out, each with its reason."""
    entries: dict[str, dict] = {kind: {} for kind in PARSERS}
    rejected = []
    for kind in PARSERS:
        for obj in objects.get(kind) or ():
            entry, reason = parse_object(kind, obj)
            if entry is None:
                rejected.append(Rejected(kind, _name_of(obj), reason))
            else:
                entries[kind][entry.name] = entry
    catalog = Catalog(instance_types=entries["InstanceType"], images=entries["Image"],
                      datasets=entries["Dataset"])
    return catalog, tuple(sorted(rejected))


def _name_of(obj: object) -> str:
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    name = meta.get("name") if isinstance(meta, Mapping) else None
    return name if isinstance(name, str) and name.isprintable() else shown(name)


def role_target(role: str, prefix: str = "") -> tuple[str, str | None] | None:
    """The custom resource kind and name an access role names: None for a role outside our
    namespace of roles (another prefix, `offline_access`), and a None name for one of ours
    that cannot name a resource (`it:`, `img:Bad_Name`)."""
    lead = f"{prefix}:" if prefix else ""
    if not isinstance(role, str) or not role.startswith(lead):
        return None
    kind, _, _ = role[len(lead):].partition(":")
    if kind not in ROLE_KINDS:
        return None
    grants = parse_roles([role], prefix)
    names = grants.instance_types | grants.images | grants.datasets
    return ROLE_KINDS[kind], next(iter(names), None)


def check(catalog: Catalog, rejected: Iterable[Rejected], roles: Iterable[str],
          prefix: str = "", namespace: str = "") -> tuple[Problem, ...]:
    """Every rejected custom resource, then every access role that cannot name a resource
    or names one that is not in `catalog` (a role naming a rejected one is not repeated)."""
    rejected = sorted(rejected)
    problems = [Problem("resource", f"{r.kind} {r.name} is left out of every menu: {r.reason}")
                for r in rejected]
    left_out = {(r.kind, r.name) for r in rejected}
    present = {"InstanceType": catalog.instance_types, "Image": catalog.images,
               "Dataset": catalog.datasets}
    where = f" in namespace {namespace}" if namespace else ""
    for role in sorted(set(roles), key=str):
        target = role_target(role, prefix)
        if target is None:
            continue
        kind, name = target
        if name is None:
            problems.append(Problem("role", f"role {shown(role)} cannot name any {kind}: the name "
                                            "after the kind must be lower-case letters, digits, "
                                            "'-' and '.'"))
        elif name not in present[kind] and (kind, name) not in left_out:
            problems.append(Problem("role", f"role {role} names no {kind}: there is no {kind} "
                                            f"{name}{where}"))
    return tuple(problems)
