"""Random custom resources, of any JSON shape and with random values in the keys PrimeHub
writes: the parsers return an entry or raise InvalidResource, never anything else, and an
entry holds only valid names, paths and quantities (issue 8: bad input, measured)."""
from __future__ import annotations

import logging
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from primehub_spawner.catalog import (
    ANNOTATION,
    DATASET_TYPES,
    PARSERS,
    Dataset,
    Image,
    InstanceType,
    InvalidResource,
)
from primehub_spawner.crd_cache import CatalogCache
from primehub_spawner.names import (
    is_dns_label,
    is_dns_subdomain,
    is_kube_env_name,
    is_label_value,
    is_qualified_name,
    is_reserved_dataset_env,
    is_safe_path,
)
from primehub_spawner.quantities import LARGEST

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

class Formatting(logging.Handler):
    """Formats every record (so a log call with bad arguments fails the test), keeps none."""

    def emit(self, record):
        self.format(record)


QUIET = logging.Logger("test-properties")  # noqa: LOG001 - outside the hierarchy: no output
QUIET.addHandler(Formatting())

# ---- strategies ---------------------------------------------------------------------------

scalars = (st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
           | st.floats() | st.text(max_size=12))
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
# Strings that sit near a rule's edge: quantities, digits from other scripts, a newline left
# at the end, names that are almost names.
tricky = st.sampled_from([
    "", " ", "0", "1", "2G", "512Mi", "500m", "1.5", "-1", "²", "١", "1\n", "9" * 400,
    "2 G", "1e3", "NaN", "inf", "nvidia.com/gpu", "amd.com/gpu", "cpu", "memory", "pods",
    "hugepages-2Mi", "kubernetes.io/gpu", "a/b/c", "/", "/data", "/data\n", "/a/../b", "..",
    "hostpath:/srv/x", "hostpath:x", "Equal", "Exists", "NoSchedule", "NoExecute", "true",
    "True", "a.b", "A_B", "x" * 300, "ds-1", "__typename",
])
quantity_like = st.from_regex(r"[ ]?[0-9.]{1,25}(Ki|Mi|Gi|Ti|[kKMGTPEm])?[ ]?\n?", fullmatch=True)
path_like = st.from_regex(r"/[A-Za-z0-9_./ -]{0,12}\n?", fullmatch=True)
values = json_values | tricky | quantity_like | path_like | st.integers(-3, 2**64)
label_like = st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,20}[a-z0-9])?", fullmatch=True)


def mostly(plausible, other=values):
    """Plausible four times in five, anything else otherwise: so that both entries and
    refusals are drawn."""
    return st.sampled_from((True, True, True, True, False)).flatmap(
        lambda plausibly: plausible if plausibly else other)


names = mostly(label_like, tricky | json_values)
texts = mostly(st.text(max_size=10))
cpus = mostly(st.integers(1, 16) | st.sampled_from(["500m", "1.5", "2"]) | quantity_like)
memories = mostly(st.sampled_from(["1G", "2Gi", "512M", "4G"]) | quantity_like)
gpus = mostly(st.integers(0, 4) | st.sampled_from(["1", "²"]))
gpu_resources = mostly(st.sampled_from(["nvidia.com/gpu", "amd.com/gpu", "", "cpu"]))
paths = mostly(st.sampled_from(["/", "/data", "/srv/x", "/a/../b"]) | path_like)


def cr(kind: str, name, spec, annotations=None) -> dict:
    metadata = {"name": name, "resourceVersion": "1"}
    if annotations is not None:
        metadata["annotations"] = annotations
    return {"kind": kind, "metadata": metadata, "spec": spec}


def maybe(of: dict):
    """Any subset of these keys, each with a value from its strategy."""
    return st.fixed_dictionaries({}, optional=of)


toleration = maybe({
    "key": mostly(st.sampled_from(["", "nvidia.com/gpu", "dedicated", None])),
    "operator": mostly(st.sampled_from(["Equal", "Exists", "", None])),
    "value": mostly(st.sampled_from(["", "user", "a b", None])),
    "effect": mostly(st.sampled_from(["", "NoSchedule", "NoExecute", None])),
    "tolerationSeconds": mostly(st.integers(-5, 5) | st.none()),
})
instance_type_spec = mostly(st.fixed_dictionaries({"limits.cpu": cpus, "limits.memory": memories},
                                                  optional={
    "displayName": texts, "description": texts, "requests.cpu": cpus,
    "requests.memory": memories, "limits.gpu": gpus, "gpuResourceName": gpu_resources,
    "limits.nvidia.com/gpu": gpus,
    "nodeSelector": mostly(st.dictionaries(mostly(label_like, tricky), mostly(label_like),
                                           max_size=3)),
    "tolerations": mostly(st.lists(mostly(toleration), max_size=3)),
}), maybe({"limits.cpu": values, "limits.memory": values, "tolerations": values}))
image_spec = maybe({
    "displayName": texts, "description": texts,
    "type": st.sampled_from(["cpu", "gpu", "both", ""]) | values,
    "url": st.sampled_from(["example.org/x:1", ""]) | values, "urlForGpu": values,
    "pullSecret": label_like | values, "groupName": texts, "imageSpec": values})
