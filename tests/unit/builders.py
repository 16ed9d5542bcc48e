"""Small builders for the pure unit tests: CR dicts, groups, entitlements, catalogs, pods.

Index:
- `instance_type_cr`, `image_cr`, `dataset_cr`: a custom resource as the API server returns it.
- `make_catalog(*objs)`: parse CR dicts into a `Catalog` (raises if one is malformed).
- `make_group`, `make_user`: Keycloak groups and a `UserEntitlements` snapshot.
- `demo_objects`, `demo_catalog`, `demo_groups`, `demo_user`: the devstack demo data of
  devstack/PORTS.md (and devstack/demo-data.yaml), rebuilt fresh on every call.
- `lab`: a one-group world built from a few CR dicts, for rules that need their own data.
- `make_pod`: a pod dict as KubeSpawner's reflector keeps it, for quota arithmetic.
- `primehub_reads(value)`: the name PrimeHub's tools read back from a label value.

Nothing here touches the network or a cluster, and nothing is loaded at import time.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import escapism

from primehub_spawner.catalog import PARSERS, Catalog
from primehub_spawner.entitlements import Group, UserEntitlements
from tests.demo_data import demo_objects

API_VERSION = "primehub.io/v1alpha1"
NAMESPACE = "hub"


# ---- custom resources ---------------------------------------------------------------------

def cr(kind: str, name: object, spec: object, annotations: Mapping | None = None) -> dict:
    metadata: dict = {"name": name, "namespace": NAMESPACE}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}


def instance_type_cr(name: str = "small", spec: Mapping | None = None, **more) -> dict:
    """Defaults to 1 cpu / 1G; `spec` entries (dotted keys) and `more` override them."""
    full = {"limits.cpu": 1, "limits.memory": "1G"}
    full.update(spec or {})
    full.update(more)
    return cr("InstanceType", name, full)


def image_cr(name: str = "base", spec: Mapping | None = None, **more) -> dict:
    full = {"type": "both", "url": f"example.org/{name}:1"}
    full.update(spec or {})
    full.update(more)
    return cr("Image", name, full)


def dataset_cr(name: str = "data", spec: Mapping | None = None,
               annotations: Mapping | None = None, **more) -> dict:
    """Defaults to a pv dataset on volume `<name>`."""
    full = {"type": "pv", "volumeName": name}
    full.update(spec or {})
    full.update(more)
    return cr("Dataset", name, full, annotations)


def without(obj: dict, *keys: str) -> dict:
    """A copy of a CR with the given spec keys removed."""
    spec = {k: v for k, v in obj["spec"].items() if k not in keys}
    return {**obj, "spec": spec}


def make_catalog(*objs: Mapping) -> Catalog:
    kinds = {"InstanceType": {}, "Image": {}, "Dataset": {}}
    for obj in objs:
        entry = PARSERS[obj["kind"]](obj)
        kinds[obj["kind"]][entry.name] = entry
    return Catalog(instance_types=kinds["InstanceType"], images=kinds["Image"],
                   datasets=kinds["Dataset"])


# ---- Keycloak -----------------------------------------------------------------------------

def make_group(name: str, roles: Iterable[str] = (), attributes: Mapping | None = None,
               display_name: str | None = None, id: str | None = None,
               path: str | None = None) -> Group:
    attrs = dict(attributes or {})
    if display_name is not None:
        attrs["displayName"] = display_name
    return Group(id=id or f"gid-{name}", name=name, roles=tuple(roles), attributes=attrs,
                 path=f"/{name}" if path is None else path)


def make_user(groups: Iterable[Group] = (), everyone: Group | None = None,
              username: str = "alice", user_attributes: Mapping | None = None,
              is_admin: bool = False) -> UserEntitlements:
    return UserEntitlements(username=username, user_id=f"uid-{username}",
                            groups=tuple(groups), everyone=everyone,
                            user_attributes=dict(user_attributes or {}), is_admin=is_admin,
                            fetched_at=1700000000.0)


# ---- the devstack demo data (devstack/PORTS.md) ------------------------------------------

def demo_catalog() -> Catalog:
    return make_catalog(*demo_objects())


def demo_groups() -> dict[str, Group]:
    return {
        "everyone": make_group("everyone", ["it:cpu-1", "img:base-notebook", "ds:public-env"],
                               {"defaultUserVolumeCapacity": "5G"}),
        "research": make_group(
            "research",
            ["it:cpu-2", "it:gpu-small", "img:pytorch", "img:tf-gpu", "img:research-image",
             "ds:rw:team-data", "ds:shared-nfs", "ds:host-data"],
            {"quota-cpu": "4", "quota-memory": "8G", "quota-gpu": "1",
             "project-quota-cpu": "16", "project-quota-memory": "32G", "project-quota-gpu": "2",
             "enabled-shared-volume": "true", "shared-volume-capacity": "10G",
             "home-symlink": "true", "mlflow-tracking-uri": "http://mlflow.research.svc:5000",
             "mlflow-ui-url": "http://mlflow.example/research"},
            display_name="Research Lab"),
        "class-101": make_group(
            "class-101",
            ["it:legacy-gpu", "img:private-image", "img:building-image", "ds:team-data",
             "ds:git-repo", "ds:class-only"],
            {"quota-cpu": "2", "quota-memory": "4G", "enabled-shared-volume": "true",
             "shared-volume-capacity": "5G", "launch-group-only": "true"},
            display_name="Class 101"),
        "empty-group": make_group("empty-group", display_name="Empty Group"),
    }


DEMO_MEMBERSHIP = {
    "phadmin": ("research",),
    "alice": ("research", "class-101"),
    "bob": ("class-101",),
    "carol": (),
    # Not in PORTS.md: a member of the group without roles, to see what `everyone` alone gives.
    "dave": ("empty-group",),
}
DEMO_USER_ATTRIBUTES = {"alice": {"volumeCapacity": "20G", "timezone": "Asia/Taipei"}}


def demo_user(username: str) -> UserEntitlements:
    groups = demo_groups()
    return make_user([groups[g] for g in DEMO_MEMBERSHIP[username]], groups["everyone"],
                     username=username, user_attributes=DEMO_USER_ATTRIBUTES.get(username),
                     is_admin=username == "phadmin")


# ---- a one-group world --------------------------------------------------------------------

def lab(*objs: Mapping, rw: Iterable[str] = (), group: str = "lab",
        attributes: Mapping | None = None, everyone: Group | None = None,
        others: Iterable[Group] = (), username: str = "alice",
        user_attributes: Mapping | None = None) -> tuple[UserEntitlements, Catalog]:
    """A user in one launch group granted every object given (datasets named in `rw`
    read-write); `small` (1 cpu/1G) and `base` (type both) are added when no instance type
    or image is given."""
    objs = list(objs)
    if not any(o["kind"] == "InstanceType" for o in objs):
        objs.append(instance_type_cr("small"))
    if not any(o["kind"] == "Image" for o in objs):
        objs.append(image_cr("base"))
    rw = set(rw)
    prefix = {"InstanceType": "it:", "Image": "img:", "Dataset": "ds:"}
    roles = []
    for obj in objs:
        name = obj["metadata"]["name"]
        roles.append(("ds:rw:" if name in rw and obj["kind"] == "Dataset" else prefix[obj["kind"]])
                     + name)
    launch = make_group(group, roles, attributes)
    user = make_user([launch, *others], everyone, username=username,
                     user_attributes=user_attributes)
    return user, make_catalog(*objs)


# ---- pods ---------------------------------------------------------------------------------

def make_pod(name: str = "jupyter-alice", user: str = "alice", group: str = "research",
             limits: Mapping | None = None, phase: str = "Running",
             containers: int = 1) -> dict:
    labels = {"primehub.io/user": user, "primehub.io/group": group}
    container = {"name": "notebook", "resources": {"limits": dict(limits or {})}}
    return {"metadata": {"name": name, "labels": labels},
            "spec": {"containers": [dict(container, name=f"c{i}") for i in range(containers)]},
            "status": {"phase": phase}}


def primehub_reads(value: str) -> str:
    """The name PrimeHub's tools read back from a `primehub.io/user` or `group` label value:
    its own rule (escapism's unescape of the part after `escaped-`), written out here."""
    assert value.startswith("escaped-"), value
    return escapism.unescape(value[len("escaped-"):], escape_char="-")
