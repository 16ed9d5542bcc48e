"""Custom resources -> typed catalog entries, and the reasons for rejecting them
(DESIGN §2.2, primehub_spawner.catalog)."""
import dataclasses
from pathlib import Path

import pytest
import yaml
from builders import cr, dataset_cr, demo_catalog, image_cr, instance_type_cr, without

from primehub_spawner.catalog import (
    DATASET_TYPES,
    GROUP,
    PLURALS,
    VERSION,
    InvalidResource,
    dataset_env_names,
    parse_dataset,
    parse_image,
    parse_instance_type,
)
from primehub_spawner.names import is_dns_label

CRDS = Path(__file__).resolve().parents[2] / "crds"

# ---- InstanceType -------------------------------------------------------------------------

NVIDIA = "nvidia.com/gpu"
EXISTS_NOSCHEDULE = {"key": NVIDIA, "operator": "Exists", "effect": "NoSchedule"}


@pytest.mark.parametrize("spec, expected", [
    pytest.param({}, {"display_name": "small", "description": "", "cpu_limit": 1.0,
                      "mem_limit": 2**30,
                          "cpu_request": None, "mem_request": None, "gpu_limit": 0,
                          "gpu_resource_name": NVIDIA, "node_selector": {}, "tolerations": (),
                          "has_gpu": False, "has_nvidia_gpu": False},
                 id="minimal-defaults"),
    pytest.param({"displayName": "Small box", "description": "for tests"},
                 {"display_name": "Small box", "description": "for tests"}, id="names"),
    pytest.param({"displayName": ""}, {"display_name": "small"}, id="empty-display-name"),
    pytest.param({"displayName": None}, {"display_name": "small"}, id="null-display-name"),
    pytest.param({"limits.cpu": "500m", "limits.memory": "512Mi"},
                 {"cpu_limit": 0.5, "mem_limit": 512 * 2**20}, id="quantity-strings"),
    pytest.param({"limits.cpu": 2.5, "limits.memory": "4G"},
                 {"cpu_limit": 2.5, "mem_limit": 4 * 2**30}, id="float-cpu"),
    pytest.param({"limits.cpu": 2, "limits.memory": "4G", "requests.cpu": 0.5,
                  "requests.memory": "1G"},
                 {"cpu_request": 0.5, "mem_request": 2**30}, id="requests-present"),
    pytest.param({"requests.cpu": 0.5}, {"cpu_request": 0.5, "mem_request": None},
                 id="only-cpu-request"),
    pytest.param({"requests.memory": "512M"}, {"cpu_request": None, "mem_request": 512 * 2**20},
                 id="only-memory-request"),
    pytest.param({"requests.cpu": 1, "requests.memory": "1G"},
                 {"cpu_request": 1.0, "mem_request": 2**30}, id="requests-equal-limits"),
    pytest.param({"requests.cpu": "", "requests.memory": None},
                 {"cpu_request": None, "mem_request": None}, id="empty-requests-are-absent"),
    pytest.param({"limits.gpu": 1, "gpuResourceName": NVIDIA},
                 {"gpu_limit": 1, "gpu_resource_name": NVIDIA, "has_gpu": True,
                  "has_nvidia_gpu": True},
                 id="gpu-current-nvidia"),
    pytest.param({"limits.gpu": 2}, {"gpu_limit": 0, "has_gpu": False},
                 id="gpu-count-without-resource-name-is-no-gpu"),
    pytest.param({"limits.gpu": 1, "gpuResourceName": "amd.com/gpu"},
                 {"gpu_limit": 1, "gpu_resource_name": "amd.com/gpu", "has_gpu": True,
                      "has_nvidia_gpu": False}, id="gpu-amd"),
    pytest.param({"limits.gpu": 1, "gpuResourceName": "gpu.intel.com/i915"},
                 {"gpu_limit": 1, "gpu_resource_name": "gpu.intel.com/i915", "has_gpu": True,
                      "has_nvidia_gpu": False}, id="gpu-intel"),
    pytest.param({"limits.gpu": "2", "gpuResourceName": NVIDIA}, {"gpu_limit": 2},
                 id="gpu-count-as-string"),
    pytest.param({"limits.gpu": 0}, {"gpu_limit": 0, "has_gpu": False, "has_nvidia_gpu": False},
                 id="gpu-zero"),
    pytest.param({"limits.nvidia.com/gpu": 1},
                 {"gpu_limit": 1, "gpu_resource_name": NVIDIA, "has_nvidia_gpu": True},
                 id="gpu-legacy"),
    pytest.param({"limits.gpu": 1, "limits.nvidia.com/gpu": 1}, {"gpu_limit": 1},
                 id="gpu-both-forms-agree"),
    pytest.param({"limits.gpu": 2, "gpuResourceName": "amd.com/gpu", "limits.nvidia.com/gpu": 1},
                 {"gpu_limit": 2, "gpu_resource_name": "amd.com/gpu"},
                 id="gpu-current-pair-wins-over-legacy"),
    pytest.param({"limits.gpu": 0, "gpuResourceName": "", "limits.nvidia.com/gpu": 1},
                 {"gpu_limit": 0, "gpu_resource_name": NVIDIA, "has_gpu": False},
                 id="gpu-zero-and-empty-name-win-over-legacy"),
    pytest.param({"limits.gpu": 2, "limits.nvidia.com/gpu": 1},
                 {"gpu_limit": 1, "gpu_resource_name": NVIDIA},
                 id="gpu-without-resource-name-legacy-counts"),
    pytest.param({"gpuResourceName": "amd.com/gpu", "limits.nvidia.com/gpu": 1},
                 {"gpu_limit": 1, "gpu_resource_name": NVIDIA},
                 id="gpu-resource-name-alone-ignored"),
    pytest.param({"limits.gpu": None, "gpuResourceName": None, "limits.nvidia.com/gpu": None},
                 {"gpu_limit": 0, "has_gpu": False}, id="gpu-nulls-are-absent"),
    pytest.param({"limits.gpu": " 3 ", "gpuResourceName": NVIDIA}, {"gpu_limit": 3},
                 id="gpu-count-string-spaces"),
    pytest.param({"nodeSelector": {"hardware": "gpu", "zone": "a"}},
                 {"node_selector": {"hardware": "gpu", "zone": "a"}}, id="node-selector"),
    pytest.param({"nodeSelector": None}, {"node_selector": {}}, id="null-node-selector"),
    pytest.param({"nodeSelector": {"zone": None, "kubernetes.io/arch": "amd64"}},
                 {"node_selector": {"kubernetes.io/arch": "amd64"}},
                 id="null-selector-value-absent"),
    pytest.param({"tolerations": None}, {"tolerations": ()}, id="null-tolerations"),
    pytest.param({"tolerations": [{"key": "k", "operator": None, "value": None, "effect": None,
                                   "tolerationSeconds": None}]},
                 {"tolerations": ({"key": "k"},)}, id="toleration-nulls-dropped"),
    pytest.param({"tolerations": [{"key": None, "operator": "Exists", "effect": "NoSchedule"}]},
                 {"tolerations": ({"operator": "Exists", "effect": "NoSchedule"},)},
                 id="toleration-null-key-tolerates-every-key"),
    pytest.param({"tolerations": [{"key": "k", "operator": "", "value": "v"}]},
                 {"tolerations": ({"key": "k", "operator": "", "value": "v"},)},
                 id="toleration-empty-operator-is-equal"),
    pytest.param({"tolerations": [EXISTS_NOSCHEDULE]},
                 {"tolerations": (EXISTS_NOSCHEDULE,)}, id="toleration-exists"),
    pytest.param({"tolerations": [{"key": "k", "operator": "Equal", "value": "v",
                                   "effect": "NoExecute", "tolerationSeconds": 30},
                                  {"key": "other"}]},
                 {"tolerations": ({"key": "k", "operator": "Equal", "value": "v",
                                    "effect": "NoExecute", "tolerationSeconds": 30},
                                   {"key": "other"})}, id="tolerations-equal-and-default"),
    pytest.param({"tolerations": [{"operator": "Exists"}]},
                 {"tolerations": ({"operator": "Exists"},)}, id="toleration-tolerate-all"),
])
def test_instance_type_fields(spec, expected):
    entry = parse_instance_type(instance_type_cr("small", spec))
    for attr, value in expected.items():
        assert getattr(entry, attr) == value, attr


