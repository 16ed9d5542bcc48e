"""A choice -> the pod changes in KubeSpawner's override vocabulary
(DESIGN §5, primehub_spawner.podspec)."""
import copy
import dataclasses
import json
import re

import pytest
from builders import (
    dataset_cr,
    demo_catalog,
    demo_user,
    image_cr,
    instance_type_cr,
    lab,
    make_group,
)

from primehub_spawner.names import USAGE_ANNOTATION
from primehub_spawner.options import validate_user_options
from primehub_spawner.podspec import (
    TEMPLATED,
    PodSettings,
    home_size,
    make_pod_overrides,
    merge_overrides,
    symlink_script,
)

SETTINGS = PodSettings(pvc_name="claim-alice")
A = "dataset.primehub.io/"


def overrides_for(user, catalog, options=None, settings=SETTINGS):
    choice = validate_user_options(options or {}, user, catalog)
    return make_pod_overrides(choice, user, settings)


def demo(username="alice", settings=SETTINGS, **options):
    return overrides_for(demo_user(username), demo_catalog(), options, settings)


def world(*objs, options=None, settings=SETTINGS, **lab_args):
    return overrides_for(*lab(*objs, **lab_args), options, settings)


def volume(overrides, name):
    found = [v for v in overrides["volumes"] if v["name"] == name]
    assert len(found) <= 1, found
    return found[0] if found else None


def mounts(overrides, name):
    return [m for m in overrides["volume_mounts"] if m["name"] == name]


def links(overrides):
    """(target, link) pairs of the postStart symlink script, but the `~/datasets` link
    every pod has (tests/unit/test_pod_primehub.py checks that one)."""
    hooks = overrides.get("lifecycle_hooks") or {}
    if not hooks:
        return []
    command = hooks["postStart"]["exec"]["command"]
    assert command[:2] == ["sh", "-c"]
    found = re.findall(r"ln -sfn (\S+) (\S+);", command[2])
    assert found[0][1].endswith("/datasets")  # ~/datasets comes first
    return found[1:]


# ---- resources ----------------------------------------------------------------------------

@pytest.mark.parametrize("spec, expected", [
    pytest.param({"limits.cpu": 2, "limits.memory": "4G"},
                 {"cpu_limit": 2.0, "mem_limit": 4 * 2**30, "cpu_guarantee": None, "mem_guarantee": None},
                 id="limits-absent-requests-unset"),
    pytest.param({"limits.cpu": 2, "limits.memory": "4G", "requests.cpu": 0.5,
                  "requests.memory": "1G"},
                 {"cpu_limit": 2.0, "mem_limit": 4 * 2**30, "cpu_guarantee": 0.5, "mem_guarantee": 2**30},
                 id="requests"),
    pytest.param({"requests.cpu": "250m"}, {"cpu_guarantee": 0.25, "mem_guarantee": None},
                 id="only-cpu-request"),
    pytest.param({"limits.cpu": "500m", "limits.memory": "512Mi"},
                 {"cpu_limit": 0.5, "mem_limit": 512 * 2**20}, id="quantity-strings"),
])
def test_resources(spec, expected):
    overrides = world(instance_type_cr("it", spec))
    assert {k: overrides[k] for k in expected} == expected


@pytest.mark.parametrize("spec, expected", [
    pytest.param({}, {}, id="no-gpu"),
    pytest.param({"limits.gpu": 0}, {}, id="zero-gpu"),
    pytest.param({"limits.gpu": 1, "gpuResourceName": "nvidia.com/gpu"}, {"nvidia.com/gpu": "1"},
                 id="nvidia-current-form"),
    pytest.param({"limits.gpu": 2}, {}, id="count-without-resource-name-is-no-gpu"),
    pytest.param({"limits.nvidia.com/gpu": 2}, {"nvidia.com/gpu": "2"}, id="nvidia-legacy-form"),
    pytest.param({"limits.gpu": 1, "gpuResourceName": "amd.com/gpu"}, {"amd.com/gpu": "1"},
                 id="amd"),
    pytest.param({"limits.gpu": 1, "gpuResourceName": "gpu.intel.com/i915"},
                 {"gpu.intel.com/i915": "1"}, id="intel"),
])
def test_gpu_extended_resource(spec, expected):
    assert world(instance_type_cr("it", spec)).get("extra_resource_limits", {}) == expected


