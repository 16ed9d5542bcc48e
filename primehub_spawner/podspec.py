"""A Choice -> the pod changes, in KubeSpawner's own override vocabulary (DESIGN §5).

Pure. `make_pod_overrides` returns a dict such as a profile's `kubespawner_override`
(`cpu_limit`, `image`, `volumes`, `environment`, ...) holding only what the choice adds;
`merge_overrides` lays it over the spawner's configured values (dicts merge with ours
winning a clash, lists are appended to), so operator settings are kept.

KubeSpawner formats every string of some settings (`TEMPLATED`) with the user's names
before it builds the pod; the values made here are literal, so their braces come doubled
and reach the pod as written.
"""
from __future__ import annotations

import json
import re
import shlex
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from .catalog import Dataset
from .entitlements import Group, UserEntitlements, group_settings, project_dir
from .labels import escape_label, project_label
from .names import LABEL_GROUP, LABEL_PROJECT, LABEL_USER, USAGE_ANNOTATION, shown
from .options import Choice
from .quantities import format_size, parse_size_attribute

DEFAULT_HOME_SIZE = "20G"
# The settings whose strings KubeSpawner formats (`{username}`) in get_pod_manifest.
TEMPLATED = frozenset({"extra_labels", "extra_annotations", "volumes", "volume_mounts",
                       "environment"})
_TIMEZONE = re.compile(r"[A-Za-z0-9_+\-/]{1,64}")


@dataclass(frozen=True)
class PodSettings:
    """The spawner settings the pod rules need (see the traitlets in spawner.py)."""
    home_dir: str = "/home/jovyan"
    # Mount the user's home PVC ourselves (False: the operator's volumes handle home).
    home_volume: bool = True
    pvc_name: str = ""
    default_home_size: str = DEFAULT_HOME_SIZE
    project_root: str = "/project"
    # Where datasets mount when they carry no dataset.primehub.io/mountRoot annotation.
    dataset_mount_root: str = "/datasets"
    # The pod's name, recorded in the usage annotation as PrimeHub's usage service reads it.
    pod_name: str = ""
    # The operator's own postStart hook (from lifecycle_hooks), run after our links.
    post_start: Mapping | None = None
    # PrimeHub's root-start pattern (the image's start script runs as root, then drops to
    # the notebook user): sudo for the user, and chown of the writable mounts and home.
    grant_sudo: bool = False
    chown_extra: bool = False
    # Dataset and group volume claims found missing at start: their volumes are left out
    # (see `volume_claims`), so that one missing claim does not hold the server in Pending.
    missing_claims: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ClaimUse:
    """A PersistentVolumeClaim the pod of a choice mounts, and what it is to the user."""
    claim: str
    volume: str
    what: str  # "dataset Team Data", "the shared volume of group Research Lab"


def dataset_claim(dataset: Dataset) -> str:
    """The claim a pv dataset mounts, as PrimeHub's controller names it."""
    return f"dataset-{dataset.volume_name}"


def project_claim(group: Group) -> str:
    """The claim (and pod volume) of a group's shared volume."""
    return f"project-{project_dir(group)}"


def volume_claims(choice: Choice) -> list[ClaimUse]:
    """The dataset (`dataset-<volumeName>`) and group shared-volume (`project-<group>`)
    claims the pod of `choice` mounts; the home claim is KubeSpawner's to create."""
    claims = [ClaimUse(dataset_claim(m.dataset), m.dataset.pod_volume,
                       f"dataset {m.dataset.display_name}")
              for m in choice.menu.datasets if m.dataset.type == "pv"]
    claims.extend(ClaimUse(project_claim(g), project_claim(g),
                           f"the shared volume of group {g.display_name}")
                  for g in choice.menu.shared_volume_groups)
    return claims


def home_size(entitlements: UserEntitlements, default: str) -> tuple[str, list[str]]:
    """The home volume size, in binary units, and a sentence for each unreadable attribute.

    The user's `volumeCapacity`, else everyone's `defaultUserVolumeCapacity`, else `default`
    (a bare number means GiB). A value that is not a size is skipped, so one typo in
    Keycloak never fails every start of that user; the sentences say which to fix.
    """
    everyone = entitlements.everyone.attributes if entitlements.everyone else {}
    problems = []
    for where, value in (("user attribute volumeCapacity",
                          entitlements.user_attributes.get("volumeCapacity")),
                         ("everyone's attribute defaultUserVolumeCapacity",
                          everyone.get("defaultUserVolumeCapacity")),
                         ("default_home_size", default)):
        if value is None or not str(value).strip():
            continue
        try:
            size = parse_size_attribute(value)
        except ValueError:
            problems.append(f"{where} {shown(value)} is not a size like '20G'; ignored")
            continue
        if size <= 0:
            problems.append(f"{where} {shown(value)} is not a positive size; ignored")
            continue
        return format_size(size), problems
    return format_size(parse_size_attribute(DEFAULT_HOME_SIZE)), problems