@pytest.mark.parametrize("spec, reason", [
    pytest.param({"limits.cpu": None}, "limits.cpu is required", id="missing-cpu"),
    pytest.param({"limits.memory": ""}, "limits.memory is required", id="missing-memory"),
    pytest.param({"limits.cpu": "lots"}, "limits.cpu:", id="cpu-not-a-quantity"),
    pytest.param({"limits.memory": "2 gigs"}, "limits.memory:", id="memory-not-a-quantity"),
    pytest.param({"limits.memory": True}, "limits.memory:", id="memory-bool"),
    pytest.param({"limits.memory": ["1G"]}, "limits.memory:", id="memory-list"),
    pytest.param({"limits.cpu": 0}, "limits.cpu must be greater than zero", id="cpu-zero"),
    pytest.param({"limits.cpu": -1}, "limits.cpu", id="cpu-negative"),
    pytest.param({"limits.memory": "0"}, "limits.memory must be greater than zero",
                 id="memory-zero"),
    pytest.param({"requests.cpu": "x"}, "requests.cpu:", id="cpu-request-not-a-quantity"),
    pytest.param({"requests.memory": {}}, "requests.memory:", id="memory-request-wrong-type"),
    pytest.param({"requests.cpu": 2}, "requests.cpu is greater than limits.cpu",
                 id="cpu-request-over-limit"),
    pytest.param({"requests.memory": "2G"}, "requests.memory is greater than limits.memory",
                 id="memory-request-over-limit"),
    pytest.param({"limits.gpu": 1.5}, "limits.gpu must be a whole number", id="gpu-fraction"),
    pytest.param({"limits.gpu": -1}, "limits.gpu must be a whole number", id="gpu-negative"),
    pytest.param({"limits.gpu": True}, "limits.gpu must be a whole number", id="gpu-bool"),
    pytest.param({"limits.gpu": "one"}, "limits.gpu must be a whole number", id="gpu-words"),
    pytest.param({"limits.nvidia.com/gpu": "x"}, "limits.nvidia.com/gpu must be a whole number",
                 id="legacy-gpu-words"),
    pytest.param({"limits.gpu": "²"}, "limits.gpu must be a whole number", id="gpu-superscript"),
    pytest.param({"limits.gpu": "١"}, "limits.gpu must be a whole number", id="gpu-arabic-digit"),
    pytest.param({"limits.nvidia.com/gpu": "9" * 400}, "limits.nvidia.com/gpu must be a whole",
                 id="gpu-400-digits"),
    pytest.param({"limits.gpu": 2**63}, "limits.gpu must be a whole number", id="gpu-too-many"),
    pytest.param({"limits.gpu": 1, "gpuResourceName": ""}, "gpuResourceName is empty",
                 id="gpu-count-with-empty-resource-name"),
    pytest.param({"limits.gpu": 1, "gpuResourceName": "not a name!"}, "gpuResourceName",
                 id="gpu-resource-name-invalid"),
    pytest.param({"limits.gpu": 1, "gpuResourceName": "nvidia.com/gpu\n"}, "gpuResourceName",
                 id="gpu-resource-name-trailing-newline"),
    pytest.param({"limits.gpu": 1, "gpuResourceName": "cpu"}, "not a domain-prefixed",
                 id="gpu-resource-cpu"),
    pytest.param({"limits.gpu": 1, "gpuResourceName": "memory"}, "not a domain-prefixed",
                 id="gpu-resource-memory"),
    pytest.param({"limits.gpu": 1, "gpuResourceName": "pods"}, "not a domain-prefixed",
                 id="gpu-resource-pods"),
    pytest.param({"limits.gpu": 1, "gpuResourceName": "ephemeral-storage"},
                 "not a domain-prefixed", id="gpu-resource-ephemeral-storage"),
    pytest.param({"limits.gpu": 1, "gpuResourceName": "hugepages-2Mi"}, "not a domain-prefixed",
                 id="gpu-resource-hugepages"),
    pytest.param({"limits.gpu": 1, "gpuResourceName": "kubernetes.io/gpu"},
                 "is a Kubernetes resource", id="gpu-resource-kubernetes-io"),
    pytest.param({"limits.gpu": 1, "gpuResourceName": "node.kubernetes.io/x"},
                 "is a Kubernetes resource", id="gpu-resource-kubernetes-io-subdomain"),
    pytest.param({"limits.cpu": "9" * 400}, "limits.cpu:", id="cpu-400-digits"),
    pytest.param({"limits.memory": "9" * 400}, "limits.memory:", id="memory-400-digits"),
    pytest.param({"limits.cpu": float("inf")}, "limits.cpu:", id="cpu-infinite"),
    pytest.param({"limits.cpu": 10**400}, "limits.cpu:", id="cpu-huge-integer"),
    pytest.param({"limits.memory": "2G\n"}, "limits.memory:", id="memory-trailing-newline"),
    pytest.param({"gpuResourceName": 5}, "gpuResourceName must be a string",
                 id="gpu-resource-name-wrong-type"),
    pytest.param({"nodeSelector": ["hardware=gpu"]}, "nodeSelector must map strings to strings",
                 id="node-selector-list"),
    pytest.param({"nodeSelector": {"hardware": 1}}, "nodeSelector must map strings to strings",
                 id="node-selector-value-not-string"),
    pytest.param({"nodeSelector": {"bad key": "x"}}, "nodeSelector 'bad key': 'x' is not a label",
                 id="node-selector-key-not-a-label-key"),
    pytest.param({"nodeSelector": {"zone": "a\n"}}, "is not a label key and value",
                 id="node-selector-value-trailing-newline"),
    pytest.param({"tolerations": {"key": "x"}}, "tolerations must be a list",
                 id="tolerations-mapping"),
    pytest.param({"tolerations": "x"}, "tolerations must be a list", id="tolerations-string"),
    pytest.param({"tolerations": ["x"]}, "tolerations[0] must be a mapping",
                 id="toleration-not-mapping"),
    pytest.param({"tolerations": [{"kee": "x"}]}, "tolerations[0] has unknown keys ['kee']",
                 id="toleration-unknown-key"),
    pytest.param({"tolerations": [{"key": "x", "operator": "In"}]}, "tolerations[0].operator",
                 id="toleration-bad-operator"),
    pytest.param({"tolerations": [EXISTS_NOSCHEDULE, {"key": "x", "effect": "Never"}]},
                 "tolerations[1].effect 'Never' is not a taint effect",
                 id="toleration-bad-effect-second"),
    pytest.param({"tolerations": [{"key": "x", "effect": ["NoSchedule"]}]},
                 "tolerations[0].effect", id="toleration-effect-list"),
    pytest.param({"tolerations": [{"key": "x", "operator": ["Exists"]}]},
                 "tolerations[0].operator", id="toleration-operator-list"),
    pytest.param({"tolerations": [{"key": 5}]}, "tolerations[0].key must be a string",
                 id="toleration-key-not-string"),
    pytest.param({"tolerations": [{"key": "x", "value": 1}]},
                 "tolerations[0].value must be a string", id="toleration-value-not-string"),
    pytest.param({"tolerations": [{"key": "x", "operator": "Exists", "value": "v"}]},
                 "operator Exists with a value", id="toleration-exists-with-value"),
    pytest.param({"tolerations": [{"key": "x", "tolerationSeconds": "10"}]},
                 "tolerations[0].tolerationSeconds must be a whole number",
                 id="toleration-seconds-string"),
    pytest.param({"tolerations": [{"key": "x", "effect": "NoSchedule", "tolerationSeconds": 10}]},
                 "needs effect NoExecute", id="toleration-seconds-without-no-execute"),
    pytest.param({"tolerations": [{"key": "x y"}]}, "tolerations[0].key 'x y' is not a taint key",
                 id="toleration-key-invalid"),
    pytest.param({"tolerations": [{"key": "x", "value": "a b"}]},
                 "tolerations[0].value 'a b' is not a taint value", id="toleration-value-invalid"),
    pytest.param({"tolerations": [{"value": "v"}]}, "tolerations[0] has no key",
                 id="toleration-no-key-needs-exists"),
    pytest.param({"tolerations": [None]}, "tolerations[0] must be a mapping",
                 id="toleration-null-entry"),
    pytest.param({"displayName": 5}, "displayName must be a string", id="display-name-number"),
    pytest.param({"description": ["x"]}, "description must be a string",
                 id="description-list"),
])
def test_instance_type_malformed(spec, reason):
    obj = instance_type_cr("small", spec)
    with pytest.raises(InvalidResource) as info:
        parse_instance_type(obj)
    assert reason in str(info.value)


