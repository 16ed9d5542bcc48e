"""InstanceType, Image and Dataset custom resources -> typed, validated catalog entries.

Pure: each `parse_*` takes the object as the API server returns it (a dict) and returns a
frozen entry, or raises `InvalidResource` with a sentence naming what is wrong. The watch
cache (`crd_cache.py`) calls them and leaves rejected objects out of the catalog.

The shapes are PrimeHub's own (DESIGN §2.2, its CRDs in crds/): InstanceType spec keys are
literal dotted strings (`limits.cpu`), Dataset sub-specs are nested objects
(`spec.nfs.server`). PrimeHub's console writes `null` for an unset field: null means absent
everywhere. Untrusted values are echoed through `names.shown`, cut short.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .names import (
    is_dns_label,
    is_dns_subdomain,
    is_kube_env_name,
    is_label_value,
    is_qualified_name,
    is_reserved_dataset_env,
    is_safe_path,
    shown,
)
from .quantities import LARGEST, parse_cpu, parse_memory

GROUP = "primehub.io"
VERSION = "v1alpha1"
# kind -> plural, as served by the CRDs in crds/.
PLURALS = {"InstanceType": "instancetypes", "Image": "images", "Dataset": "datasets"}

DEFAULT_GPU_RESOURCE = "nvidia.com/gpu"
DATASET_TYPES = ("env", "git", "pv", "hostPath", "nfs")
ANNOTATION = "dataset.primehub.io/"

# A pv dataset whose volumeName starts so is a directory on the node (PrimeHub's legacy form).
LEGACY_HOSTPATH = "hostpath:"
# The console (GraphQL) may leave its type marker among an env dataset's variables.
GRAPHQL_TYPENAME = "__typename"

# GPU counts: ASCII digits only (`"²".isdigit()` is true in Python, and int() refuses it).
_COUNT = re.compile(r"[ ]*([0-9]{1,19})[ ]*")
_TOLERATION_KEYS = {"key", "operator", "value", "effect", "tolerationSeconds"}
_TOLERATION_EFFECTS = {"", "NoSchedule", "PreferNoSchedule", "NoExecute"}


class InvalidResource(ValueError):
    """A custom resource that cannot be offered; str() is the reason."""


def _frozen(mapping: Mapping) -> Mapping:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class InstanceType:
    name: str
    display_name: str
    description: str
    cpu_limit: float
    mem_limit: int  # bytes
    cpu_request: float | None = None
    mem_request: int | None = None
    gpu_limit: int = 0
    gpu_resource_name: str = DEFAULT_GPU_RESOURCE
    node_selector: Mapping[str, str] = field(default_factory=lambda: _frozen({}))
    tolerations: tuple[Mapping, ...] = ()

    @property
    def has_gpu(self) -> bool:
        """Whether it asks for any GPU, of whatever resource."""
        return self.gpu_limit > 0

    @property
    def has_nvidia_gpu(self) -> bool:
        """Whether it asks for GPUs of the default resource, `nvidia.com/gpu`."""
        return self.has_gpu and self.gpu_resource_name == DEFAULT_GPU_RESOURCE


@dataclass(frozen=True)
class Image:
    name: str
    display_name: str
    description: str
    type: str  # cpu | gpu | both
    url: str
    url_for_gpu: str
    pull_secret: str = ""
    group_name: str = ""

    @property
    def ready(self) -> bool:
        """An image with no url is still being built and cannot be chosen."""
        return bool(self.url)

    def fits(self, instance_type: InstanceType) -> bool:
        """A GPU-only image needs a GPU; CPU and universal images run anywhere."""
        return self.type != "gpu" or instance_type.has_gpu

    def url_for(self, instance_type: InstanceType) -> str:
        """The image to pull on `instance_type`: `urlForGpu` (when set) if it has a GPU,
        `url` otherwise."""
        return (self.url_for_gpu or self.url) if instance_type.has_gpu else self.url


@dataclass(frozen=True)
class Dataset:
    name: str
    display_name: str
    description: str
    type: str
    # From the mountRoot annotation; empty means the spawner's dataset_mount_root.
    mount_root: str = ""
    home_symlink: bool = False
    launch_group_only: bool = False
    # pv: the claim is `dataset-<volume_name>`
    volume_name: str = ""
    # nfs
    nfs_server: str = ""
    nfs_path: str = ""
    # hostPath, and a legacy pv whose volumeName is `hostpath:<path>` (read as type hostPath)
    host_path: str = ""
    # git: shown only; the node agent syncs the repository, the spawner mounts its directory.
    git_url: str = ""
    # Read by the node agent that syncs the repository, not by the spawner.
    git_secret: str = ""
    git_sync_host_root: str = "/home/dataset"
    git_sync_root: str = "/gitsync"
    # env
    variables: Mapping[str, str] = field(default_factory=lambda: _frozen({}))

    @property
    def pod_volume(self) -> str:
        """The pod volume name: `dataset-<name>`, or, when the name does not make a volume
        name (dots, `_`, capitals, length), a valid one made unique by a hash of the name."""
        plain = f"dataset-{self.name}"
        if is_dns_label(plain):
            return plain
        digest = hashlib.sha256(self.name.encode("utf-8")).hexdigest()[:8]
        stem = re.sub(r"[^a-z0-9-]+", "-", self.name.lower()).strip("-")[:45].rstrip("-")
        return f"dataset-{stem}-{digest}" if stem else f"dataset-{digest}"

    @property
    def environment(self) -> dict[str, str]:
        """An env dataset's variables as PrimeHub exports them: `<NAME>_<KEY>` upper-cased
        as written, and again with `-` turned into `_`."""
        exported: dict[str, str] = {}
        for key, value in self.variables.items():
            for name in dataset_env_names(self.name, key):
                exported[name] = value
        return exported


@dataclass(frozen=True)
class Catalog:
    instance_types: Mapping[str, InstanceType] = field(default_factory=lambda: _frozen({}))
    images: Mapping[str, Image] = field(default_factory=lambda: _frozen({}))
    datasets: Mapping[str, Dataset] = field(default_factory=lambda: _frozen({}))


# ---- helpers shared by the three parsers -------------------------------------------------

def _metadata(obj: object, kind: str) -> tuple[str, Mapping, Mapping]:
    if not isinstance(obj, Mapping):
        raise InvalidResource("the object is not a mapping")
    if obj.get("kind") not in (None, kind):
        raise InvalidResource(f"kind {shown(obj.get('kind'))} is not {kind}")
    meta = _mapping(obj, "metadata")
    name = meta.get("name")
    if not is_dns_subdomain(name):
        # The API server stores a custom resource only under a DNS-1123 subdomain.
        raise InvalidResource(
            f"metadata.name {shown(name)} is not a DNS subdomain (lower-case letters, digits, "
            "'-' and '.'), so no API server would store it")
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        raise InvalidResource("spec is missing or not a mapping")
    return name, _mapping(meta, "annotations", "metadata.annotations"), spec


def _mapping(parent: Mapping, key: str, where: str | None = None) -> Mapping:
    """An optional nested object: absent and null read as empty."""
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidResource(f"{where or key} must be a mapping, not {shown(value)}")
    return value


def _text(spec: Mapping, key: str, default: str = "", where: str | None = None) -> str:
    value = spec.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise InvalidResource(f"{where or key} must be a string, not {shown(value)}")
    return value


def _required_text(spec: Mapping, key: str, where: str | None = None) -> str:
    value = _text(spec, key, where=where)
    if not value:
        raise InvalidResource(f"{where or key} is required")
    return value


def _path(value: str, what: str) -> str:
    # Paths end up in mounts and in a postStart shell line: plain characters, no `..` step.
    if not is_safe_path(value):
        raise InvalidResource(f"{what} {shown(value)} must be an absolute path of letters, "
                              "digits, '_', '.', '-' and '/' with no '..' step")
    return value


def _flag(annotations: Mapping, key: str) -> bool:
    # str(): PrimeHub's own hub tests write some of these as booleans.
    return str(annotations.get(ANNOTATION + key, "")).strip().lower() == "true"


def _names(spec: Mapping, name: str) -> tuple[str, str]:
    return (_text(spec, "displayName") or name, _text(spec, "description"))


# ---- InstanceType -------------------------------------------------------------------------

def parse_instance_type(obj: Mapping) -> InstanceType:
    """The InstanceType entry of a custom resource as the API server returns it, or
    InvalidResource with a sentence naming what is wrong."""
    name, _, spec = _metadata(obj, "InstanceType")
    display_name, description = _names(spec, name)
    cpu_limit = _quantity(spec, "limits.cpu", parse_cpu, required=True)
    mem_limit = _quantity(spec, "limits.memory", parse_memory, required=True)
    cpu_request = _quantity(spec, "requests.cpu", parse_cpu)
    mem_request = _quantity(spec, "requests.memory", parse_memory)
    if cpu_request is not None and cpu_request > cpu_limit:
        raise InvalidResource("requests.cpu is greater than limits.cpu")
    if mem_request is not None and mem_request > mem_limit:
        raise InvalidResource("requests.memory is greater than limits.memory")
    gpu_limit, gpu_resource = _gpu(spec)
    tolerations = spec.get("tolerations")
    if tolerations is None:
        tolerations = []
    if not isinstance(tolerations, list):
        raise InvalidResource("tolerations must be a list")
    return InstanceType(
        name=name, display_name=display_name, description=description,
        cpu_limit=cpu_limit, mem_limit=mem_limit,
        cpu_request=cpu_request, mem_request=mem_request,
        gpu_limit=gpu_limit, gpu_resource_name=gpu_resource,
        node_selector=_frozen(_node_selector(spec)),
        tolerations=tuple(_frozen(_toleration(t, i)) for i, t in enumerate(tolerations)),
    )


def _quantity(spec: Mapping, key: str, parse, required: bool = False):
    """A quantity in PrimeHub's reading (`2G` is 2 GiB); null or empty means absent."""
    if spec.get(key) in (None, ""):
        if required:
            raise InvalidResource(f"{key} is required")
        return None
    try:
        value = parse(spec[key])
    except ValueError as e:
        raise InvalidResource(f"{key}: {e}") from None
    if required and value <= 0:
        raise InvalidResource(f"{key} must be greater than zero")
    return value


