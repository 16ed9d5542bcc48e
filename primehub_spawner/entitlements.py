"""What a user may launch, and in which group (DESIGN §3).

Pure. The authenticator stores a `UserEntitlements` snapshot (plain JSON in `auth_state`,
built by `keycloak.py` from the Admin REST API); the spawner resolves it against the
`Catalog` into a `GroupMenu` for the chosen launch group.
"""
from __future__ import annotations

import re

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .catalog import Catalog, Dataset, Image, InstanceType
from .quantities import parse_cpu, parse_size_attribute
from .roles import Grants, parse_roles


class GroupMisconfigured(ValueError):
    """A group attribute that cannot be read; str() names the group and attribute."""


@dataclass(frozen=True)
class Group:
    """A Keycloak group as the Admin API shows it: effective realm roles, attributes."""
    id: str
    name: str
    roles: tuple[str, ...] = ()
    # Keycloak keeps attribute values as lists; the first value is the one that counts.
    attributes: Mapping[str, str] = field(default_factory=dict)

    @property
    def display_name(self) -> str:
        return self.attributes.get("displayName") or self.name

    def to_json(self) -> dict:
        return {"id": self.id, "name": self.name, "roles": list(self.roles),
                "attributes": dict(self.attributes)}

    @classmethod
    def from_json(cls, data: Mapping) -> "Group":
        return cls(id=data["id"], name=data["name"], roles=tuple(data.get("roles", ())),
                   attributes=dict(data.get("attributes", {})))


@dataclass(frozen=True)
class UserEntitlements:
    username: str
    user_id: str
    groups: tuple[Group, ...]  # the user's groups, `everyone` excluded
    everyone: Group | None
    user_attributes: Mapping[str, str] = field(default_factory=dict)
    is_admin: bool = False
    fetched_at: float = 0.0  # time.time() of the Keycloak read

    def to_json(self) -> dict:
        return {
            "username": self.username, "user_id": self.user_id,
            "groups": [g.to_json() for g in self.groups],
            "everyone": self.everyone.to_json() if self.everyone else None,
            "user_attributes": dict(self.user_attributes),
            "is_admin": self.is_admin, "fetched_at": self.fetched_at,
        }

    @classmethod
    def from_json(cls, data: Mapping) -> "UserEntitlements":
        everyone = data.get("everyone")
        return cls(
            username=data["username"], user_id=data.get("user_id", ""),
            groups=tuple(Group.from_json(g) for g in data.get("groups", ())),
            everyone=Group.from_json(everyone) if everyone else None,
            user_attributes=dict(data.get("user_attributes", {})),
            is_admin=bool(data.get("is_admin")), fetched_at=float(data.get("fetched_at", 0)),
        )

    def launch_groups(self) -> list[Group]:
        """The groups a server may be launched in, by display name."""
        return sorted(self.groups, key=lambda g: (g.display_name.lower(), g.name))

    def group(self, name: str) -> Group | None:
        return next((g for g in self.groups if g.name == name), None)


# ---- group attributes ---------------------------------------------------------------------

@dataclass(frozen=True)
class Quota:
    """Limits; None means unlimited."""
    cpu: float | None = None
    gpu: int | None = None
    memory: int | None = None  # bytes

    @property
    def unlimited(self) -> bool:
        return self.cpu is None and self.gpu is None and self.memory is None