@pytest.mark.parametrize("key", ["limits.cpu", "limits.memory"])
def test_instance_type_missing_limit(key):
    with pytest.raises(InvalidResource, match=f"{key} is required"):
        parse_instance_type(without(instance_type_cr("small"), key))


def test_instance_type_is_frozen_and_detached_from_the_object():
    obj = instance_type_cr("small", {"nodeSelector": {"a": "b"}, "tolerations": [{"key": "k"}]})
    entry = parse_instance_type(obj)
    obj["spec"]["nodeSelector"]["a"] = "changed"
    obj["spec"]["tolerations"][0]["key"] = "changed"
    assert entry.node_selector == {"a": "b"}
    assert entry.tolerations == ({"key": "k"},)
    with pytest.raises(TypeError):
        entry.node_selector["x"] = "y"
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.cpu_limit = 99


# ---- resource-level problems, the same for every kind --------------------------------------

PARSERS = [pytest.param(parse_instance_type, instance_type_cr, id="InstanceType"),
           pytest.param(parse_image, image_cr, id="Image"),
           pytest.param(parse_dataset, dataset_cr, id="Dataset")]


@pytest.mark.parametrize("parse, make", PARSERS)
@pytest.mark.parametrize("mutate, reason", [
    pytest.param(lambda o: "not an object", "not a mapping", id="not-a-mapping"),
    pytest.param(lambda o: {**o, "metadata": {}}, "metadata.name None", id="no-name"),
    pytest.param(lambda o: {k: v for k, v in o.items() if k != "metadata"}, "metadata.name",
                 id="no-metadata"),
    pytest.param(lambda o: {**o, "metadata": {"name": "Bad_Name"}}, "metadata.name 'Bad_Name'",
                 id="name-not-dns"),
    pytest.param(lambda o: {**o, "metadata": {"name": "UPPER"}}, "metadata.name 'UPPER'",
                 id="name-upper-case"),
    pytest.param(lambda o: {**o, "metadata": {"name": 7}}, "metadata.name 7", id="name-number"),
    pytest.param(lambda o: {**o, "metadata": {"name": "-x"}}, "metadata.name '-x'",
                 id="name-leading-dash"),
    pytest.param(lambda o: {k: v for k, v in o.items() if k != "spec"},
                 "spec is missing or not a mapping", id="no-spec"),
    pytest.param(lambda o: {**o, "spec": ["limits.cpu"]}, "spec is missing or not a mapping",
                 id="spec-list"),
])
def test_malformed_object(parse, make, mutate, reason):
    with pytest.raises(InvalidResource) as info:
        parse(mutate(make("thing")))
    assert reason in str(info.value)