def _gpu(spec: Mapping) -> tuple[int, str]:
    """(count, resource name), as PrimeHub's console leaves a type after merge-patches: the
    current pair `limits.gpu` + `gpuResourceName` wins when both keys are there (even `0`
    with `""`), else the legacy `limits.nvidia.com/gpu`, else none: a lone `limits.gpu`
    names no resource, and PrimeHub's hub gives such a type no GPU either."""
    current = _gpu_count(spec, "limits.gpu")
    legacy = _gpu_count(spec, "limits.nvidia.com/gpu")
    resource = _text(spec, "gpuResourceName")
    if resource:
        _check_gpu_resource(resource)
    if current is not None and spec.get("gpuResourceName") is not None:
        if current and not resource:
            raise InvalidResource(f"limits.gpu is {current} but gpuResourceName is empty")
        return current, resource or DEFAULT_GPU_RESOURCE
    if legacy is not None:
        return legacy, DEFAULT_GPU_RESOURCE
    return 0, DEFAULT_GPU_RESOURCE


def _gpu_count(spec: Mapping, key: str) -> int | None:
    value = spec.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        match = _COUNT.fullmatch(value)
        value = int(match.group(1)) if match else value
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < LARGEST:
        raise InvalidResource(f"{key} must be a whole number of GPUs, not {shown(value)}")
    return value


