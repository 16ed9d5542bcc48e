"""What a user may launch, and in which group (DESIGN §3).

Pure. The authenticator stores a `UserEntitlements` snapshot (plain JSON in `auth_state`,
built by `keycloak.py` from the Admin REST API); the spawner resolves it against the
`Catalog` into a `GroupMenu` for the chosen launch group.
"""
from __future__ import annotations

import functools
import re
import weakref
from collections import Counter, OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from .catalog import Catalog, Dataset, Image, InstanceType
from .names import is_dns_label, is_env_name, is_reserved_dataset_env, shown
from .quantities import parse_cpu, parse_size_attribute
from .roles import Grants, grants_of

# Group attributes whose every value counts (`NAME=value` each); of the others, the first.
LIST_ATTRIBUTES = ("mlflow-tracking-envs", "mlflow-artifact-envs")
# Dataset types whose volume can be mounted read-write; a git dataset is synced by an agent
# on the node and an env dataset has no volume, so `ds:rw:` gives them nothing more.
WRITABLE_TYPES = frozenset({"pv", "nfs", "hostPath"})
# `project-<dir>` is a PVC and pod volume name: a DNS label of at most 63 characters.
MAX_PROJECT_DIR = 55
_GPU_COUNT = re.compile(r"[0-9]{1,9}")
MAX_MLFLOW_VALUE = 16 * 1024


class GroupMisconfigured(ValueError):
    """A group attribute that cannot be read; str() names the group and attribute."""


@dataclass(frozen=True)
class Group:
    """A Keycloak group as the Admin API shows it: effective realm roles, attributes."""
    id: str
    name: str
    roles: tuple[str, ...] = ()
    # Keycloak keeps attribute values as lists; the first value is the one that counts ...
    attributes: Mapping[str, str] = field(default_factory=dict)
    # ... except for LIST_ATTRIBUTES, kept whole here (only when present, so that
    # auth_state stays small).
    list_attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Keycloak's `path` (`/parent/name`): unique in the realm, where subgroups of different
    # parents may share a name. Empty in auth_state written before it was kept.
    path: str = ""

    @property
    def display_name(self) -> str:
        """The group's `displayName` attribute, else its name."""
        return self.attributes.get("displayName") or self.name

    @property
    def label(self) -> str:
        """The group as a sentence names it: by name, or by path for a subgroup (whose name
        a subgroup of another parent may share)."""
        return self.path if self.path not in ("", f"/{self.name}") else self.name

    def to_json(self) -> dict:
        """The group as plain JSON, as `auth_state` keeps it."""
        data = {"id": self.id, "name": self.name, "roles": list(self.roles),
                "attributes": dict(self.attributes), "path": self.path}
        if self.list_attributes:
            data["list_attributes"] = {k: list(v) for k, v in self.list_attributes.items()}
        return data

    @classmethod
    def from_json(cls, data: Mapping) -> Group:
        """The group from `to_json`'s output (older snapshots lack `path` and lists)."""
        lists = data.get("list_attributes") or {}
        return cls(id=data["id"], name=data["name"], roles=tuple(data.get("roles", ())),
                   attributes=dict(data.get("attributes", {})), path=data.get("path", ""),
                   list_attributes={k: tuple(v) for k, v in lists.items()})


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
        """The snapshot as plain JSON, as `auth_state` keeps it."""
        return {
            "username": self.username, "user_id": self.user_id,
            "groups": [g.to_json() for g in self.groups],
            "everyone": self.everyone.to_json() if self.everyone else None,
            "user_attributes": dict(self.user_attributes),
            "is_admin": self.is_admin, "fetched_at": self.fetched_at,
        }

    @classmethod
    def from_json(cls, data: Mapping) -> UserEntitlements:
        """The snapshot from `to_json`'s output."""
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
        return sorted(self.groups, key=lambda g: (g.display_name.lower(), g.name, g.path))

    def find_groups(self, key: object) -> list[Group]:
        """The user's groups that `key` names: its path when it starts with '/', else its
        name (which two subgroups of different parents may share)."""
        if not isinstance(key, str):
            return []
        if key.startswith("/"):
            return [g for g in self.groups if g.path == key]
        return [g for g in self.groups if g.name == key]

    def group(self, key: object) -> Group | None:
        """The one group `key` names, or None (unknown, or a name two groups share)."""
        found = self.find_groups(key)
        return found[0] if len(found) == 1 else None

    def group_key(self, group: Group) -> str:
        """How the form and user_options name `group`: by name, or by path when another of
        the user's groups has the same name."""
        if group.path and self._name_counts[group.name] > 1:
            return group.path
        return group.name

    def grants(self, group: Group | None, prefix: str = "") -> Grants:
        """What `group`'s roles grant (nothing for None); parsed once per roles and prefix."""
        return grants_of(group.roles, prefix) if group is not None else Grants()

    def all_grants(self, prefix: str = "") -> Grants:
        """What the user's groups (`everyone` aside) grant together; once per snapshot."""
        cached = self._all_grants.get(prefix)
        if cached is None:
            each = [self.grants(group, prefix) for group in self.groups]
            cached = self._all_grants[prefix] = Grants(
                *(frozenset().union(*(getattr(g, kind) for g in each))
                  for kind in ("instance_types", "images", "datasets", "writable_datasets")))
        return cached

    # Per-snapshot caches: cached_property writes the instance's __dict__ directly, which a
    # frozen dataclass allows; they are not fields, so equality and to_json ignore them.
    @cached_property
    def _name_counts(self) -> Counter:
        return Counter(g.name for g in self.groups)

    @cached_property
    def _all_grants(self) -> dict[str, Grants]:
        return {}