def test_invalid_resource_is_a_value_error():
    assert issubclass(InvalidResource, ValueError)


# ---- Image --------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, expected", [
    pytest.param({"url": "example.org/x:1"},
                 {"display_name": "img", "description": "", "type": "both",
                  "url": "example.org/x:1",
                      "url_for_gpu": "", "pull_secret": "", "group_name": "", "ready": True},
                 id="minimal-defaults"),
    pytest.param({"url": "u", "displayName": "Image!", "description": "d"},
                 {"display_name": "Image!", "description": "d"}, id="names"),
    pytest.param({"url": "u", "type": "cpu"}, {"type": "cpu"}, id="type-cpu"),
    pytest.param({"url": "u", "type": "gpu"}, {"type": "gpu"}, id="type-gpu"),
    pytest.param({"url": "u", "type": "both"}, {"type": "both"}, id="type-both"),
    pytest.param({"url": "u", "type": ""}, {"type": "both"}, id="type-empty-is-both"),
    pytest.param({"url": "cpu:1", "urlForGpu": "gpu:1"}, {"url": "cpu:1", "url_for_gpu": "gpu:1"},
                 id="url-for-gpu"),
    pytest.param({"url": "  u:1  ", "urlForGpu": " g:1\n"}, {"url": "u:1", "url_for_gpu": "g:1"},
                 id="urls-stripped"),
    pytest.param({"url": "u", "pullSecret": "private-registry"},
                 {"pull_secret": "private-registry"}, id="pull-secret"),
    pytest.param({"url": "u", "groupName": "research"}, {"group_name": "research"},
                 id="group-image"),
    pytest.param({"url": ""}, {"url": "", "ready": False}, id="empty-url-not-ready"),
    pytest.param({}, {"url": "", "ready": False}, id="no-url-not-ready"),
    pytest.param({"url": None}, {"url": "", "ready": False}, id="null-url-not-ready"),
])
def test_image_fields(spec, expected):
    entry = parse_image(cr("Image", "img", spec))
    for attr, value in expected.items():
        assert getattr(entry, attr) == value, attr