@dataclass(frozen=True)
class GroupSettings:
    user_quota: Quota = Quota()
    project_quota: Quota = Quota()
    shared_volume: bool = False
    shared_volume_capacity: str = ""
    launch_group_only: bool = False
    home_symlink: bool = False
    mlflow_tracking_uri: str = ""
    mlflow_ui_url: str = ""


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def group_settings(group: Group) -> GroupSettings:
    """Read a group's attributes; GroupMisconfigured says which one is wrong."""
    attrs = group.attributes

    def quota(prefix: str) -> Quota:
        values = {}
        for key, parse in (("cpu", parse_cpu), ("gpu", _parse_gpu), ("memory", parse_size_attribute)):
            raw = attrs.get(f"{prefix}quota-{key}")
            if raw is None or raw.strip() == "":
                continue
            try:
                values[key] = parse(raw.strip())
            except ValueError:
                raise GroupMisconfigured(
                    f"Group {group.display_name} has an invalid {prefix}quota-{key} "
                    f"attribute {raw!r}; ask an administrator to fix it.") from None
        return Quota(**values)

    shared = _true(attrs.get("enabled-shared-volume"))
    capacity = (attrs.get("shared-volume-capacity") or "").strip()
    if shared and not _DNS_LABEL.match(project_dir(group)):
        raise GroupMisconfigured(
            f"Group {group.display_name} enables a shared volume, but its name "
            f"{group.name!r} does not make a volume name (letters, digits, '-', '_'; "
            "at most 55 characters); ask an administrator to fix it.")
    if shared:
        try:
            parse_size_attribute(capacity)
        except ValueError:
            raise GroupMisconfigured(
                f"Group {group.display_name} enables a shared volume but its "
                f"shared-volume-capacity {capacity!r} is not a size like '10G'; "
                "ask an administrator to fix it.") from None
    return GroupSettings(
        user_quota=quota(""), project_quota=quota("project-"),
        shared_volume=shared, shared_volume_capacity=capacity,
        launch_group_only=_true(attrs.get("launch-group-only")),
        home_symlink=_true(attrs.get("home-symlink")),
        mlflow_tracking_uri=attrs.get("mlflow-tracking-uri", ""),
        mlflow_ui_url=attrs.get("mlflow-ui-url", ""),
    )


def project_dir(group: Group) -> str:
    """The group's shared-volume name: lower-cased, `_` turned into `-` (DESIGN §5)."""
    return group.name.lower().replace("_", "-")


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,53}[a-z0-9])?$")


def _parse_gpu(raw: str) -> int:
    if not raw.isdigit():
        raise ValueError(raw)
    return int(raw)


# ---- the menu for one launch group ------------------------------------------------------

@dataclass(frozen=True)
class MountedDataset:
    dataset: Dataset
    writable: bool


@dataclass(frozen=True)
class GroupMenu:
    group: Group
    settings: GroupSettings
    instance_types: tuple[InstanceType, ...]
    images: tuple[Image, ...]
    datasets: tuple[MountedDataset, ...]
    # Groups of the user whose shared volume is mounted in this launch (launch group first).
    shared_volume_groups: tuple[Group, ...]


def _grants(groups: Iterable[Group | None], prefix: str) -> Grants:
    total = Grants()
    for group in groups:
        if group is not None:
            total |= parse_roles(group.roles, prefix)
    return total


def resolve_menu(entitlements: UserEntitlements, group: Group, catalog: Catalog,
                 prefix: str = "") -> GroupMenu:
    """What `group` offers this user: instance types, images, datasets, shared volumes.

    Granted names that do not exist in the catalog are simply absent.
    """
    launch = _grants((group, entitlements.everyone), prefix)
    instance_types = sorted(
        (catalog.instance_types[n] for n in launch.instance_types if n in catalog.instance_types),
        key=_by_size)
    images = sorted((catalog.images[n] for n in launch.images if n in catalog.images),
                    key=lambda i: (i.display_name.lower(), i.name))

    others = [g for g in entitlements.groups if g.name != group.name]
    elsewhere = _grants(others, prefix)
    datasets = []
    for name in sorted(launch.datasets | elsewhere.datasets):
        dataset = catalog.datasets.get(name)
        if dataset is None:
            continue
        if name not in launch.datasets and dataset.launch_group_only:
            continue
        writable = name in launch.writable_datasets and dataset.type != "env"
        datasets.append(MountedDataset(dataset, writable))

    shared = [group] + sorted(others, key=lambda g: g.name)
    shared_volume_groups = []
    for candidate in shared:
        try:
            settings = group_settings(candidate)
        except GroupMisconfigured:
            # Another group's bad attributes must not block this launch; the launch
            # group's own settings are read (and reported) below.
            continue
        if settings.shared_volume and (candidate is group or not settings.launch_group_only):
            shared_volume_groups.append(candidate)
    return GroupMenu(
        group=group, settings=group_settings(group),
        instance_types=tuple(instance_types), images=tuple(images),
        datasets=tuple(datasets), shared_volume_groups=tuple(shared_volume_groups),
    )


def _by_size(it: InstanceType):
    return (it.gpu_limit, it.cpu_limit, it.mem_limit, it.display_name.lower(), it.name)
