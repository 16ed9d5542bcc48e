"""InstanceType, Image and Dataset custom resources -> typed, validated catalog entries.

Pure: each `parse_*` takes the object as the API server returns it (a dict) and returns a
frozen entry, or raises `InvalidResource` with a sentence naming what is wrong. The watch
cache (`crd_cache.py`) calls them and leaves rejected objects out of the catalog.
Several spec keys are literal dotted strings (`limits.cpu`), not nested objects.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .names import is_dns_label
from .quantities import parse_cpu, parse_memory

GROUP = "primehub.io"
VERSION = "v1alpha1"
# kind -> plural, as served by the CRDs in crds/.
PLURALS = {"InstanceType": "instancetypes", "Image": "images", "Dataset": "datasets"}

DEFAULT_GPU_RESOURCE = "nvidia.com/gpu"
DATASET_TYPES = ("env", "git", "pv", "hostPath", "nfs")
ANNOTATION = "dataset.primehub.io/"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_RESOURCE_NAME = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
# Paths end up in mounts and in a postStart shell command; keep them to plain characters.
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9_./-]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
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
        return self.gpu_limit > 0

    @property
    def has_nvidia_gpu(self) -> bool:
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
    # pv
    volume_name: str = ""
    # nfs
    nfs_server: str = ""
    nfs_path: str = ""
    # hostPath
    host_path: str = ""
    # git
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

def _metadata(obj: Mapping) -> tuple[str, Mapping, Mapping]:
    if not isinstance(obj, Mapping):
        raise InvalidResource("the object is not a mapping")
    meta = obj.get("metadata") or {}
    name = meta.get("name")
    if not isinstance(name, str) or not _DNS_SUBDOMAIN.match(name) or len(name) > 253:
        raise InvalidResource(f"metadata.name {name!r} is not a valid resource name")
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        raise InvalidResource("spec is missing or not a mapping")
    return name, meta.get("annotations") or {}, spec


def _text(spec: Mapping, key: str, default: str = "") -> str:
    value = spec.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise InvalidResource(f"{key} must be a string, not {value!r}")
    return value


def _required_text(spec: Mapping, key: str) -> str:
    value = _text(spec, key)
    if not value:
        raise InvalidResource(f"{key} is required")
    return value


def _path(value: str, what: str) -> str:
    if not _SAFE_PATH.match(value) or "/../" in f"{value}/":
        raise InvalidResource(f"{what} {value!r} must be an absolute path of letters, digits, '_', '.', '-' and '/'")
    return value


def _flag(annotations: Mapping, key: str) -> bool:
    return str(annotations.get(ANNOTATION + key, "")).strip().lower() == "true"


def _names(display_name_source: Mapping, name: str) -> tuple[str, str]:
    return (_text(display_name_source, "displayName") or name,
            _text(display_name_source, "description"))


# ---- InstanceType -------------------------------------------------------------------------

def parse_instance_type(obj: Mapping) -> InstanceType:
    name, _, spec = _metadata(obj)
    display_name, description = _names(spec, name)

    def quantity(key: str, parse, required: bool):
        if key not in spec or spec[key] in (None, ""):
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

    cpu_limit = quantity("limits.cpu", parse_cpu, True)
    mem_limit = quantity("limits.memory", parse_memory, True)
    cpu_request = quantity("requests.cpu", parse_cpu, False)
    mem_request = quantity("requests.memory", parse_memory, False)
    if cpu_request is not None and cpu_request > cpu_limit:
        raise InvalidResource("requests.cpu is greater than limits.cpu")
    if mem_request is not None and mem_request > mem_limit:
        raise InvalidResource("requests.memory is greater than limits.memory")

    gpu_limit, gpu_resource = _gpu(spec)
    node_selector = spec.get("nodeSelector") or {}
    if not isinstance(node_selector, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in node_selector.items()
    ):
        raise InvalidResource("nodeSelector must map strings to strings")
    tolerations = spec.get("tolerations") or []
    if not isinstance(tolerations, list):
        raise InvalidResource("tolerations must be a list")
    return InstanceType(
        name=name, display_name=display_name, description=description,
        cpu_limit=cpu_limit, mem_limit=mem_limit,
        cpu_request=cpu_request, mem_request=mem_request,
        gpu_limit=gpu_limit, gpu_resource_name=gpu_resource,
        node_selector=_frozen(node_selector),
        tolerations=tuple(_frozen(_toleration(t, i)) for i, t in enumerate(tolerations)),
    )


def _gpu(spec: Mapping) -> tuple[int, str]:
    def count(key: str) -> int | None:
        value = spec.get(key)
        if value is None:
            return None
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidResource(f"{key} must be a whole number of GPUs, not {value!r}")
        return value

    current = count("limits.gpu")
    legacy = count("limits.nvidia.com/gpu")
    resource = _text(spec, "gpuResourceName") or DEFAULT_GPU_RESOURCE
    if not _RESOURCE_NAME.match(resource):
        raise InvalidResource(f"gpuResourceName {resource!r} is not a resource name")
    if current is not None and legacy is not None and (current != legacy or resource != DEFAULT_GPU_RESOURCE):
        raise InvalidResource("limits.gpu and the legacy limits.nvidia.com/gpu disagree; keep one")
    if current is not None:
        return current, resource
    if legacy is not None:
        return legacy, DEFAULT_GPU_RESOURCE
    return 0, resource


def _toleration(value: object, index: int) -> dict:
    where = f"tolerations[{index}]"
    if not isinstance(value, Mapping):
        raise InvalidResource(f"{where} must be a mapping")
    unknown = set(value) - _TOLERATION_KEYS
    if unknown:
        raise InvalidResource(f"{where} has unknown keys {sorted(unknown)}")
    # Types first: a list where a string belongs must be a reason, not a TypeError.
    for key in ("key", "operator", "value", "effect"):
        if key in value and not isinstance(value[key], str):
            raise InvalidResource(f"{where}.{key} must be a string")
    operator = value.get("operator", "Equal")
    if operator not in ("Equal", "Exists"):
        raise InvalidResource(f"{where}.operator must be Equal or Exists")
    if value.get("effect", "") not in _TOLERATION_EFFECTS:
        raise InvalidResource(f"{where}.effect {value.get('effect')!r} is not a taint effect")
    if operator == "Exists" and value.get("value"):
        raise InvalidResource(f"{where} uses operator Exists with a value")
    seconds = value.get("tolerationSeconds")
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int)):
        raise InvalidResource(f"{where}.tolerationSeconds must be a whole number")
    return dict(value)


# ---- Image --------------------------------------------------------------------------------

def parse_image(obj: Mapping) -> Image:
    name, _, spec = _metadata(obj)
    display_name, description = _names(spec, name)
    image_type = _text(spec, "type") or "both"
    if image_type not in ("cpu", "gpu", "both"):
        raise InvalidResource(f"type {image_type!r} is not one of cpu, gpu, both")
    url = _text(spec, "url").strip()
    url_for_gpu = _text(spec, "urlForGpu").strip()
    for key, value in (("url", url), ("urlForGpu", url_for_gpu)):
        if any(c.isspace() for c in value):
            raise InvalidResource(f"{key} {value!r} contains whitespace")
    pull_secret = _text(spec, "pullSecret")
    if pull_secret and not _DNS_SUBDOMAIN.match(pull_secret):
        raise InvalidResource(f"pullSecret {pull_secret!r} is not a Secret name")
    return Image(name=name, display_name=display_name, description=description,
                 type=image_type, url=url, url_for_gpu=url_for_gpu,
                 pull_secret=pull_secret, group_name=_text(spec, "groupName"))


# ---- Dataset ------------------------------------------------------------------------------

def parse_dataset(obj: Mapping) -> Dataset:
    name, annotations, spec = _metadata(obj)
    if not _DNS_LABEL.match(name) or len(name) > 55:
        # The name becomes the pod volume `dataset-<name>`, a DNS label of 63 characters.
        raise InvalidResource(f"metadata.name {name!r} must be a DNS label of at most 55 characters")
    display_name, description = _names(spec, name)
    dataset_type = _required_text(spec, "type")
    if dataset_type not in DATASET_TYPES:
        raise InvalidResource(f"type {dataset_type!r} is not one of {', '.join(DATASET_TYPES)}")
    fields: dict = {
        "mount_root": _path(str(annotations[ANNOTATION + "mountRoot"]), "mountRoot")
        if annotations.get(ANNOTATION + "mountRoot") else "",
        "home_symlink": _flag(annotations, "homeSymlink"),
        "launch_group_only": _flag(annotations, "launchGroupOnly"),
    }
    if dataset_type == "pv":
        volume_name = _required_text(spec, "volumeName")
        if not _DNS_SUBDOMAIN.match(volume_name):
            raise InvalidResource(f"volumeName {volume_name!r} is not a valid name")
        fields["volume_name"] = volume_name
    elif dataset_type == "nfs":
        fields["nfs_server"] = _required_text(spec, "nfs.server")
        fields["nfs_path"] = _path(_required_text(spec, "nfs.path"), "nfs.path")
    elif dataset_type == "hostPath":
        fields["host_path"] = _path(_required_text(spec, "hostPath.path"), "hostPath.path")
    elif dataset_type == "git":
        fields["git_url"] = _required_text(spec, "url")
        fields["git_secret"] = _text(spec, "gitsync.secret")
        fields["git_sync_host_root"] = _path(
            str(annotations.get(ANNOTATION + "gitSyncHostRoot") or "/home/dataset"), "gitSyncHostRoot")
        fields["git_sync_root"] = _path(
            str(annotations.get(ANNOTATION + "gitSyncRoot") or "/gitsync"), "gitSyncRoot")
    elif dataset_type == "env":
        variables = spec.get("variables") or {}
        if not isinstance(variables, Mapping):
            raise InvalidResource("variables must be a mapping")
        clean = {}
        for key, value in variables.items():
            if not isinstance(key, str) or not _ENV_NAME.match(dataset_env_names(name, key)[-1]):
                raise InvalidResource(f"variables key {key!r} does not make an environment variable name")
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise InvalidResource(f"variables[{key!r}] must be a string")
            clean[key] = str(value)
        fields["variables"] = _frozen(clean)
    return Dataset(name=name, display_name=display_name, description=description,
                   type=dataset_type, **fields)


def dataset_env_names(dataset: str, key: str) -> tuple[str, ...]:
    """`<DATASET>_<KEY>` upper-cased as written, then with `-` turned into `_` (DESIGN §5)."""
    written = f"{dataset}_{key}".upper()
    underscored = written.replace("-", "_")
    return (written,) if written == underscored else (written, underscored)


PARSERS = {"InstanceType": parse_instance_type, "Image": parse_image, "Dataset": parse_dataset}