@pytest.mark.parametrize("spec, node_selector, tolerations", [
    pytest.param({}, {}, [], id="none"),
    pytest.param({"nodeSelector": {"hardware": "gpu"},
                  "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists",
                                   "effect": "NoSchedule"}]},
                 {"hardware": "gpu"},
                 [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                 id="from-instance-type"),
])
def test_node_selector_and_tolerations(spec, node_selector, tolerations):
    overrides = world(instance_type_cr("it", spec))
    assert overrides["node_selector"] == node_selector
    assert overrides["tolerations"] == tolerations
    assert isinstance(overrides["node_selector"], dict)  # plain, not a read-only view


def test_node_selector_and_tolerations_merge_over_the_spawner():
    overrides = demo(group="research", instance_type="gpu-small")
    merged = merge_overrides({"node_selector": {"hardware": "cpu", "pool": "users"},
                              "tolerations": [{"key": "users", "operator": "Exists"}]}, overrides)
    assert merged["node_selector"] == {"hardware": "gpu", "pool": "users"}  # instance type wins
    assert merged["tolerations"] == [
        {"key": "users", "operator": "Exists"},
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


# ---- image --------------------------------------------------------------------------------

@pytest.mark.parametrize("instance_type, image, expected", [
    pytest.param("cpu-2", "pytorch", "quay.io/jupyter/pytorch-notebook:latest",
                 id="cpu-type-url"),
    pytest.param("gpu-small", "pytorch", "quay.io/jupyter/pytorch-notebook:cuda12-latest",
                 id="gpu-type-url-for-gpu"),
    pytest.param("gpu-small", "tf-gpu", "quay.io/jupyter/tensorflow-notebook:cuda-latest",
                 id="gpu-type-falls-back-to-url"),
    pytest.param("gpu-small", "base-notebook", "quay.io/jupyter/base-notebook:latest",
                 id="cpu-image-on-gpu-type"),
])
def test_image_url(instance_type, image, expected):
    assert demo(group="research", instance_type=instance_type, image=image)["image"] == expected


def test_image_legacy_gpu_form_takes_url_for_gpu():
    overrides = world(instance_type_cr("old", {"limits.nvidia.com/gpu": 1}),
                      image_cr("img", url="c", urlForGpu="g"))
    assert overrides["image"] == "g"


@pytest.mark.parametrize("options, base, expected", [
    pytest.param({"group": "class-101", "image": "private-image"}, {}, ["private-registry"],
                 id="pull-secret"),
    pytest.param({"group": "class-101", "image": "base-notebook"}, {}, [], id="no-pull-secret"),
    pytest.param({"group": "class-101", "image": "private-image"},
                 {"image_pull_secrets": ["operator"]}, ["operator", "private-registry"],
                 id="added-to-the-spawner-list"),
    pytest.param({"group": "class-101", "image": "private-image"},
                 {"image_pull_secrets": "operator"}, ["operator", "private-registry"],
                 id="added-to-the-spawner-string"),
    pytest.param({"group": "class-101", "image": "base-notebook"},
                 {"image_pull_secrets": ["operator"]}, ["operator"], id="spawner-list-kept"),
])
def test_pull_secret(options, base, expected):
    merged = merge_overrides(base, demo(**options))
    assert merged.get("image_pull_secrets", []) == expected


# ---- datasets -----------------------------------------------------------------------------

NFS = {"type": "nfs", "nfs": {"server": "10.0.0.50", "path": "/exports/shared"}}
HOST = {"type": "hostPath", "hostPath": {"path": "/srv/host-data"}}
GIT = {"type": "git", "url": "https://example.org/r.git"}


@pytest.mark.parametrize("spec, writable, expected_volume, expected_mounts", [
    pytest.param({"type": "pv", "volumeName": "vol"}, False,
                 {"persistentVolumeClaim": {"claimName": "dataset-vol", "readOnly": True}},
                 [{"mountPath": "/datasets/d", "readOnly": True}], id="pv-ro"),
    pytest.param({"type": "pv", "volumeName": "vol"}, True,
                 {"persistentVolumeClaim": {"claimName": "dataset-vol", "readOnly": False}},
                 [{"mountPath": "/datasets/d", "readOnly": False}], id="pv-rw"),
    pytest.param(NFS, False,
                 {"nfs": {"server": "10.0.0.50", "path": "/exports/shared", "readOnly": True}},
                 [{"mountPath": "/datasets/d", "readOnly": True}], id="nfs-ro"),
    pytest.param(NFS, True,
                 {"nfs": {"server": "10.0.0.50", "path": "/exports/shared", "readOnly": False}},
                 [{"mountPath": "/datasets/d", "readOnly": False}], id="nfs-rw"),
    pytest.param(HOST, False, {"hostPath": {"path": "/srv/host-data"}},
                 [{"mountPath": "/datasets/d", "readOnly": True}], id="host-path-ro"),
    pytest.param(HOST, True, {"hostPath": {"path": "/srv/host-data"}},
                 [{"mountPath": "/datasets/d", "readOnly": False}], id="host-path-rw"),
    pytest.param(GIT, False, {"hostPath": {"path": "/home/dataset/d", "type": "DirectoryOrCreate"}},
                 [{"mountPath": "/gitsync/d", "readOnly": True}], id="git-ro"),
    pytest.param(GIT, True, {"hostPath": {"path": "/home/dataset/d", "type": "DirectoryOrCreate"}},
                 [{"mountPath": "/gitsync/d", "readOnly": True}], id="git-rw-grant-stays-ro"),
])
def test_dataset_volume_and_mount(spec, writable, expected_volume, expected_mounts):
    overrides = world(dataset_cr("d", spec), rw=["d"] if writable else [])
    assert volume(overrides, "dataset-d") == {"name": "dataset-d", **expected_volume}
    assert mounts(overrides, "dataset-d") == [{"name": "dataset-d", **m} for m in expected_mounts]


@pytest.mark.parametrize("spec, annotations, settings, expected_links", [
    pytest.param({"type": "pv", "volumeName": "v"}, {}, SETTINGS, [], id="pv-no-links"),
    pytest.param(GIT, {}, SETTINGS, [("/gitsync/d/d", "/datasets/d")],
                 id="git-checkout-linked-to-mount-root"),
    pytest.param(GIT, {A + "gitSyncHostRoot": "/var/git/", A + "gitSyncRoot": "/sync",
                       A + "mountRoot": "/mnt"}, SETTINGS, [("/sync/d/d", "/mnt/d")],
                 id="git-custom-roots"),
    pytest.param({"type": "pv", "volumeName": "v"}, {A + "homeSymlink": "true"}, SETTINGS,
                 [("/datasets/d", "/home/jovyan/d")], id="home-symlink"),
    pytest.param(GIT, {A + "homeSymlink": "true"}, SETTINGS,
                 [("/gitsync/d/d", "/datasets/d"), ("/datasets/d", "/home/jovyan/d")],
                 id="git-home-symlink"),
    pytest.param({"type": "pv", "volumeName": "v"}, {A + "homeSymlink": "true"},
                 PodSettings(home_dir="/home/user", dataset_mount_root="/data"),
                 [("/data/d", "/home/user/d")], id="home-symlink-settings"),
])
def test_dataset_links(spec, annotations, settings, expected_links):
    overrides = world(dataset_cr("d", spec, annotations), settings=settings)
    assert links(overrides) == expected_links


def test_git_volume_with_custom_host_root():
    overrides = world(dataset_cr("d", GIT, {A + "gitSyncHostRoot": "/var/git/"}))
    assert volume(overrides, "dataset-d")["hostPath"]["path"] == "/var/git/d"


@pytest.mark.parametrize("annotations, settings, mount_path", [
    pytest.param({}, SETTINGS, "/datasets/d", id="default-mount-root"),
    pytest.param({A + "mountRoot": "/mnt/data"}, SETTINGS, "/mnt/data/d", id="annotation"),
    pytest.param({A + "mountRoot": "/mnt/data/"}, SETTINGS, "/mnt/data/d",
                 id="annotation-trailing-slash"),
    pytest.param({}, PodSettings(dataset_mount_root="/data"), "/data/d", id="spawner-setting"),
    pytest.param({A + "mountRoot": "/mnt"}, PodSettings(dataset_mount_root="/data"), "/mnt/d",
                 id="annotation-wins-over-setting"),
])
def test_mount_root(annotations, settings, mount_path):
    overrides = world(dataset_cr("d", annotations=annotations), settings=settings)
    assert [m["mountPath"] for m in mounts(overrides, "dataset-d")] == [mount_path]


@pytest.mark.parametrize("name, variables, expected", [
    pytest.param("public-env", {"REGION": "tw", "BUCKET": "demo"},
                 {"PUBLIC_ENV_REGION": "tw", "PUBLIC_ENV_BUCKET": "demo"}, id="demo"),
    pytest.param("cfg", {"my-key": "x", "lower": "y"}, {"CFG_MY_KEY": "x", "CFG_LOWER": "y"},
                 id="upper-cased-dash-to-underscore"),
    pytest.param("cfg", {"N": 3}, {"CFG_N": "3"}, id="number-as-text"),
])
def test_env_dataset(name, variables, expected):
    overrides = world(dataset_cr(name, type="env", variables=variables), rw=[name])
    assert volume(overrides, f"dataset-{name}") is None
    assert mounts(overrides, f"dataset-{name}") == []
    assert {k: v for k, v in overrides["environment"].items() if k in expected} == expected


@pytest.mark.parametrize("username, group, expected", [
    pytest.param("alice", "research",
                 {"dataset-team-data": False, "dataset-shared-nfs": True,
                  "dataset-host-data": True, "dataset-git-repo": True}, id="alice-research"),
    pytest.param("alice", "class-101",
                 {"dataset-team-data": True, "dataset-shared-nfs": True, "dataset-host-data": True,
                  "dataset-git-repo": True, "dataset-class-only": True}, id="alice-class-101"),
    pytest.param("bob", "class-101",
                 {"dataset-team-data": True, "dataset-git-repo": True,
                  "dataset-class-only": True}, id="bob-class-101"),
])
def test_demo_dataset_mounts(username, group, expected):
    overrides = demo(username, group=group)
    read_only = {m["name"]: m["readOnly"] for m in overrides["volume_mounts"]
                 if m["name"].startswith("dataset-")}
    assert read_only == expected


# ---- group shared volumes -----------------------------------------------------------------

SHARED = {"enabled-shared-volume": "true", "shared-volume-capacity": "10G"}


@pytest.mark.parametrize("username, group, expected", [
    pytest.param("alice", "research", ["project-research"], id="research-only"),
    pytest.param("alice", "class-101", ["project-class-101", "project-research"],
                 id="launch-group-only-mounted-in-itself-plus-others"),
    pytest.param("phadmin", "research", ["project-research"], id="phadmin"),
    pytest.param("dave", "empty-group", [], id="none"),
])
def test_demo_shared_volumes(username, group, expected):
    overrides = demo(username, group=group)
    names = [v["name"] for v in overrides["volumes"] if v["name"].startswith("project-")]
    assert names == expected
    for name in names:
        directory = name[len("project-"):]
        assert volume(overrides, name) == {"name": name, "persistentVolumeClaim": {
            "claimName": name}}
        assert mounts(overrides, name) == [{"name": name, "mountPath": f"/project/{directory}"}]


@pytest.mark.parametrize("group, attributes, others, settings, volumes, expected_links", [
    pytest.param("Research_Lab", SHARED, [], SETTINGS,
                 {"project-research-lab": "/project/research-lab"}, [],
                 id="lower-cased-underscore-to-dash"),
    pytest.param("lab", dict(SHARED, **{"home-symlink": "true"}), [], SETTINGS,
                 {"project-lab": "/project/lab"},
                 [("/project/lab", "/home/jovyan/lab")], id="home-symlink"),
    pytest.param("lab", SHARED, [], PodSettings(project_root="/shared"),
                 {"project-lab": "/shared/lab"}, [], id="project-root-setting"),
    pytest.param("lab", {}, [make_group("other", attributes=SHARED)], SETTINGS,
                 {"project-other": "/project/other"}, [], id="other-group-mounted"),
    pytest.param("lab", {}, [make_group("other", attributes=dict(
        SHARED, **{"launch-group-only": "true"}))], SETTINGS, {}, [],
                 id="other-launch-group-only-not-mounted"),
])
def test_shared_volumes(group, attributes, others, settings, volumes, expected_links):
    overrides = world(group=group, attributes=attributes, others=others, settings=settings)
    found = {m["name"]: m["mountPath"] for m in overrides["volume_mounts"]
             if m["name"].startswith("project-")}
    assert found == volumes
    assert links(overrides) == expected_links


# ---- home volume and safe mode ------------------------------------------------------------

@pytest.mark.parametrize("user_attributes, everyone_attributes, default, expected", [
    pytest.param({"volumeCapacity": "20G"}, {"defaultUserVolumeCapacity": "5G"}, "1G", "20Gi",
                 id="user-volume-capacity"),
    pytest.param({}, {"defaultUserVolumeCapacity": "5G"}, "1G", "5Gi", id="everyone-default"),
    pytest.param({"volumeCapacity": ""}, {"defaultUserVolumeCapacity": "5G"}, "1G", "5Gi",
                 id="empty-user-value"),
    pytest.param({}, {}, "1G", "1Gi", id="spawner-default"),
    pytest.param({}, None, "3G", "3Gi", id="no-everyone-group"),
    pytest.param({"volumeCapacity": "50"}, {}, "1G", "50Gi", id="bare-number-is-GiB"),
    pytest.param({"volumeCapacity": "50Gi"}, {}, "1G", "50Gi", id="binary-unit"),
    pytest.param({"volumeCapacity": "512M"}, {}, "1G", "512Mi", id="mebibytes"),
])
def test_home_size(user_attributes, everyone_attributes, default, expected):
    everyone = None if everyone_attributes is None else make_group(
        "everyone", attributes=everyone_attributes)
    user, catalog = lab(everyone=everyone, user_attributes=user_attributes)
    assert home_size(user, default) == (expected, [])
    overrides = overrides_for(user, catalog, settings=PodSettings(default_home_size=default))
    assert overrides["storage_capacity"] == expected


@pytest.mark.parametrize("user_attributes, everyone_attributes, expected, problem", [
    pytest.param({"volumeCapacity": "20GB"}, {"defaultUserVolumeCapacity": "5G"}, "5Gi",
                 "user attribute volumeCapacity '20GB' is not a size", id="user-typo"),
    pytest.param({"volumeCapacity": "0"}, {}, "1Gi",
                 "user attribute volumeCapacity '0' is not a positive size", id="zero"),
    pytest.param({}, {"defaultUserVolumeCapacity": "lots"}, "1Gi",
                 "everyone's attribute defaultUserVolumeCapacity 'lots'", id="everyone-typo"),
    pytest.param({"volumeCapacity": "9" * 400}, {}, "1Gi", "… (402 characters)",
                 id="huge-value-cut-in-the-sentence"),
])
def test_a_bad_home_size_falls_back_with_a_sentence(user_attributes, everyone_attributes,
                                                   expected, problem):
    user, _ = lab(everyone=make_group("everyone", attributes=everyone_attributes),
                  user_attributes=user_attributes)
    size, problems = home_size(user, "1G")
    assert size == expected
    assert len(problems) == 1 and problem in problems[0]


@pytest.mark.parametrize("username, expected", [
    pytest.param("alice", "20Gi", id="alice-volume-capacity"),
    pytest.param("bob", "5Gi", id="bob-everyone-default"),
])
def test_demo_home_size(username, expected):
    assert demo(username)["storage_capacity"] == expected


@pytest.mark.parametrize("safe_mode, settings, mount_path, safe_env", [
    pytest.param(False, SETTINGS, "/home/jovyan", None, id="normal"),
    pytest.param(True, SETTINGS, "/home/jovyan/user", "true", id="safe-mode"),
    pytest.param(True, PodSettings(home_dir="/home/u"), "/home/u/user", "true",
                 id="safe-mode-custom-home"),
])
def test_home_volume_and_safe_mode(safe_mode, settings, mount_path, safe_env):
    overrides = world(options={"safe_mode": safe_mode}, settings=settings)
    assert volume(overrides, "home") == {"name": "home", "persistentVolumeClaim": {
        "claimName": settings.pvc_name}}
    assert mounts(overrides, "home") == [{"name": "home", "mountPath": mount_path}]
    assert overrides["environment"].get("PRIMEHUB_SAFE_MODE_ENABLED") == safe_env


def test_home_volume_off():
    overrides = world(settings=PodSettings(home_volume=False), options={"safe_mode": True})
    assert volume(overrides, "home") is None
    assert mounts(overrides, "home") == []
    assert "storage_capacity" not in overrides


# ---- environment --------------------------------------------------------------------------

RESEARCH_GPU = {"group": "research", "instance_type": "gpu-small", "image": "pytorch"}


@pytest.mark.parametrize("username, options, key, expected", [
    pytest.param("alice", RESEARCH_GPU, "PRIMEHUB_USER", "alice", id="primehub-user"),
    pytest.param("alice", RESEARCH_GPU, "PRIMEHUB_GROUP", "research", id="primehub-group"),
    pytest.param("alice", RESEARCH_GPU, "GROUP_ID", "gid-research", id="group-id"),
    pytest.param("alice", RESEARCH_GPU, "GROUP_NAME", "research", id="group-name"),
    pytest.param("alice", RESEARCH_GPU, "INSTANCE_TYPE", "gpu-small", id="instance-type"),
    pytest.param("alice", RESEARCH_GPU, "IMAGE_NAME", "pytorch", id="image-name"),
    pytest.param("alice", RESEARCH_GPU, "TZ", "Asia/Taipei", id="tz-from-user"),
    pytest.param("bob", {}, "TZ", "UTC", id="tz-default-utc"),
    pytest.param("alice", RESEARCH_GPU, "NVIDIA_VISIBLE_DEVICES", None, id="nvidia-gpu"),
    pytest.param("alice", {"group": "class-101", "instance_type": "legacy-gpu"},
                 "NVIDIA_VISIBLE_DEVICES", None, id="nvidia-legacy-gpu"),
    pytest.param("alice", {"group": "research", "instance_type": "cpu-2"},
                 "NVIDIA_VISIBLE_DEVICES", "none", id="no-gpu"),
    pytest.param("alice", RESEARCH_GPU, "MLFLOW_TRACKING_URI", "http://mlflow.research.svc:5000",
                 id="mlflow-tracking-uri"),
    pytest.param("alice", RESEARCH_GPU, "MLFLOW_UI_URL", "http://mlflow.example/research",
                 id="mlflow-ui-url"),
    pytest.param("alice", {"group": "class-101"}, "MLFLOW_TRACKING_URI", None,
                 id="no-mlflow"),
    pytest.param("alice", RESEARCH_GPU, "PUBLIC_ENV_REGION", "tw", id="dataset-variable"),
    pytest.param("alice", RESEARCH_GPU, "PRIMEHUB_SAFE_MODE_ENABLED", None, id="not-safe-mode"),
    pytest.param("alice", dict(RESEARCH_GPU, env={"MY_SETTING": "1"}), "MY_SETTING", "1",
                 id="user-variable"),
])
def test_environment(username, options, key, expected):
    assert demo(username, **options)["environment"].get(key) == expected


@pytest.mark.parametrize("spec, expected", [
    pytest.param({"limits.gpu": 1, "gpuResourceName": "amd.com/gpu"}, "none", id="amd-gpu"),
    pytest.param({"limits.gpu": 1, "gpuResourceName": "gpu.intel.com/i915"}, "none",
                 id="intel-gpu"),
    pytest.param({"limits.gpu": 0}, "none", id="zero-gpu"),
])
def test_nvidia_visible_devices_other_vendors(spec, expected):
    overrides = world(instance_type_cr("it", spec))
    assert overrides["environment"].get("NVIDIA_VISIBLE_DEVICES") == expected


@pytest.mark.parametrize("timezone, expected", [
    pytest.param("Europe/Paris", "Europe/Paris", id="region"),
    pytest.param("America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires",
                 id="three-parts"),
    pytest.param("Etc/GMT+8", "Etc/GMT+8", id="offset"),
    pytest.param("", "UTC", id="empty"),
    pytest.param("$(reboot)", "UTC", id="shell"),
    pytest.param("Europe/Paris\nX=1", "UTC", id="newline"),
    pytest.param("Europe/Paris\n", "UTC", id="trailing-newline"),
])
def test_timezone(timezone, expected):
    overrides = world(user_attributes={"timezone": timezone})
    assert overrides["environment"]["TZ"] == expected


def test_environment_order_dataset_then_plugin_then_user():
    overrides = demo(group="research", env={"MY_SETTING": "1"})
    keys = list(overrides["environment"])
    assert keys.index("PUBLIC_ENV_REGION") < keys.index("PRIMEHUB_USER") < keys.index("MY_SETTING")


def test_environment_merges_over_the_spawner():
    merged = merge_overrides({"environment": {"OPERATOR": "x", "TZ": "Europe/Paris"}},
                             demo("bob"))
    assert merged["environment"]["OPERATOR"] == "x"
    assert merged["environment"]["TZ"] == "UTC"  # ours win a clash


# ---- the overrides as a whole -------------------------------------------------------------

@pytest.mark.parametrize("options", [
    pytest.param({"group": "research", "instance_type": "gpu-small", "image": "pytorch"},
                 id="research-gpu"),
    pytest.param({"group": "research", "instance_type": "cpu-2"}, id="research-cpu"),
    pytest.param({"group": "class-101", "image": "private-image"}, id="class-pull-secret"),
    pytest.param({"group": "class-101", "instance_type": "legacy-gpu"}, id="class-legacy-gpu"),
])
def test_every_choice_sets_the_same_settings(options):
    # The spawner lays each start's overrides over its configured values; a setting that
    # one choice sets and another leaves out would leak from one start into the next.
    reference = demo("alice", group="class-101")
    assert set(demo("alice", **options)) == set(reference)


def test_overrides_are_kubespawner_settings():
    from kubespawner import KubeSpawner
    known = set(KubeSpawner.class_trait_names())
    assert set(demo("alice", **RESEARCH_GPU)) <= known


def test_overrides_are_json_serialisable():
    json.dumps(demo("alice", **RESEARCH_GPU))


# ---- merge_overrides ----------------------------------------------------------------------

@pytest.mark.parametrize("base, overrides, expected", [
    pytest.param({}, {"cpu_limit": 2.0}, {"cpu_limit": 2.0}, id="new-key"),
    pytest.param({"cpu_limit": 1.0}, {"cpu_limit": 2.0}, {"cpu_limit": 2.0}, id="scalar-replaced"),
    pytest.param({"cpu_guarantee": 0.5}, {"cpu_guarantee": None}, {"cpu_guarantee": None},
                 id="none-replaces"),
    pytest.param({"node_selector": {"a": "1", "b": "2"}}, {"node_selector": {"b": "3", "c": "4"}},
                 {"node_selector": {"a": "1", "b": "3", "c": "4"}}, id="dicts-merged-ours-win"),
    pytest.param({"extra_resource_limits": {"x/y": "1"}}, {"extra_resource_limits": {}},
                 {"extra_resource_limits": {"x/y": "1"}}, id="empty-dict-keeps-spawner"),
    pytest.param({"node_selector": None}, {"node_selector": {"a": "1"}},
                 {"node_selector": {"a": "1"}}, id="dict-over-none"),
    pytest.param({"tolerations": [{"key": "a"}]}, {"tolerations": [{"key": "b"}]},
                 {"tolerations": [{"key": "a"}, {"key": "b"}]}, id="lists-appended"),
    pytest.param({"volumes": [{"name": "op"}]}, {"volumes": []}, {"volumes": [{"name": "op"}]},
                 id="empty-list-keeps-spawner"),
    pytest.param({"volumes": {"op": {"name": "op"}}},
                 {"volumes": [{"name": "home", "persistentVolumeClaim": {"claimName": "c"}}]},
                 {"volumes": {"op": {"name": "op"}, "primehub-home": {
                     "name": "home", "persistentVolumeClaim": {"claimName": "c"}}}},
                 id="dict-form-volumes"),
    pytest.param({"volume_mounts": {"op": {"name": "op", "mountPath": "/op"}}},
                 {"volume_mounts": [{"name": "home", "mountPath": "/home/jovyan"}]},
                 {"volume_mounts": {"op": {"name": "op", "mountPath": "/op"},
                                    "primehub-home": {"name": "home",
                                                      "mountPath": "/home/jovyan"}}},
                 id="dict-form-volume-mounts"),
    pytest.param({"image_pull_secrets": "op"}, {"image_pull_secrets": ["ours"]},
                 {"image_pull_secrets": ["op", "ours"]}, id="list-over-string"),
    pytest.param({"image_pull_secrets": ""}, {"image_pull_secrets": ["ours"]},
                 {"image_pull_secrets": ["ours"]}, id="list-over-empty-string"),
    pytest.param({"cpu_limit": 1.0, "other": 1}, {"mem_limit": 5}, {"mem_limit": 5},
                 id="only-override-keys-returned"),
])
def test_merge_overrides(base, overrides, expected):
    before = copy.deepcopy((base, overrides))
    assert merge_overrides(base, overrides) == expected
    assert (base, overrides) == before  # inputs untouched


def test_merge_over_a_full_spawner_configuration():
    base = {"volumes": [{"name": "shm", "emptyDir": {"medium": "Memory"}}],
            "volume_mounts": [{"name": "shm", "mountPath": "/dev/shm"}],
            "environment": {"OPERATOR": "1"}, "extra_labels": {"hub.jupyter.org/x": "y"},
            "image_pull_secrets": ["op"], "lifecycle_hooks": {}, "extra_resource_limits": {},
            "node_selector": {}, "tolerations": []}
    merged = merge_overrides(base, demo("alice", group="class-101", image="private-image"))
    assert merged["volumes"][0]["name"] == "shm" and volume(merged, "home")
    assert merged["volume_mounts"][0]["name"] == "shm"
    assert merged["environment"]["OPERATOR"] == "1"
    assert merged["extra_labels"]["hub.jupyter.org/x"] == "y"
    assert merged["extra_labels"]["primehub.io/user"] == "escaped-alice"
    assert merged["image_pull_secrets"] == ["op", "private-registry"]


# ---- the symlink script -------------------------------------------------------------------

@pytest.mark.parametrize("symlinks, expected", [
    pytest.param([("/datasets/d", "/home/jovyan/d")],
                 "(mkdir -p /home/jovyan && { [ -e /home/jovyan/d ] && [ ! -L /home/jovyan/d ] "
                 "|| ln -sfn /datasets/d /home/jovyan/d; }) || true", id="one"),
    pytest.param([("/a", "/b/c"), ("/d", "/e/f")],
                 "(mkdir -p /b && { [ -e /b/c ] && [ ! -L /b/c ] || ln -sfn /a /b/c; }) || true; "
                 "(mkdir -p /e && { [ -e /e/f ] && [ ! -L /e/f ] || ln -sfn /d /e/f; }) || true",
                 id="two-each-may-fail"),
    pytest.param([("/a b", "/c/d e")],
                 "(mkdir -p /c && { [ -e '/c/d e' ] && [ ! -L '/c/d e' ] || "
                 "ln -sfn '/a b' '/c/d e'; }) || true", id="quoted"),
    pytest.param([("/datasets", "/top")],
                 "(mkdir -p / && { [ -e /top ] && [ ! -L /top ] || ln -sfn /datasets /top; }) "
                 "|| true", id="link-at-the-root"),
])
def test_symlink_script(symlinks, expected):
    assert symlink_script(symlinks) == expected


# ---- strings KubeSpawner formats ----------------------------------------------------------

def formatted(value):
    """`value` as KubeSpawner's formatting of its templated settings leaves it (a name it
    would fill in is given, so that an undoubled brace shows)."""
    if isinstance(value, str):
        return value.format(username="FILLED-IN")
    if isinstance(value, list | tuple):
        return [formatted(v) for v in value]
    if isinstance(value, dict):
        return {k: formatted(v) for k, v in value.items()}
    return value


def test_strings_kubespawner_formats_reach_the_pod_as_written():
    overrides = world(dataset_cr("vars", {"type": "env", "variables": {"a": "{username}"}}),
                      options={"env": {"MINE": "}{ {0}"}})
    assert set(TEMPLATED) <= set(overrides)
    env = formatted(overrides["environment"])
    assert (env["VARS_A"], env["MINE"]) == ("{username}", "}{ {0}")
    usage = json.loads(formatted(overrides["extra_annotations"])[USAGE_ANNOTATION])
    assert usage["user"] == "alice"
    for key in TEMPLATED:  # nothing else changes when formatted
        assert "FILLED-IN" not in json.dumps(formatted(overrides[key]))


# ---- starts one after another -------------------------------------------------------------

def test_each_start_leaves_out_its_own_missing_claims():
    user, catalog = lab(dataset_cr("data"), dataset_cr("more"))
    choice = validate_user_options({}, user, catalog)
    full = make_pod_overrides(choice, user, SETTINGS)
    missing = make_pod_overrides(choice, user, dataclasses.replace(
        SETTINGS, missing_claims=frozenset({"dataset-data"})))
    again = make_pod_overrides(choice, user, SETTINGS)
    assert volume(full, "dataset-data") and volume(full, "dataset-more")
    assert volume(missing, "dataset-data") is None and volume(missing, "dataset-more")
    assert again == full


def test_each_start_mounts_under_its_own_roots():
    user, catalog = lab(dataset_cr("data", annotations={A + "homeSymlink": "true"}))
    choice = validate_user_options({}, user, catalog)
    first = make_pod_overrides(choice, user, PodSettings(pvc_name="c"))
    other = make_pod_overrides(choice, user, PodSettings(
        pvc_name="c", dataset_mount_root="/data", home_dir="/home/u"))
    assert mounts(first, "dataset-data")[0]["mountPath"] == "/datasets/data"
    assert mounts(other, "dataset-data")[0]["mountPath"] == "/data/data"
    assert ("/data/data", "/home/u/data") in links(other)
