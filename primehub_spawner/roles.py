"""Realm roles -> what they grant (DESIGN §2.1).

`it:<name>` grants an InstanceType, `img:<name>` an Image, `ds:<name>` a Dataset read-only
and `ds:rw:<name>` read-write. With a role prefix `p`, only `p:it:...` and so on count;
without one, only unprefixed roles count. Every other role is ignored, and so is a role
whose `<name>` cannot name a custom resource (a DNS subdomain, matched whole).
"""
from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

from .names import is_dns_subdomain


@dataclass(frozen=True)
class Grants:
    instance_types: frozenset[str] = frozenset()
    images: frozenset[str] = frozenset()
    # Every dataset granted at all (read-only or read-write) ...
    datasets: frozenset[str] = frozenset()
    # ... and the subset granted read-write.
    writable_datasets: frozenset[str] = frozenset()

    def __or__(self, other: Grants) -> Grants:
        return Grants(
            self.instance_types | other.instance_types,
            self.images | other.images,
            self.datasets | other.datasets,
            self.writable_datasets | other.writable_datasets,
        )


def parse_roles(role_names: Iterable[str], prefix: str = "") -> Grants:
    """What `role_names` grant with role prefix `prefix` (see the module's docstring)."""
    instance_types: set[str] = set()
    images: set[str] = set()
    datasets: set[str] = set()
    writable: set[str] = set()
    lead = f"{prefix}:" if prefix else ""
    for role in role_names:
        if not isinstance(role, str) or not role.startswith(lead):
            continue
        kind, _, name = role[len(lead):].partition(":")
        if kind == "ds" and name.startswith("rw:"):
            name = name[len("rw:"):]
            if is_dns_subdomain(name):
                datasets.add(name)
                writable.add(name)
            continue
        if not is_dns_subdomain(name):
            # `it:` alone, a role of another prefix such as `c1:it:x` read unprefixed, or a
            # name no resource can have (`it:a\n`).
            continue
        if kind == "it":
            instance_types.add(name)
        elif kind == "img":
            images.add(name)
        elif kind == "ds":
            datasets.add(name)
    return Grants(frozenset(instance_types), frozenset(images), frozenset(datasets),
                  frozenset(writable))


# Groups are shared by many users, and auth_state is decoded again for every menu and start:
# a group's roles are parsed once per (roles, prefix) for the whole hub, not per request.
# An entry keeps the roles tuple and its Grants (about 10 KiB for a group of 100 roles).
GRANTS_CACHE_SIZE = 1024


@functools.lru_cache(maxsize=GRANTS_CACHE_SIZE)
def grants_of(roles: tuple[str, ...], prefix: str = "") -> Grants:
    """`parse_roles` for a group's roles tuple, remembered (the roles must be hashable:
    strings, as Keycloak names roles)."""
    return parse_roles(roles, prefix)