def make_pod_overrides(choice: Choice, entitlements: UserEntitlements,
                       settings: PodSettings) -> dict:
    """KubeSpawner's overrides that start `choice` for the user: resources and GPU, image
    and pull secret, scheduling, labels, home, dataset and group volumes, the postStart
    links, root start and the environment."""
    it, image, menu = choice.instance_type, choice.image, choice.menu
    group = menu.group
    overrides: dict = {
        "cpu_limit": it.cpu_limit,
        "mem_limit": it.mem_limit,
        # An absent request stays unset, so Kubernetes defaults it to the limit.
        "cpu_guarantee": it.cpu_request,
        "mem_guarantee": it.mem_request,
        "image": image.url_for(it),
        "node_selector": dict(it.node_selector),
        "tolerations": [dict(t) for t in it.tolerations],
        "extra_labels": {LABEL_USER: escape_label(entitlements.username),
                         LABEL_GROUP: escape_label(group.name),
                         LABEL_PROJECT: project_label(group.name)},
        "extra_annotations": {USAGE_ANNOTATION: json.dumps({
            "component": "jupyter", "component_name": settings.pod_name,
            "user": entitlements.username, "group": group.name,
            "instance_type": it.name, "image": image.name}, sort_keys=True)},
    }
    # Every choice sets the same keys (empty when it adds nothing), so that what one start
    # added is reset at the next: the spawner merges each start's keys over its configuration.
    overrides["extra_resource_limits"] = (
        {it.gpu_resource_name: str(it.gpu_limit)} if it.has_gpu else {})
    overrides["image_pull_secrets"] = [image.pull_secret] if image.pull_secret else []

    # The home volume first, then the datasets', then the group volumes.
    home_volumes: list[dict] = []
    home_mounts: list[dict] = []
    group_volumes: list[dict] = []
    group_mounts: list[dict] = []
    home = settings.home_dir
    # (target, link), as PrimeHub's hub makes them: the dataset root always in home.
    symlinks: list[tuple[str, str]] = [(settings.dataset_mount_root, f"{home}/datasets")]
    # Mounts the image's start script chowns to the notebook user when started as root.
    writable_paths: list[str] = []
    env: dict[str, str] = {}

    if settings.home_volume:
        home_volumes.append({"name": "home",
                             "persistentVolumeClaim": {"claimName": settings.pvc_name}})
        home_mount = f"{home}/user" if choice.safe_mode else home
        home_mounts.append({"name": "home", "mountPath": home_mount})
        overrides["storage_capacity"] = home_size(entitlements, settings.default_home_size)[0]
        if choice.safe_mode:
            writable_paths.append(home_mount)  # CHOWN_HOME covers home_dir only

    missing = settings.missing_claims
    dataset_volumes: list[Mapping] = []
    dataset_mounts: list[Mapping] = []
    for mounted in menu.datasets:
        piece = dataset_mount(mounted.dataset, mounted.writable, settings.dataset_mount_root,
                              home)
        if piece.claim is not None and piece.claim in missing:
            continue
        env.update(piece.env)
        if piece.volume is not None:
            dataset_volumes.append(piece.volume)
            dataset_mounts.append(piece.mount)
        symlinks.extend(piece.symlinks)
        if piece.writable_path is not None:
            writable_paths.append(piece.writable_path)

    for shared in menu.shared_volume_groups:
        directory, claim = project_dir(shared), project_claim(shared)
        if claim in missing:
            continue
        path = f"{settings.project_root}/{directory}"
        group_volumes.append({"name": claim, "persistentVolumeClaim": {"claimName": claim}})
        group_mounts.append({"name": claim, "mountPath": path})
        writable_paths.append(path)
        if group_settings(shared).home_symlink:
            symlinks.append((path, f"{home}/{directory}"))

    overrides["volumes"] = [*literal(home_volumes), *dataset_volumes, *literal(group_volumes)]
    overrides["volume_mounts"] = [*literal(home_mounts), *dataset_mounts,
                                  *literal(group_mounts)]
    hook = post_start_hook(symlink_script(symlinks), settings.post_start)
    # No hook: the operator's is kept as it is (see post_start_conflict).
    overrides["lifecycle_hooks"] = {"postStart": hook} if hook else {}

    timezone = entitlements.user_attributes.get("timezone", "")
    plugin_env = {
        "PRIMEHUB_USER": entitlements.username,
        "PRIMEHUB_GROUP": group.name,
        "GROUP_ID": group.id,
        "GROUP_NAME": group.name,
        "INSTANCE_TYPE": it.name,
        "IMAGE_NAME": image.name,
        "TZ": timezone if _TIMEZONE.fullmatch(timezone) else "UTC",
    }
    if not it.has_nvidia_gpu:
        # Images built on CUDA bases otherwise expose every GPU of the node.
        plugin_env["NVIDIA_VISIBLE_DEVICES"] = "none"
    if menu.settings.mlflow_tracking_uri:
        plugin_env["MLFLOW_TRACKING_URI"] = menu.settings.mlflow_tracking_uri
    if menu.settings.mlflow_ui_url:
        plugin_env["MLFLOW_UI_URL"] = menu.settings.mlflow_ui_url
    if choice.safe_mode:
        plugin_env["PRIMEHUB_SAFE_MODE_ENABLED"] = "true"
    if settings.grant_sudo or settings.chown_extra:
        # The start script needs root to grant sudo or chown; it then drops to NB_UID.
        overrides["uid"] = 0
    if settings.grant_sudo:
        plugin_env["GRANT_SUDO"] = "yes"
        # sudo is a setuid program: it needs privilege escalation allowed in the container.
        overrides["allow_privilege_escalation"] = True
    if settings.chown_extra:
        plugin_env["CHOWN_HOME"] = "yes"
        if writable_paths:
            plugin_env["CHOWN_EXTRA"] = ",".join(writable_paths)
    # Dataset variables first, then ours, then the group's mlflow-*-envs (which may not name
    # ours), then the user's (validation keeps them off all the names before).
    overrides["environment"] = {**env, **plugin_env, **dict(menu.settings.mlflow_env),
                                **dict(choice.env)}
    for key in ("extra_labels", "extra_annotations", "environment"):
        overrides[key] = literal(overrides[key])
    return overrides