# ---- group attributes ---------------------------------------------------------------------

@dataclass(frozen=True)
class Quota:
    """Limits; None means unlimited."""
    cpu: float | None = None
    gpu: int | None = None
    memory: int | None = None  # bytes

    @property
    def unlimited(self) -> bool:
        """Whether the quota sets no limit at all."""
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
    # From mlflow-tracking-envs and mlflow-artifact-envs: (NAME, value), in that order.
    mlflow_env: tuple[tuple[str, str], ...] = ()
    # A sentence for each attribute value that was ignored.
    problems: tuple[str, ...] = ()


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


# Every menu and start reads the attributes of the user's groups again, and a thousand users
# share a few dozen groups: a group's settings are read once per content for the whole hub.
SETTINGS_CACHE_SIZE = 4096


def group_settings(group: Group) -> GroupSettings:
    """Read a group's attributes; GroupMisconfigured says which one is wrong."""
    try:
        key = (group.name, tuple(group.attributes.items()),
               tuple(group.list_attributes.items()))
        hash(key)
    except TypeError:  # a value that is not a string: read as it is, not remembered
        return _read_settings(group)
    return _settings_of(key)


@functools.lru_cache(maxsize=SETTINGS_CACHE_SIZE)
def _settings_of(key: tuple) -> GroupSettings:
    # The settings are a function of the name and the attributes alone.
    name, attributes, lists = key
    return _read_settings(Group(id="", name=name, attributes=dict(attributes),
                                list_attributes=dict(lists)))


