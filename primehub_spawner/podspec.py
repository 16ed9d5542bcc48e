"""A Choice -> the pod changes, in KubeSpawner's own override vocabulary (DESIGN §5).

Pure. `make_pod_overrides` returns a dict such as a profile's `kubespawner_override`
(`cpu_limit`, `image`, `volumes`, `environment`, ...) holding only what the choice adds;
`merge_overrides` lays it over the spawner's configured values (dicts merge with ours
winning a clash, lists are appended to), so operator settings are kept.
"""
from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

from .entitlements import UserEntitlements, group_settings, project_dir
from .labels import escape_label
from .names import shown
from .options import Choice
from .quantities import format_size, parse_size_attribute
from .quota import LABEL_GROUP, LABEL_USER

USAGE_ANNOTATION = "primehub.io/usage"
DEFAULT_HOME_SIZE = "20G"
_TIMEZONE = re.compile(r"^[A-Za-z0-9_+\-/]{1,64}$")


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
                         LABEL_GROUP: escape_label(group.name)},
        "extra_annotations": {USAGE_ANNOTATION: json.dumps({
            "component": "jupyter", "user": entitlements.username, "group": group.name,
            "instance_type": it.name, "image": image.name}, sort_keys=True)},
    }
    # Every choice sets the same keys (empty when it adds nothing), so that what one start
    # added is reset at the next: the spawner merges each start's keys over its configuration.
    overrides["extra_resource_limits"] = (
        {it.gpu_resource_name: str(it.gpu_limit)} if it.has_gpu else {})
    overrides["image_pull_secrets"] = [image.pull_secret] if image.pull_secret else []

    volumes: list[dict] = []
    mounts: list[dict] = []
    symlinks: list[tuple[str, str]] = []  # (target, link)
    env: dict[str, str] = {}

    if settings.home_volume:
        volumes.append({"name": "home", "persistentVolumeClaim": {"claimName": settings.pvc_name}})
        home_mount = f"{settings.home_dir}/user" if choice.safe_mode else settings.home_dir
        mounts.append({"name": "home", "mountPath": home_mount})
        overrides["storage_capacity"] = home_size(entitlements, settings.default_home_size)[0]

    for mounted in menu.datasets:
        dataset, writable = mounted.dataset, mounted.writable
        read_only = not writable
        volume_name = dataset.pod_volume
        mount_path = f"{(dataset.mount_root or settings.dataset_mount_root).rstrip('/')}/{dataset.name}"
        if dataset.type == "env":
            env.update(dataset.environment)
            continue
        if dataset.type == "pv":
            volumes.append({"name": volume_name, "persistentVolumeClaim": {
                "claimName": f"dataset-{dataset.volume_name}", "readOnly": read_only}})
        elif dataset.type == "nfs":
            volumes.append({"name": volume_name, "nfs": {
                "server": dataset.nfs_server, "path": dataset.nfs_path, "readOnly": read_only}})
        elif dataset.type == "hostPath":
            volumes.append({"name": volume_name, "hostPath": {"path": dataset.host_path}})
        elif dataset.type == "git":
            # Synced onto every node by a separate agent; never writable from a pod.
            read_only = True
            volumes.append({"name": volume_name, "hostPath": {
                "path": f"{dataset.git_sync_host_root.rstrip('/')}/{dataset.name}",
                "type": "DirectoryOrCreate"}})
            git_path = f"{dataset.git_sync_root.rstrip('/')}/{dataset.name}"
            mounts.append({"name": volume_name, "mountPath": git_path, "readOnly": True})
            symlinks.append((git_path, mount_path))
        if dataset.type != "git":
            mounts.append({"name": volume_name, "mountPath": mount_path,
                           "readOnly": read_only})
        if dataset.home_symlink:
            symlinks.append((mount_path, f"{settings.home_dir}/datasets/{dataset.name}"))

    for shared in menu.shared_volume_groups:
        directory = project_dir(shared)
        path = f"{settings.project_root}/{directory}"
        volumes.append({"name": f"project-{directory}",
                        "persistentVolumeClaim": {"claimName": f"project-{directory}"}})
        mounts.append({"name": f"project-{directory}", "mountPath": path})
        if group_settings(shared).home_symlink:
            symlinks.append((path, f"{settings.home_dir}/project/{directory}"))

    overrides["volumes"] = volumes
    overrides["volume_mounts"] = mounts
    overrides["lifecycle_hooks"] = {"postStart": {"exec": {"command": [
        "sh", "-c", symlink_script(symlinks)]}}} if symlinks else {}

    timezone = entitlements.user_attributes.get("timezone", "")
    plugin_env = {
        "PRIMEHUB_USER": entitlements.username,
        "PRIMEHUB_GROUP": group.name,
        "GROUP_ID": group.id,
        "GROUP_NAME": group.name,
        "INSTANCE_TYPE": it.name,
        "IMAGE_NAME": image.name,
        "TZ": timezone if _TIMEZONE.match(timezone) else "UTC",
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
    # Dataset variables first, then ours, then the group's mlflow-*-envs (which may not name
    # ours), then the user's (validation keeps them off all the names before).
    overrides["environment"] = {**env, **plugin_env, **dict(menu.settings.mlflow_env),
                                **dict(choice.env)}
    return overrides


def symlink_script(symlinks: list[tuple[str, str]]) -> str:
    """A shell line making each link; a failed link must not fail the container start."""
    steps = [f"mkdir -p {shlex.quote(link.rsplit('/', 1)[0])} && "
             f"ln -sfn {shlex.quote(target)} {shlex.quote(link)}"
             for target, link in symlinks]
    return "; ".join(f"({step}) || true" for step in steps)


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