def literal(value):
    """`value` with str.format braces doubled, so that KubeSpawner's formatting of the
    `TEMPLATED` settings leaves it as it is."""
    if isinstance(value, str):
        if "{" not in value and "}" not in value:
            return value  # the common case: nothing to double, no new string
        return value.replace("{", "{{").replace("}", "}}")
    if isinstance(value, list):
        return [literal(v) for v in value]
    if isinstance(value, dict):
        return {k: literal(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class DatasetMount:
    """What one mounted dataset adds to the pod."""
    volume: Mapping | None  # `literal` already, as is the mount
    mount: Mapping | None
    symlinks: tuple[tuple[str, str], ...]  # (target, link), as for symlink_script
    writable_path: str | None
    env: Mapping[str, str]  # an env dataset's variables, not yet `literal`
    claim: str | None  # the claim of a pv dataset (left out when it is missing)


# A dataset is mounted the same way start after start and for every user it reaches: its
# piece of the pod is made once per (dataset, writable, mount root, home), not per start.
# Keyed by the entry's identity (a changed dataset is a new entry); each cached item keeps
# its entry alive, so that the identity cannot be another's. A piece is under 1 KiB, so
# the cache holds a large catalog whole. KubeSpawner copies volumes and mounts before it
# builds the pod, so the dicts handed out here are never changed.
DATASET_MOUNT_CACHE_SIZE = 20_000
_dataset_mount_cache: OrderedDict[tuple, tuple[Dataset, DatasetMount]] = OrderedDict()


def dataset_mount(dataset: Dataset, writable: bool, mount_root: str,
                  home: str) -> DatasetMount:
    """What `dataset` adds to the pod, mounted `writable` (when its type allows) under
    `mount_root` (unless it names its own) for a user whose home is `home`."""
    key = (id(dataset), writable, mount_root, home)
    found = _dataset_mount_cache.get(key)
    if found is not None and found[0] is dataset:
        _dataset_mount_cache.move_to_end(key)
        return found[1]
    made = _make_dataset_mount(dataset, writable, mount_root, home)
    _dataset_mount_cache[key] = (dataset, made)
    if len(_dataset_mount_cache) > DATASET_MOUNT_CACHE_SIZE:
        _dataset_mount_cache.popitem(last=False)
    return made


def _make_dataset_mount(dataset: Dataset, writable: bool, mount_root: str,
                        home: str) -> DatasetMount:
    if dataset.type == "env":
        return DatasetMount(None, None, (), None, MappingProxyType(dict(dataset.environment)),
                            None)
    read_only = not writable
    volume_name = dataset.pod_volume
    root = (dataset.mount_root or mount_root).rstrip("/")
    mount_path = f"{root}/{dataset.name}"
    symlinks = []
    claim = None
    if dataset.type == "git":
        # Synced onto every node by a separate agent; never writable from a pod.
        read_only = True
        volume = {"name": volume_name, "hostPath": {
            "path": f"{dataset.git_sync_host_root.rstrip('/')}/{dataset.name}",
            "type": "DirectoryOrCreate"}}
        git_path = f"{dataset.git_sync_root.rstrip('/')}/{dataset.name}"
        mount = {"name": volume_name, "mountPath": git_path, "readOnly": True}
        # git-sync checks the repository out into a directory of its own name.
        symlinks.append((f"{git_path}/{dataset.name}", mount_path))
    else:
        if dataset.type == "pv":
            claim = dataset_claim(dataset)
            volume = {"name": volume_name, "persistentVolumeClaim": {
                "claimName": claim, "readOnly": read_only}}
        elif dataset.type == "nfs":
            volume = {"name": volume_name, "nfs": {
                "server": dataset.nfs_server, "path": dataset.nfs_path,
                "readOnly": read_only}}
        else:  # hostPath (the catalog admits no other type)
            volume = {"name": volume_name, "hostPath": {"path": dataset.host_path}}
        mount = {"name": volume_name, "mountPath": mount_path, "readOnly": read_only}
    if dataset.home_symlink:
        symlinks.append((mount_path, f"{home}/{dataset.name}"))
    return DatasetMount(literal(volume), literal(mount), tuple(symlinks),
                        None if read_only else mount_path, MappingProxyType({}), claim)


def symlink_script(symlinks: list[tuple[str, str]]) -> str:
    """A shell line making each (target, link). A path the user already has as a real file
    or directory is left alone (it may be their data), and a failed link never fails the
    container start."""
    steps = []
    for target, link in symlinks:
        path = shlex.quote(link)
        steps.append(f"(mkdir -p {shlex.quote(link.rsplit('/', 1)[0] or '/')} && "
                     f"{{ [ -e {path} ] && [ ! -L {path} ] || "
                     f"ln -sfn {shlex.quote(target)} {path}; }}) || true")
    return "; ".join(steps)


def post_start_conflict(theirs: Mapping | None) -> str | None:
    """Why our links cannot run beside the operator's postStart hook, or None if they can.

    Kubernetes runs one postStart handler; an exec command can be wrapped so that ours
    runs first, but an httpGet (or other) handler cannot, so it is kept and ours skipped.
    """
    if not theirs or _exec_command(theirs) is not None:
        return None
    return ("lifecycle_hooks['postStart'] is not an exec command, so it cannot run after the "
            "plugin's own hook: it is kept as configured, and the links PrimeHub makes into "
            "home (~/datasets, homeSymlink datasets, group volumes) and for git datasets are "
            "not made.")


def post_start_hook(script: str, theirs: Mapping | None) -> dict | None:
    """One exec hook running `script`, then the operator's exec command (whose exit status
    decides, as if it ran alone); None when theirs cannot be combined and is kept."""
    if post_start_conflict(theirs):
        return None
    command = _exec_command(theirs) if theirs else None
    if not command:
        return {"exec": {"command": ["sh", "-c", script]}}
    # Their command is passed as arguments, never pasted into our shell line: no quoting.
    return {"exec": {"command": ["sh", "-c", f'{script}; exec "$@"', "sh", *command]}}


def _exec_command(hook: Mapping) -> list[str] | None:
    """The argv of an exec handler (`[]` when it names none), or None for any other kind."""
    handler = hook.get("exec") if isinstance(hook, Mapping) else None
    if not isinstance(handler, Mapping) or set(hook) != {"exec"}:
        return None
    command = handler.get("command") or []
    if not isinstance(command, list) or not all(isinstance(a, str) for a in command):
        return None
    return list(command)


def merge_overrides(base: Mapping[str, object], overrides: Mapping[str, object]) -> dict:
    """Each override laid over the spawner's value: dicts merged, lists appended."""
    merged = {}
    for key, value in overrides.items():
        current = base.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            merged[key] = {**current, **value}
        elif isinstance(value, list) and isinstance(current, list):
            merged[key] = [*current, *value]
        elif isinstance(value, list) and isinstance(current, str):
            # image_pull_secrets may be configured as a single name.
            merged[key] = [current, *value] if current else list(value)
        elif isinstance(value, list) and isinstance(current, dict):
            # KubeSpawner also takes volumes and mounts as a dict of named entries.
            merged[key] = {**current, **{f"primehub-{item['name']}": item for item in value}}
        else:
            merged[key] = value
    return merged