def _check_gpu_resource(resource: str) -> None:
    """An extended resource: `<domain>/<name>` outside kubernetes.io, whose names (and the
    unprefixed `cpu`, `memory`, `pods`, `hugepages-*`, ...) are Kubernetes' own."""
    domain = resource.split("/", 1)[0]
    if "/" not in resource or not is_qualified_name(resource):
        raise InvalidResource(f"gpuResourceName {shown(resource)} is not a domain-prefixed "
                              "extended resource name like 'nvidia.com/gpu'")
    if domain == "kubernetes.io" or domain.endswith(".kubernetes.io"):
        raise InvalidResource(f"gpuResourceName {shown(resource)} is a Kubernetes resource, "
                              "not an extended resource")


def _node_selector(spec: Mapping) -> dict[str, str]:
    value = spec.get("nodeSelector")
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidResource("nodeSelector must map strings to strings")
    selector = {}
    for key, label in value.items():
        if label is None:
            continue
        if not isinstance(key, str) or not isinstance(label, str):
            raise InvalidResource("nodeSelector must map strings to strings")
        if not is_qualified_name(key) or not is_label_value(label):
            raise InvalidResource(f"nodeSelector {shown(key)}: {shown(label)} is not a label "
                                  "key and value")
        selector[key] = label
    return selector