@pytest.mark.parametrize("spec, reason", [
    pytest.param({"type": "tpu"}, "type 'tpu' is not one of cpu, gpu, both", id="type-unknown"),
    pytest.param({"type": 1}, "type must be a string", id="type-number"),
    pytest.param({"url": 5}, "url must be a string", id="url-number"),
    pytest.param({"url": "a b"}, "url 'a b' contains whitespace", id="url-whitespace"),
    pytest.param({"urlForGpu": "a\tb"}, "urlForGpu", id="url-for-gpu-whitespace"),
    pytest.param({"urlForGpu": ["x"]}, "urlForGpu must be a string", id="url-for-gpu-list"),
    pytest.param({"pullSecret": "Bad_Secret"}, "pullSecret 'Bad_Secret' is not a Secret name",
                 id="pull-secret-invalid"),
    pytest.param({"pullSecret": {"name": "x"}}, "pullSecret must be a string",
                 id="pull-secret-mapping"),
    pytest.param({"groupName": 5}, "groupName must be a string", id="group-name-number"),
    pytest.param({"displayName": True}, "displayName must be a string", id="display-name-bool"),
])
def test_image_malformed(spec, reason):
    with pytest.raises(InvalidResource) as info:
        parse_image(image_cr("img", spec))
    assert reason in str(info.value)


CPU_TYPE = parse_instance_type(instance_type_cr("cpu"))
GPU_TYPE = parse_instance_type(instance_type_cr("gpu", {"limits.gpu": 1,
                                                       "gpuResourceName": NVIDIA}))


@pytest.mark.parametrize("image_type, instance_type, fits", [
    pytest.param("cpu", CPU_TYPE, True, id="cpu-image-on-cpu"),
    pytest.param("cpu", GPU_TYPE, True, id="cpu-image-on-gpu"),
    pytest.param("both", CPU_TYPE, True, id="both-on-cpu"),
    pytest.param("both", GPU_TYPE, True, id="both-on-gpu"),
    pytest.param("gpu", CPU_TYPE, False, id="gpu-image-on-cpu"),
    pytest.param("gpu", GPU_TYPE, True, id="gpu-image-on-gpu"),
])
def test_image_fits(image_type, instance_type, fits):
    assert parse_image(image_cr("img", type=image_type)).fits(instance_type) is fits


@pytest.mark.parametrize("spec, instance_type, url", [
    pytest.param({"url": "c", "urlForGpu": "g"}, CPU_TYPE, "c", id="cpu-type-takes-url"),
    pytest.param({"url": "c", "urlForGpu": "g"}, GPU_TYPE, "g", id="gpu-type-takes-url-for-gpu"),
    pytest.param({"url": "c"}, GPU_TYPE, "c", id="gpu-type-falls-back-to-url"),
    pytest.param({"url": "c", "urlForGpu": ""}, GPU_TYPE, "c", id="empty-url-for-gpu-falls-back"),
])
def test_image_url_for(spec, instance_type, url):
    assert parse_image(image_cr("img", spec)).url_for(instance_type) == url


# ---- Dataset ------------------------------------------------------------------------------

A = "dataset.primehub.io/"
DEFAULTS = {"home_symlink": False, "launch_group_only": False,
                "git_sync_host_root": "/home/dataset", "git_sync_root": "/gitsync"}