def _read_settings(group: Group) -> GroupSettings:
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
                    f"attribute {shown(raw)}; ask an administrator to fix it.") from None
        return Quota(**values)

    shared = _true(attrs.get("enabled-shared-volume"))
    capacity = (attrs.get("shared-volume-capacity") or "").strip()
    directory = project_dir(group)
    if shared and not (len(directory) <= MAX_PROJECT_DIR and is_dns_label(directory)):
        raise GroupMisconfigured(
            f"Group {group.display_name} enables a shared volume, but its name "
            f"{shown(group.name)} does not make a volume name (letters, digits, '-', '_'; "
            f"at most {MAX_PROJECT_DIR} characters); ask an administrator to fix it.")
    if shared:
        try:
            parse_size_attribute(capacity)
        except ValueError:
            raise GroupMisconfigured(
                f"Group {group.display_name} enables a shared volume but its "
                f"shared-volume-capacity {shown(capacity)} is not a size like '10G'; "
                "ask an administrator to fix it.") from None
    mlflow_env, problems = _mlflow_env(group)
    return GroupSettings(
        user_quota=quota(""), project_quota=quota("project-"),
        shared_volume=shared, shared_volume_capacity=capacity,
        launch_group_only=_true(attrs.get("launch-group-only")),
        home_symlink=_true(attrs.get("home-symlink")),
        mlflow_tracking_uri=attrs.get("mlflow-tracking-uri", ""),
        mlflow_ui_url=attrs.get("mlflow-ui-url", ""),
        mlflow_env=mlflow_env, problems=problems,
    )


def _mlflow_env(group: Group) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """The `NAME=value` values of the MLflow list attributes; a bad one is left out with a
    sentence, never failing the group (they only add convenience variables)."""
    env: dict[str, str] = {}
    problems = []
    for attribute in LIST_ATTRIBUTES:
        for value in group.list_attributes.get(attribute, ()):
            name, equals, content = value.partition("=") if isinstance(value, str) else ("", "", "")
            if not equals or not is_env_name(name):
                problems.append(f"Group {group.display_name}: {attribute} value {shown(value)} "
                                "is not NAME=value with a variable name; ignored.")
            elif is_reserved_dataset_env(name):
                problems.append(f"Group {group.display_name}: {attribute} may not set "
                                f"{name}, a variable the hub or the shell relies on; ignored.")
            elif len(content) > MAX_MLFLOW_VALUE or "\x00" in content:
                problems.append(f"Group {group.display_name}: {attribute} value of {name} is "
                                "too long or has a NUL byte; ignored.")
            else:
                env[name] = content
    return tuple(env.items()), tuple(problems)


def project_dir(group: Group) -> str:
    """The group's shared-volume name: lower-cased, `_` turned into `-` (DESIGN §5)."""
    return group.name.lower().replace("_", "-")


def _parse_gpu(raw: str) -> int:
    if not _GPU_COUNT.fullmatch(raw):  # ASCII digits: str.isdigit() takes '²' and '٣'
        raise ValueError(raw)
    return int(raw)


# ---- the menu for one launch group ------------------------------------------------------

@dataclass(frozen=True, slots=True)
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
    # A sentence for each other group left out of this launch because it is misconfigured.
    left_out: tuple[str, ...] = ()


def resolve_menu(entitlements: UserEntitlements, group: Group, catalog: Catalog,
                 prefix: str = "") -> GroupMenu:
    """What `group` offers this user: instance types, images, datasets, shared volumes.

    Granted names that do not exist in the catalog are simply absent. GroupMisconfigured
    when the launch group's own attributes cannot be read, or when two groups would share
    one volume name in this launch; another group's bad attributes only leave that group's
    volume out (said in `left_out`).
    """
    settings = group_settings(group)
    instance_types, images, datasets = _offered(
        catalog, entitlements.grants(group, prefix),
        entitlements.grants(entitlements.everyone, prefix),
        entitlements.all_grants(prefix).datasets)
    # Compared whole, not by name: subgroups of different parents may share a name.
    others = [g for g in entitlements.groups if g != group]
    shared_volume_groups = [group] if settings.shared_volume else []
    with_volume = []  # other groups that have a shared volume, mounted here or not
    left_out = []
    for other in sorted(others, key=lambda g: (g.name, g.path)):
        # Only a group's shared volume matters to a launch in another group: the attributes
        # of a group without one are not read here (it is the costly part of a menu).
        if not _true(other.attributes.get("enabled-shared-volume")):
            continue
        try:
            other_settings = group_settings(other)
        except GroupMisconfigured as e:
            left_out.append(f"{e} Its shared volume is not mounted until then.")
            continue
        if other_settings.shared_volume:
            with_volume.append(other)
            if not other_settings.launch_group_only:
                shared_volume_groups.append(other)
    _refuse_shared_volume_clash(group if settings.shared_volume else None,
                                shared_volume_groups, with_volume)
    return GroupMenu(
        group=group, settings=settings, instance_types=instance_types, images=images,
        datasets=datasets, shared_volume_groups=tuple(shared_volume_groups),
        left_out=tuple(left_out),
    )