# Every sub-spec, mostly well formed: the parser reads the one of its type, ignores the rest.
dataset_spec = st.fixed_dictionaries(
    {"type": mostly(st.sampled_from(DATASET_TYPES)),
     "volumeName": mostly(label_like | st.just("hostpath:/srv/x")),
     "nfs": mostly(st.fixed_dictionaries({"server": mostly(label_like), "path": paths})),
     "hostPath": mostly(st.fixed_dictionaries({"path": paths})),
     "gitsync": mostly(maybe({"secret": texts})),
     "variables": mostly(st.dictionaries(
         mostly(st.from_regex(r"[A-Za-z_][-A-Za-z0-9_.]{0,8}", fullmatch=True), tricky),
         texts, max_size=4))},
    optional={"displayName": texts, "description": texts, "url": texts,
              "nfs.server": values, "hostPath.path": values})
annotations = mostly(maybe({ANNOTATION + "mountRoot": paths, ANNOTATION + "homeSymlink": values,
                     ANNOTATION + "launchGroupOnly": values,
                     ANNOTATION + "gitSyncHostRoot": paths, ANNOTATION + "gitSyncRoot": paths,
                     "primehub-gitsync": values}))

known_shapes = st.one_of(
    st.builds(cr, st.just("InstanceType"), names, instance_type_spec),
    st.builds(cr, st.just("Image"), names, image_spec),
    st.builds(cr, st.just("Dataset"), names, dataset_spec, annotations),
)
any_shape = json_values | maybe({
    "kind": values, "spec": json_values,
    "metadata": json_values | maybe({"name": names, "annotations": json_values,
                                     "resourceVersion": values})})


# ---- what an accepted entry holds -----------------------------------------------------------

def assert_valid(entry) -> None:
    assert is_dns_subdomain(entry.name)
    assert isinstance(entry.display_name, str) and isinstance(entry.description, str)
    if isinstance(entry, InstanceType):
        for cores in (entry.cpu_limit, entry.cpu_request):
            assert cores is None or (math.isfinite(cores) and 0 <= cores <= LARGEST)
        for size in (entry.mem_limit, entry.mem_request):
            assert size is None or (isinstance(size, int) and 0 <= size <= LARGEST)
        assert entry.cpu_limit > 0 and entry.mem_limit > 0
        assert isinstance(entry.gpu_limit, int) and 0 <= entry.gpu_limit < LARGEST
        assert is_qualified_name(entry.gpu_resource_name) and "/" in entry.gpu_resource_name
        assert all(is_qualified_name(k) and is_label_value(v)
                   for k, v in entry.node_selector.items())
        for toleration in entry.tolerations:
            assert None not in toleration.values()
            assert set(toleration) <= {"key", "operator", "value", "effect", "tolerationSeconds"}
            assert not toleration.get("key") or is_qualified_name(toleration["key"])
            assert is_label_value(toleration.get("value", ""))
    elif isinstance(entry, Image):
        assert entry.type in ("cpu", "gpu", "both")
        assert not any(c.isspace() for c in entry.url + entry.url_for_gpu)
        assert entry.pull_secret == "" or is_dns_subdomain(entry.pull_secret)
    else:
        assert isinstance(entry, Dataset) and entry.type in DATASET_TYPES
        assert is_dns_label(entry.pod_volume)
        assert entry.mount_root == "" or is_safe_path(entry.mount_root)
        if entry.type == "pv":
            assert is_dns_subdomain(f"dataset-{entry.volume_name}")
        if entry.type == "hostPath":
            assert is_safe_path(entry.host_path)
        if entry.type == "nfs":
            assert entry.nfs_server and is_safe_path(entry.nfs_path)
        if entry.type == "git":
            assert is_safe_path(entry.git_sync_host_root) and is_safe_path(entry.git_sync_root)
        for name, value in entry.environment.items():
            assert is_kube_env_name(name) and not is_reserved_dataset_env(name)
            assert isinstance(value, str)


def parse_or_refuse(kind: str, obj) -> None:
    try:
        entry = PARSERS[kind](obj)
    except InvalidResource as e:
        assert str(e) and len(str(e)) < 400  # a sentence, with untrusted input cut short
        return
    assert_valid(entry)


@SETTINGS
@given(known_shapes)
def test_random_values_in_known_keys(obj):
    parse_or_refuse(obj["kind"], obj)


@SETTINGS
@given(st.sampled_from(sorted(PARSERS)), any_shape)
def test_objects_of_any_json_shape(kind, obj):
    parse_or_refuse(kind, obj)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(sorted(PARSERS)), st.lists(any_shape | known_shapes, max_size=5))
def test_the_watch_cache_takes_any_list(kind, items):
    cache = CatalogCache(api=None, namespace="hub", log=QUIET)
    cache._replace_all(kind, items)
    for item in items:
        cache._store(kind, item)
    assert cache._loaded[kind].is_set()
    for entry in [*cache.catalog.instance_types.values(), *cache.catalog.images.values(),
                  *cache.catalog.datasets.values()]:
        assert_valid(entry)