@pytest.mark.parametrize("spec, annotations, expected", [
    pytest.param({"type": "pv", "volumeName": "team-data"}, {},
                 dict(DEFAULTS, type="pv", volume_name="team-data", display_name="ds",
                      description="", variables={}), id="pv-defaults"),
    pytest.param({"type": "pv", "volumeName": "v", "displayName": "Data", "description": "d"}, {},
                 {"display_name": "Data", "description": "d"}, id="names"),
    pytest.param({"type": "nfs", "nfs": {"server": "10.0.0.50", "path": "/exports/shared"}}, {},
                 dict(DEFAULTS, type="nfs", nfs_server="10.0.0.50", nfs_path="/exports/shared"),
                 id="nfs"),
    pytest.param({"type": "hostPath", "hostPath": {"path": "/srv/host-data"}}, {},
                 dict(DEFAULTS, type="hostPath", host_path="/srv/host-data"), id="host-path"),
    pytest.param({"type": "pv", "volumeName": "hostpath:/srv/legacy"}, {},
                 dict(DEFAULTS, type="hostPath", host_path="/srv/legacy", volume_name=""),
                 id="pv-legacy-hostpath-volume-name"),
    pytest.param({"type": "git", "url": "https://example.org/r.git",
                  "gitsync": {"secret": "creds"}},
                 {}, dict(DEFAULTS, type="git", git_url="https://example.org/r.git",
                          git_secret="creds"), id="git-defaults"),
    pytest.param({"type": "git", "url": "https://example.org/r.git"}, {},
                 {"git_secret": ""}, id="git-without-secret"),
    pytest.param({"type": "git", "url": "", "gitsync": None}, {},
                 {"type": "git", "git_url": "", "git_secret": ""}, id="git-empty-url-still-mounts"),
    pytest.param({"type": "git"}, {}, {"type": "git", "git_url": ""}, id="git-no-url"),
    pytest.param({"type": "git", "url": "u"},
                 {A + "gitSyncHostRoot": "/var/git", A + "gitSyncRoot": "/sync"},
                 {"git_sync_host_root": "/var/git", "git_sync_root": "/sync"}, id="git-roots"),
    pytest.param({"type": "env", "variables": {"REGION": "tw", "BUCKET": "demo"}}, {},
                 dict(DEFAULTS, type="env", variables={"REGION": "tw", "BUCKET": "demo"}),
                 id="env"),
    pytest.param({"type": "env", "variables": {"PORT": 8080, "RATIO": 0.5}}, {},
                 {"variables": {"PORT": "8080", "RATIO": "0.5"}}, id="env-numbers-as-text"),
    pytest.param({"type": "env", "variables": {"my-key": "x", "lower": "y"}}, {},
                 {"variables": {"my-key": "x", "lower": "y"}}, id="env-keys-kept-as-written"),
    pytest.param({"type": "env"}, {}, {"variables": {}}, id="env-no-variables"),
    pytest.param({"type": "env", "variables": None}, {}, {"variables": {}},
                 id="env-null-variables"),
    pytest.param({"type": "env", "variables": {"__typename": "Variables", "A": "1"}}, {},
                 {"variables": {"A": "1"}}, id="env-graphql-typename-skipped"),
    pytest.param({"type": "pv", "volumeName": "v", "url": "", "variables": {}}, {},
                 {"type": "pv", "volume_name": "v"}, id="legacy-extra-keys-ignored"),
    pytest.param({"type": "pv", "volumeName": "v", "displayName": None, "description": None}, {},
                 {"display_name": "ds", "description": ""}, id="null-names"),
    pytest.param({"type": "pv", "volumeName": "v"}, {A + "mountRoot": "/mnt/data"},
                 {"mount_root": "/mnt/data"}, id="mount-root"),
    pytest.param({"type": "pv", "volumeName": "v"}, {A + "homeSymlink": "true"},
                 {"home_symlink": True}, id="home-symlink"),
    pytest.param({"type": "pv", "volumeName": "v"}, {A + "homeSymlink": "True "},
                 {"home_symlink": True}, id="home-symlink-case-and-space"),
    pytest.param({"type": "pv", "volumeName": "v"}, {A + "homeSymlink": "false"},
                 {"home_symlink": False}, id="home-symlink-false"),
    pytest.param({"type": "pv", "volumeName": "v"}, {A + "homeSymlink": "yes"},
                 {"home_symlink": False}, id="home-symlink-only-true-counts"),
    pytest.param({"type": "pv", "volumeName": "v"}, {A + "launchGroupOnly": "true"},
                 {"launch_group_only": True}, id="launch-group-only"),
    pytest.param({"type": "pv", "volumeName": "v"}, {"other.io/x": "true"}, DEFAULTS,
                 id="unrelated-annotations"),
    pytest.param({"type": "pv", "volumeName": "v"}, {A + "homeSymlink": True},
                 {"home_symlink": True}, id="boolean-annotation"),
    pytest.param({"type": "pv", "volumeName": "v"}, {A + "mountRoot": None},
                 {"mount_root": ""}, id="null-mount-root"),
])
def test_dataset_fields(spec, annotations, expected):
    entry = parse_dataset(cr("Dataset", "ds", spec, annotations))
    for attr, value in expected.items():
        assert getattr(entry, attr) == value, attr


def test_dataset_without_mount_root_annotation_uses_the_spawner_default():
    # Empty means "the spawner's dataset_mount_root" (/datasets by default, see test_podspec).
    assert parse_dataset(dataset_cr("ds")).mount_root == ""


@pytest.mark.parametrize("dataset_type", DATASET_TYPES)
def test_every_dataset_type_is_parsed(dataset_type):
    spec = {"pv": {"volumeName": "v"}, "nfs": {"nfs": {"server": "s", "path": "/p"}},
            "hostPath": {"hostPath": {"path": "/p"}}, "git": {"url": "u"}, "env": {}}[dataset_type]
    assert parse_dataset(cr("Dataset", "ds", {"type": dataset_type, **spec})).type == dataset_type