# Users of the same groups hold the same grants, and every menu and start resolves them
# again: what a launch group's grants offer from a catalog is worked out once per catalog
# and grants for the whole hub. An entry holds tuples of the catalog's own entries (for
# 2,000 datasets about 130 KiB), so the cache is bounded; a new catalog replaces it all.
OFFERED_CACHE_SIZE = 256
_offered_cache: OrderedDict[tuple, tuple] = OrderedDict()
_offered_catalog: list = [None]  # a weak reference to the catalog the cache was made from


def _offered(catalog: Catalog, group: Grants, everyone: Grants, all_datasets: frozenset[str]
             ) -> tuple[tuple[InstanceType, ...], tuple[Image, ...], tuple[MountedDataset, ...]]:
    """(instance types by size, images by name, mounted datasets by name) that a launch
    with `group`'s and `everyone`'s grants offers, `all_datasets` being what all the user's
    groups grant (another group's datasets are mounted too, unless launch-group-only)."""
    known = _offered_catalog[0]
    if known is None or known() is not catalog:
        _offered_cache.clear()
        _offered_catalog[0] = weakref.ref(catalog)
    key = (group, everyone, all_datasets)
    found = _offered_cache.get(key)
    if found is not None:
        _offered_cache.move_to_end(key)
        return found
    launch = group | everyone
    instance_types = sorted(
        (catalog.instance_types[n] for n in launch.instance_types if n in catalog.instance_types),
        key=_by_size)
    images = sorted((catalog.images[n] for n in launch.images if n in catalog.images),
                    key=lambda i: (i.display_name.lower(), i.name))
    # A dataset reaches this launch through the launch group, `everyone`, or another of the
    # user's groups. The launch group is one of the user's groups, so the union of them all
    # (once per snapshot) stands for "the others" here: no groups x groups work per menu.
    datasets = []
    for name in sorted(launch.datasets | all_datasets):
        dataset = catalog.datasets.get(name)
        if dataset is None:
            continue
        if name not in launch.datasets and dataset.launch_group_only:
            continue
        writable = name in launch.writable_datasets and dataset.type in WRITABLE_TYPES
        datasets.append(MountedDataset(dataset, writable))
    found = _offered_cache[key] = (tuple(instance_types), tuple(images), tuple(datasets))
    if len(_offered_cache) > OFFERED_CACHE_SIZE:
        _offered_cache.popitem(last=False)
    return found


def _refuse_shared_volume_clash(launch: Group | None, mounted: list[Group],
                                with_volume: list[Group]) -> None:
    """Two groups whose names make one volume (`ml_team`, `ml-team`) would see each other's
    data: refused when both are mounted in this launch, or when the launch group's own
    volume is another group's too (mounted here or not)."""
    seen: dict[str, Group] = {}
    for group in mounted:
        clash = seen.setdefault(project_dir(group), group)
        if clash is not group:
            raise GroupMisconfigured(_clash_sentence(clash, group))
    if launch is not None:
        for other in with_volume:
            if project_dir(other) == project_dir(launch):
                raise GroupMisconfigured(_clash_sentence(launch, other))


def _clash_sentence(first: Group, second: Group) -> str:
    return (f"Groups {first.label} and {second.label} both have the shared volume "
            f"project-{project_dir(first)}, so one would see the other's data; ask an "
            "administrator to rename one of them.")


def _by_size(it: InstanceType):
    return (it.gpu_limit, it.cpu_limit, it.mem_limit, it.display_name.lower(), it.name)