def _toleration(value: object, index: int) -> dict:
    where = f"tolerations[{index}]"
    if not isinstance(value, Mapping):
        raise InvalidResource(f"{where} must be a mapping")
    unknown = [k for k in value if k not in _TOLERATION_KEYS]
    if unknown:
        raise InvalidResource(f"{where} has unknown keys {shown(sorted(map(str, unknown)))}")
    kept = {k: v for k, v in value.items() if v is not None}
    # Types first: a list where a string belongs must be a reason, not a TypeError.
    for key in ("key", "operator", "value", "effect"):
        if key in kept and not isinstance(kept[key], str):
            raise InvalidResource(f"{where}.{key} must be a string")
    key, operator = kept.get("key", ""), kept.get("operator", "")
    effect, seconds = kept.get("effect", ""), kept.get("tolerationSeconds")
    if operator not in ("", "Equal", "Exists"):
        raise InvalidResource(f"{where}.operator must be Equal or Exists")
    if key and not is_qualified_name(key):
        raise InvalidResource(f"{where}.key {shown(key)} is not a taint key")
    if not key and operator != "Exists":
        raise InvalidResource(f"{where} has no key, so its operator must be Exists")
    if operator == "Exists" and kept.get("value"):
        raise InvalidResource(f"{where} uses operator Exists with a value")
    if not is_label_value(kept.get("value", "")):
        raise InvalidResource(f"{where}.value {shown(kept['value'])} is not a taint value")
    if effect not in _TOLERATION_EFFECTS:
        raise InvalidResource(f"{where}.effect {shown(effect)} is not a taint effect")
    if seconds is not None:
        if isinstance(seconds, bool) or not isinstance(seconds, int) or abs(seconds) >= LARGEST:
            raise InvalidResource(f"{where}.tolerationSeconds must be a whole number")
        if effect != "NoExecute":
            raise InvalidResource(f"{where} sets tolerationSeconds, which needs effect NoExecute")
    return kept


# ---- Image --------------------------------------------------------------------------------

def parse_image(obj: Mapping) -> Image:
    """The Image entry of a custom resource as the API server returns it (type `both` when
    unset), or InvalidResource with a sentence naming what is wrong."""
    name, _, spec = _metadata(obj, "Image")
    display_name, description = _names(spec, name)
    image_type = _text(spec, "type") or "both"
    if image_type not in ("cpu", "gpu", "both"):
        raise InvalidResource(f"type {shown(image_type)} is not one of cpu, gpu, both")
    url = _text(spec, "url").strip()
    url_for_gpu = _text(spec, "urlForGpu").strip()
    for key, value in (("url", url), ("urlForGpu", url_for_gpu)):
        if any(c.isspace() for c in value):
            raise InvalidResource(f"{key} {shown(value)} contains whitespace")
    pull_secret = _text(spec, "pullSecret")
    if pull_secret and not is_dns_subdomain(pull_secret):
        raise InvalidResource(f"pullSecret {shown(pull_secret)} is not a Secret name")
    return Image(name=name, display_name=display_name, description=description,
                 type=image_type, url=url, url_for_gpu=url_for_gpu,
                 pull_secret=pull_secret, group_name=_text(spec, "groupName"))


# ---- Dataset ------------------------------------------------------------------------------