@pytest.mark.parametrize("name, spec, annotations, reason", [
    pytest.param("ds", {}, {}, "type is required", id="type-missing"),
    pytest.param("ds", {"type": "s3"}, {}, "type 's3' is not one of env, git, pv, hostPath, nfs",
                 id="type-unknown"),
    pytest.param("ds", {"type": "PV"}, {}, "type 'PV' is not one of", id="type-wrong-case"),
    pytest.param("ds", {"type": 5}, {}, "type must be a string", id="type-number"),
    pytest.param("ds", {"type": "pv"}, {}, "volumeName is required", id="pv-no-volume-name"),
    pytest.param("ds", {"type": "pv", "volumeName": "Bad Name"}, {},
                 "volumeName 'Bad Name' is not a valid name", id="pv-bad-volume-name"),
    pytest.param("ds", {"type": "pv", "volumeName": 3}, {}, "volumeName must be a string",
                 id="pv-volume-name-number"),
    pytest.param("ds", {"type": "pv", "volumeName": "hostpath:tmp"}, {},
                 "volumeName's path 'tmp' must be an absolute path",
                 id="pv-legacy-hostpath-relative"),
    pytest.param("ds", {"type": "pv", "volumeName": "v\n"}, {}, "volumeName 'v\\n'",
                 id="pv-volume-name-trailing-newline"),
    pytest.param("ds", {"type": "nfs", "nfs": {"path": "/p"}}, {}, "spec.nfs.server is required",
                 id="nfs-no-server"),
    pytest.param("ds", {"type": "nfs", "nfs": {"server": "s"}}, {}, "spec.nfs.path is required",
                 id="nfs-no-path"),
    pytest.param("ds", {"type": "nfs", "nfs": {"server": "s", "path": "exports/x"}}, {},
                 "spec.nfs.path 'exports/x' must be an absolute path", id="nfs-relative-path"),
    pytest.param("ds", {"type": "nfs", "nfs": {"server": "s", "path": "/a/../etc"}}, {},
                 "spec.nfs.path", id="nfs-dot-dot"),
    pytest.param("ds", {"type": "nfs", "nfs": {"server": "s", "path": "/a;rm -rf /"}}, {},
                 "spec.nfs.path", id="nfs-shell-characters"),
    pytest.param("ds", {"type": "nfs", "nfs": {"server": "s", "path": "/p\n"}}, {},
                 "spec.nfs.path", id="nfs-path-trailing-newline"),
    pytest.param("ds", {"type": "nfs", "nfs": {"server": ["s"], "path": "/p"}}, {},
                 "spec.nfs.server must be a string", id="nfs-server-list"),
    pytest.param("ds", {"type": "nfs", "nfs": {"server": "a b", "path": "/p"}}, {},
                 "spec.nfs.server 'a b' contains whitespace", id="nfs-server-space"),
    pytest.param("ds", {"type": "nfs", "nfs": "10.0.0.1:/"}, {}, "spec.nfs must be a mapping",
                 id="nfs-not-a-mapping"),
    pytest.param("ds", {"type": "nfs", "nfs.server": "s", "nfs.path": "/p"}, {},
                 "spec.nfs is missing: Dataset sub-specs are nested objects",
                 id="nfs-dotted-keys-say-nested"),
    pytest.param("ds", {"type": "hostPath"}, {}, "spec.hostPath.path is required",
                 id="host-path-missing"),
    pytest.param("ds", {"type": "hostPath", "hostPath.path": "/p"}, {},
                 "spec.hostPath is missing", id="host-path-dotted-key-says-nested"),
    pytest.param("ds", {"type": "hostPath", "hostPath": {"path": "data"}}, {},
                 "spec.hostPath.path 'data'", id="host-path-relative"),
    pytest.param("ds", {"type": "hostPath", "hostPath": {"path": "/data/.."}}, {},
                 "spec.hostPath.path", id="host-path-trailing-dot-dot"),
    pytest.param("ds", {"type": "hostPath", "hostPath": {"path": "/data/$(id)"}}, {},
                 "spec.hostPath.path", id="host-path-shell"),
    pytest.param("ds", {"type": "git", "url": "u", "gitsync": {"secret": 1}}, {},
                 "spec.gitsync.secret must be a string", id="git-secret-number"),
    pytest.param("ds", {"type": "git", "url": ["u"]}, {}, "url must be a string",
                 id="git-url-list"),
    pytest.param("ds", {"type": "git", "url": "u"}, {A + "gitSyncHostRoot": "home/dataset"},
                 "gitSyncHostRoot 'home/dataset'", id="git-host-root-relative"),
    pytest.param("ds", {"type": "git", "url": "u"}, {A + "gitSyncRoot": "/x/`id`"},
                 "gitSyncRoot", id="git-root-unsafe"),
    pytest.param("ds", {"type": "pv", "volumeName": "v"}, {A + "mountRoot": "datasets"},
                 "mountRoot 'datasets'", id="mount-root-relative"),
    pytest.param("ds", {"type": "pv", "volumeName": "v"}, {A + "mountRoot": "/data sets"},
                 "mountRoot", id="mount-root-space"),
    pytest.param("ds", {"type": "pv", "volumeName": "v"}, {A + "mountRoot": "/../etc"},
                 "mountRoot", id="mount-root-escape"),
    pytest.param("ds", {"type": "env", "variables": ["A=1"]}, {}, "variables must be a mapping",
                 id="env-variables-list"),
    pytest.param("ds", {"type": "env", "variables": {"A": ["1"]}}, {},
                 "variables['A'] must be a string", id="env-value-list"),
    pytest.param("ds", {"type": "env", "variables": {"A": {"x": 1}}}, {},
                 "variables['A'] must be a string", id="env-value-mapping"),
    pytest.param("ds", {"type": "env", "variables": {"A": True}}, {},
                 "variables['A'] must be a string", id="env-value-bool"),
    pytest.param("ds", {"type": "env", "variables": {"A": None}}, {},
                 "variables['A'] must be a string", id="env-value-null"),
    pytest.param("ds", {"type": "env", "variables": {"bad key": "1"}}, {},
                 "variables key 'bad key'", id="env-key-space"),
    pytest.param("ds", {"type": "env", "variables": {"A=B": "1"}}, {},
                 "variables key 'A=B'", id="env-key-equals"),
    pytest.param("ds", {"type": "env", "variables": {"A\n": "1"}}, {},
                 "variables key 'A\\n'", id="env-key-trailing-newline"),
    pytest.param("ds", {"type": "env", "variables": {1: "1"}}, {},
                 "variables key 1 is not a string", id="env-key-number"),
    pytest.param("jupyterhub", {"type": "env", "variables": {"API_URL": "http://evil"}}, {},
                 "variables key 'API_URL' would set JUPYTERHUB_API_URL", id="env-reserved-hub"),
    pytest.param("ld", {"type": "env", "variables": {"PRELOAD": "/x.so"}}, {},
                 "would set LD_PRELOAD", id="env-reserved-loader"),
    pytest.param("primehub", {"type": "env", "variables": {"USER": "x"}}, {},
                 "would set PRIMEHUB_USER", id="env-reserved-plugin"),
    pytest.param("group", {"type": "env", "variables": {"ID": "x"}}, {},
                 "would set GROUP_ID", id="env-reserved-group-id"),
    pytest.param("ld", {"type": "env", "variables": {"library-path": "x"}}, {},
                 "would set LD_LIBRARY_PATH", id="env-reserved-in-underscore-spelling"),
    pytest.param("1data", {"type": "env", "variables": {"A": "1"}}, {}, "variables key 'A'",
                 id="env-name-starts-with-digit"),
    pytest.param("Data", {"type": "pv", "volumeName": "v"}, {}, "metadata.name 'Data'",
                 id="name-upper-case"),
    pytest.param("ds_global", {"type": "pv", "volumeName": "v"}, {},
                 "metadata.name 'ds_global' is not a DNS subdomain", id="name-underscore"),
    pytest.param("d" * 254, {"type": "pv", "volumeName": "v"}, {}, "is not a DNS subdomain",
                 id="name-too-long"),
    pytest.param("ds", {"type": "pv", "volumeName": "v"}, {A + "mountRoot": True},
                 "mountRoot must be a string", id="mount-root-not-a-string"),
    pytest.param("ds", {"type": "pv", "volumeName": "v"}, {A + "mountRoot": "/datasets\n"},
                 "mountRoot", id="mount-root-trailing-newline"),
])
def test_dataset_malformed(name, spec, annotations, reason):
    with pytest.raises(InvalidResource) as info:
        parse_dataset(cr("Dataset", name, spec, annotations))
    assert reason in str(info.value)


@pytest.mark.parametrize("name, pod_volume", [
    pytest.param("d" * 55, "dataset-" + "d" * 55, id="longest-plain-volume-name"),
    pytest.param("d" * 56, "dataset-" + "d" * 45 + "-", id="longer-than-a-volume-name"),
    pytest.param("data.v2", "dataset-data-v2-", id="dotted"),
    pytest.param("d" * 253, "dataset-" + "d" * 45 + "-", id="longest-stored-name"),
])
def test_any_stored_dataset_name_is_read_with_a_valid_volume(name, pod_volume):
    # No longer dropped for its name: `pod_volume` makes any stored name a volume name.
    entry = parse_dataset(dataset_cr(name, volumeName="v"))
    assert entry.name == name
    assert entry.pod_volume.startswith(pod_volume)
    assert is_dns_label(entry.pod_volume)


@pytest.mark.parametrize("dataset, key, expected", [
    pytest.param("public-env", "REGION", ("PUBLIC-ENV_REGION", "PUBLIC_ENV_REGION"),
                 id="dash-in-dataset-both-spellings"),
    pytest.param("data", "my-key", ("DATA_MY-KEY", "DATA_MY_KEY"), id="dash-in-key"),
    pytest.param("data", "lower", ("DATA_LOWER",), id="upper-cased"),
    pytest.param("a1", "B_2", ("A1_B_2",), id="digits-and-underscore"),
])
def test_dataset_env_names(dataset, key, expected):
    assert dataset_env_names(dataset, key) == expected


@pytest.mark.parametrize("name, expected", [
    pytest.param("team-data", "dataset-team-data", id="plain"),
    pytest.param("d" * 55, "dataset-" + "d" * 55, id="longest-plain"),
])
def test_pod_volume_of_a_plain_name(name, expected):
    assert parse_dataset(dataset_cr(name)).pod_volume == expected


# ---- the catalog of the devstack demo data ------------------------------------------------

def test_demo_catalog_parses():
    catalog = demo_catalog()
    assert sorted(catalog.instance_types) == ["cpu-1", "cpu-2", "gpu-small", "legacy-gpu"]
    assert sorted(catalog.images) == ["base-notebook", "building-image", "private-image",
                                      "pytorch", "research-image", "tf-gpu"]
    assert sorted(catalog.datasets) == ["class-only", "git-repo", "host-data", "public-env",
                                        "shared-nfs", "team-data"]
    assert not catalog.images["building-image"].ready
    assert catalog.instance_types["legacy-gpu"].has_nvidia_gpu


def test_plurals_match_the_crds():
    assert PLURALS == {"InstanceType": "instancetypes", "Image": "images",
                       "Dataset": "datasets"}
    crds = [doc for path in sorted(CRDS.glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text())
            if doc and doc["kind"] == "CustomResourceDefinition"]
    served = {(crd["spec"]["group"], version["name"], crd["spec"]["names"]["kind"],
               crd["spec"]["names"]["plural"])
              for crd in crds for version in crd["spec"]["versions"]}
    assert served == {(GROUP, VERSION, kind, plural) for kind, plural in PLURALS.items()}