def parse_dataset(obj: Mapping) -> Dataset:
    """The Dataset entry of a custom resource as the API server returns it (a legacy pv
    whose volumeName is `hostpath:<path>` becomes type hostPath), or InvalidResource with a
    sentence naming what is wrong."""
    # Any stored name will do: `Dataset.pod_volume` makes a volume name of it.
    name, annotations, spec = _metadata(obj, "Dataset")
    display_name, description = _names(spec, name)
    dataset_type = _required_text(spec, "type")
    if dataset_type not in DATASET_TYPES:
        raise InvalidResource(
            f"type {shown(dataset_type)} is not one of {', '.join(DATASET_TYPES)}")
    mount_root = _text(annotations, ANNOTATION + "mountRoot", where="mountRoot")
    fields: dict = {
        "mount_root": _path(mount_root, "mountRoot") if mount_root else "",
        "home_symlink": _flag(annotations, "homeSymlink"),
        "launch_group_only": _flag(annotations, "launchGroupOnly"),
    }
    if dataset_type == "pv":
        volume_name = _required_text(spec, "volumeName")
        if volume_name.startswith(LEGACY_HOSTPATH):
            dataset_type = "hostPath"
            fields["host_path"] = _path(volume_name[len(LEGACY_HOSTPATH):], "volumeName's path")
        elif not is_dns_subdomain(f"dataset-{volume_name}"):
            raise InvalidResource(f"volumeName {shown(volume_name)} is not a valid name")
        else:
            fields["volume_name"] = volume_name
    elif dataset_type == "nfs":
        nfs = _nested(spec, "nfs")
        server = _required_text(nfs, "server", "spec.nfs.server")
        if any(c.isspace() for c in server):
            raise InvalidResource(f"spec.nfs.server {shown(server)} contains whitespace")
        fields["nfs_server"] = server
        fields["nfs_path"] = _path(_required_text(nfs, "path", "spec.nfs.path"), "spec.nfs.path")
    elif dataset_type == "hostPath":
        path = _required_text(_nested(spec, "hostPath"), "path", "spec.hostPath.path")
        fields["host_path"] = _path(path, "spec.hostPath.path")
    elif dataset_type == "git":
        # The url is only shown: a git dataset with an empty one still mounts.
        fields["git_url"] = _text(spec, "url")
        fields["git_secret"] = _text(_nested(spec, "gitsync"), "secret",
                                     where="spec.gitsync.secret")
        for key, default, field_name in (("gitSyncHostRoot", "/home/dataset", "git_sync_host_root"),
                                         ("gitSyncRoot", "/gitsync", "git_sync_root")):
            root = _text(annotations, ANNOTATION + key, where=key) or default
            fields[field_name] = _path(root, key)
    elif dataset_type == "env":
        fields["variables"] = _frozen(_variables(name, _nested(spec, "variables")))
    return Dataset(name=name, display_name=display_name, description=description,
                   type=dataset_type, **fields)


def _nested(spec: Mapping, key: str) -> Mapping:
    """A Dataset sub-spec, nested as PrimeHub's CRD has it; says so to a flat `nfs.server`."""
    value = _mapping(spec, key, f"spec.{key}")
    if not value and any(isinstance(k, str) and k.startswith(f"{key}.") for k in spec):
        raise InvalidResource(f"spec.{key} is missing: Dataset sub-specs are nested objects "
                              f"(spec.{key}.<field>), not dotted keys")
    return value


def _variables(dataset: str, variables: Mapping) -> dict[str, str]:
    clean = {}
    for key, value in variables.items():
        if key == GRAPHQL_TYPENAME:
            continue
        if not isinstance(key, str):
            raise InvalidResource(f"variables key {shown(key)} is not a string")
        for exported in dataset_env_names(dataset, key):
            if not is_kube_env_name(exported):
                raise InvalidResource(f"variables key {shown(key)} makes {shown(exported)}, "
                                      "which is not an environment variable name")
            if is_reserved_dataset_env(exported):
                raise InvalidResource(f"variables key {shown(key)} would set {exported}, which "
                                      "only the hub or the system may set")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise InvalidResource(f"variables[{shown(key)}] must be a string")
        clean[key] = str(value)
    return clean


def dataset_env_names(dataset: str, key: str) -> tuple[str, ...]:
    """`<DATASET>_<KEY>` upper-cased as written, then with `-` turned into `_` (DESIGN §5)."""
    written = f"{dataset}_{key}".upper()
    underscored = written.replace("-", "_")
    return (written,) if written == underscored else (written, underscored)


PARSERS = {"InstanceType": parse_instance_type, "Image": parse_image, "Dataset": parse_dataset}
