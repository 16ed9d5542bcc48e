"""Side by side, in one process and interleaved: KubeSpawner with an equivalent static
`profile_list` against PrimeHubSpawner (issue 9).

For each size it times, round by round and in rotating order:

- KubeSpawner's full render of its form (`_render_options_form` over the profile list);
- KubeSpawner's cached string (a static `profile_list` is rendered once, at the first
  `get_options_form()`; later calls hand the same string back);
- our page: `PrimeHubSpawner.get_options_form()`, entitlements from auth_state and the
  catalog from the shared watch cache (`crd_cache`), quota on over a pod watch of running
  pods, as on a hub;
- our page plus listing the custom resources per request: the JSON decode of list responses
  of that size and the parse of every item, which is what the watch cache saves;
- the start path: our `load_user_options()` (re-check of the choice, quota, pod overrides)
  and `get_pod_manifest()`, against KubeSpawner applying the equivalent profile
  (`load_user_options()` with `{"profile": slug}`) and `get_pod_manifest()`. The
  equivalent profile carries the settings our start applies, so both build the same pod.

Then the memory held by the watch cache for 10,000 custom resources, and by one user's
entitlements as kept in memory.

Sizes: small is a user in 3 groups over 20 instance types, 20 images and 50 datasets,
against 20 profiles; large is a user in 20 groups over 1,000 instance types, 1,000 images
and 2,000 datasets, against 1,000 profiles. Every group grants an equal share of the
catalog, so the user's groups together reach all of it (the worst case for our menu);
a quarter of the datasets are launch-group-only. Nothing reaches a cluster or Keycloak:
KubeSpawner's kubeconfig and API clients are replaced at the I/O edge.

    .venv/bin/python benchmarks/bench_vs_kubespawner.py [--quick] [--markdown]

`--quick` runs fewer rounds; `--markdown` prints the table as the README shows it;
`--smoke` runs tiny sizes in a second (for the test that keeps this script working).
"""
from __future__ import annotations

import argparse
import asyncio
import copy
import gc
import json
import logging
import math
import statistics
import sys
import time
import tracemalloc
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

# This checkout's package, not whichever one is installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import kubespawner.spawner as kubespawner_module
from kubernetes_asyncio.client import ApiClient
from kubespawner import KubeSpawner

import primehub_spawner.spawner as spawner_module
from primehub_spawner import crd_cache
from primehub_spawner.catalog import PARSERS, Catalog
from primehub_spawner.crd_cache import CatalogCache
from primehub_spawner.entitlements import Group, UserEntitlements
from primehub_spawner.names import AUTH_STATE_KEY
from primehub_spawner.spawner import PrimeHubSpawner

NAMESPACE = "hub"
API_VERSION = "primehub.io/v1alpha1"
QUIET = logging.getLogger("bench-quiet")
QUIET.setLevel(logging.ERROR)


@dataclass(frozen=True)
class Size:
    name: str
    groups: int
    instance_types: int
    images: int
    datasets: int
    profiles: int
    pods: int  # running servers in the pod watch (other users, in the user's groups)
    rounds: int


SIZES = {
    "small": Size("small", 3, 20, 20, 50, 20, 30, 60),
    "large": Size("large", 20, 1000, 1000, 2000, 1000, 200, 15),
}
SMOKE = {
    "small": Size("small", 1, 3, 3, 4, 3, 2, 2),
    "large": Size("large", 2, 6, 6, 8, 6, 4, 2),
}
MEMORY_CRS = 10_000
TARGET_MB = 60


# ---- custom resources as the API server lists them ---------------------------------------

def metadata(kind: str, name: str, i: int, annotations: dict | None = None) -> dict:
    meta = {"name": name, "namespace": NAMESPACE,
            "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{kind}/{name}")),
            "resourceVersion": str(400_000 + i), "generation": 1 + i % 3,
            "creationTimestamp": "2024-03-01T10:00:00Z",
            "labels": {"app.kubernetes.io/managed-by": "primehub-console"}}
    if annotations:
        meta["annotations"] = annotations
    return meta


def instance_type(i: int) -> dict:
    cpu, mem = 1 + i % 16, 2 + 2 * (i % 32)
    spec = {"displayName": f"Instance type {i}",
            "description": f"{cpu} CPU, {mem} GB memory, for the team's notebooks",
            "limits.cpu": cpu, "limits.memory": f"{mem}G",
            "requests.cpu": cpu / 2, "requests.memory": f"{mem // 2}G",
            "nodeSelector": {"node-pool": f"pool-{i % 7}"}}
    if i % 5 == 0:
        spec.update({"limits.gpu": 1, "gpuResourceName": "nvidia.com/gpu",
                     "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists",
                                      "effect": "NoSchedule"}]})
    return {"apiVersion": API_VERSION, "kind": "InstanceType",
            "metadata": metadata("InstanceType", f"it-{i}", i), "spec": spec}


def image(i: int) -> dict:
    kind = ("cpu", "gpu", "both")[i % 3]
    spec = {"displayName": f"Image {i}", "description": f"Notebook image {i} of the team",
            "type": kind, "url": f"registry.example.com/team-{i % 40}/notebook:v{i}"}
    if kind == "both":
        spec["urlForGpu"] = f"registry.example.com/team-{i % 40}/notebook:v{i}-cuda"
    if i % 4 == 0:
        spec["pullSecret"] = f"registry-{i % 9}"
    if i % 6 == 0:
        spec["groupName"] = f"group-{i % 20}"
    return {"apiVersion": API_VERSION, "kind": "Image",
            "metadata": metadata("Image", f"img-{i}", i), "spec": spec}


def dataset(i: int) -> dict:
    annotations = {}
    if i % 4 == 0:
        annotations["dataset.primehub.io/launchGroupOnly"] = "true"
    if i % 5 == 0:
        annotations["dataset.primehub.io/homeSymlink"] = "true"
    spec = {"displayName": f"Dataset {i}", "description": f"Data of project {i}"}
    kind = ("pv", "pv", "pv", "nfs", "env", "git", "hostPath")[i % 7]
    spec["type"] = kind
    if kind == "pv":
        spec["volumeName"] = f"ds-{i}"
    elif kind == "nfs":
        spec["nfs"] = {"server": f"nfs-{i % 5}.example.com", "path": f"/exports/ds-{i}"}
    elif kind == "env":
        spec["variables"] = {"HOST": f"db-{i}.example.com", "PORT": "5432", "NAME": f"db{i}"}
    elif kind == "git":
        spec["url"] = f"https://git.example.com/team/repo-{i}.git"
    else:
        spec["hostPath"] = {"path": f"/mnt/data/ds-{i}"}
    return {"apiVersion": API_VERSION, "kind": "Dataset",
            "metadata": metadata("Dataset", f"ds-{i}", i, annotations), "spec": spec}


BUILDERS = {"InstanceType": instance_type, "Image": image, "Dataset": dataset}


def list_body(kind: str, count: int) -> str:
    """The JSON body of a namespaced list of `count` objects of `kind`."""
    return json.dumps({"apiVersion": API_VERSION, "kind": f"{kind}List",
                       "metadata": {"resourceVersion": "500000", "continue": ""},
                       "items": [BUILDERS[kind](i) for i in range(count)]})


def counts(size: Size) -> dict[str, int]:
    return {"InstanceType": size.instance_types, "Image": size.images,
            "Dataset": size.datasets}


def list_and_parse(bodies: dict[str, str]) -> Catalog:
    """What a hub without the watch cache would do per request."""
    kinds = {}
    for kind, body in bodies.items():
        parse = PARSERS[kind]
        kinds[kind] = {item["metadata"]["name"]: parse(item) for item in json.loads(body)["items"]}
    return Catalog(instance_types=kinds["InstanceType"], images=kinds["Image"],
                   datasets=kinds["Dataset"])


# ---- a user, their groups, the pods running -----------------------------------------------

def entitlements_for(size: Size) -> UserEntitlements:
    g = size.groups

    def share(prefix: str, count: int, k: int) -> list[str]:
        return [f"{prefix}-{i}" for i in range(count) if i % g == k]

    groups = []
    for k in range(g):
        roles = ([f"it:{n}" for n in share("it", size.instance_types, k)]
                 + [f"img:{n}" for n in share("img", size.images, k)]
                 + [f"ds:{n}" for n in share("ds", size.datasets, k) if int(n[3:]) % 3]
                 + [f"ds:rw:{n}" for n in share("ds", size.datasets, k) if not int(n[3:]) % 3])
        attributes = {"displayName": f"Group {k}", "quota-cpu": "64", "quota-memory": "256G",
                      "quota-gpu": "4", "project-quota-cpu": "512",
                      "project-quota-memory": "2048G", "project-quota-gpu": "16"}
        if k % 2 == 0:
            attributes.update({"enabled-shared-volume": "true", "shared-volume-capacity": "10G"})
        if k % 3 == 0:
            attributes["mlflow-tracking-uri"] = f"http://mlflow-{k}.example.com:5000"
        groups.append(Group(id=f"gid-{k}", name=f"group-{k}", roles=tuple(roles),
                            attributes=attributes, path=f"/group-{k}"))
    everyone = Group(id="gid-everyone", name="everyone", path="/everyone",
                     roles=("it:it-0", "img:img-0", "ds:ds-1"),
                     attributes={"defaultUserVolumeCapacity": "20G"})
    return UserEntitlements(username="alice", user_id="uid-alice", groups=tuple(groups),
                            everyone=everyone, fetched_at=time.time(),
                            user_attributes={"volumeCapacity": "50G",
                                             "timezone": "Asia/Taipei"})


def running_pods(size: Size) -> dict[str, dict]:
    pods = {}
    for n in range(size.pods):
        name = f"jupyter-user{n}"
        pods[f"{NAMESPACE}/{name}"] = {
            "metadata": {"name": name, "namespace": NAMESPACE, "uid": f"pod-{n}",
                         "labels": {"component": "singleuser-server",
                                    "primehub.io/user": f"user{n}",
                                    "primehub.io/group": f"group-{n % size.groups}"}},
            "spec": {"containers": [{"name": "notebook", "resources": {
                "limits": {"cpu": "1", "memory": "2G"}}}]},
            "status": {"phase": "Running"}}
    return pods


class LoadedWatch:
    """A shared watch, listed: its objects by "namespace/name" (KubeSpawner's pods, the
    spawner's claims)."""

    def __init__(self, resources: dict):
        self.resources = self.pods = resources
        self.first_load_future = asyncio.get_running_loop().create_future()
        self.first_load_future.set_result(None)

    async def stop(self):
        pass


class Handler:
    """What a spawner reads of the GET /hub/spawn request that asks for its page."""

    def __init__(self):
        self.request = SimpleNamespace(path="/hub/spawn", uri="/hub/spawn", method="GET",
                                       query="", arguments={}, query_arguments={})
        self.log = QUIET

    def get_argument(self, name, default=None):
        return default

    get_query_argument = get_argument

    def get_cookie(self, name, default=None):
        return default

    def get_secure_cookie(self, name, *args, **kwargs):
        return None


# ---- the two spawners -----------------------------------------------------------------------

USER = SimpleNamespace(name="alice", id=7, url="/user/alice/", escaped_name="alice")


def options_for(size: Size) -> dict:
    """Instance type 1 in the group that grants it (group-1 when there is one), with the
    image that `everyone` grants."""
    return {"group": f"group-{1 % size.groups}", "instance_type": "it-1", "image": "img-0"}


def equivalent_profiles(size: Size, chosen_override: dict) -> list[dict]:
    """One profile per instance type, with an image each, as a KubeSpawner hub would list
    them; the chosen one (`it-1`) carries the settings our start applies."""
    profiles = []
    for i in range(size.profiles):
        spec = instance_type(i)["spec"]
        override = {"cpu_limit": float(spec["limits.cpu"]), "mem_limit": spec["limits.memory"],
                    "cpu_guarantee": float(spec["requests.cpu"]),
                    "mem_guarantee": spec["requests.memory"],
                    "node_selector": dict(spec["nodeSelector"]),
                    "image": image(i)["spec"]["url"]}
        if "limits.gpu" in spec:
            override["extra_resource_limits"] = {"nvidia.com/gpu": "1"}
            override["tolerations"] = list(spec["tolerations"])
        profiles.append({"display_name": spec["displayName"], "slug": f"it-{i}",
                         "description": spec["description"], "kubespawner_override": override})
    profiles[1 % size.profiles]["kubespawner_override"] = chosen_override
    profiles[0]["default"] = True
    return profiles


def kubespawner(profiles: list[dict]) -> KubeSpawner:
    return KubeSpawner(_mock=True, user=USER, namespace=NAMESPACE, profile_list=profiles,
                       slug_scheme="escape", log=QUIET)


class PrimeHubFormattingAll(PrimeHubSpawner):
    """PrimeHubSpawner formatting every string of the pod as KubeSpawner does (ours skips
    the strings without a brace): what our start costs apart from that saving."""
    _expand_user_properties = KubeSpawner._expand_user_properties


def primehub(entitlements: UserEntitlements, cls=PrimeHubSpawner) -> PrimeHubSpawner:
    spawner = cls(_mock=True, user=USER, namespace=NAMESPACE, log=QUIET)
    spawner.handler = Handler()
    return spawner


def claim_names(catalog, entitlements: UserEntitlements) -> list[str]:
    """The dataset and group claims that PrimeHub's controllers make for this catalog."""
    return ([f"dataset-{d.volume_name}" for d in catalog.datasets.values() if d.type == "pv"]
            + [f"project-{g.name}" for g in entitlements.groups])


def claim_watch(catalog, entitlements: UserEntitlements) -> LoadedWatch:
    """The spawner's shared claim watch, listed: every claim exists."""
    return LoadedWatch({f"{NAMESPACE}/{name}": {"metadata": {"name": name,
                                                             "namespace": NAMESPACE}}
                        for name in claim_names(catalog, entitlements)})


class ClaimsApi:
    """The API server's answers to a start's check of its dataset and group claims (the
    I/O edge), should the claim watch lack one: every claim exists. A few are read by name;
    many are listed once, and the list's body is decoded inside the start, as the real one
    is."""

    def __init__(self, catalog, entitlements: UserEntitlements):
        names = claim_names(catalog, entitlements)
        self.body = json.dumps({"kind": "PersistentVolumeClaimList", "items": [
            {"metadata": {"name": name, "namespace": NAMESPACE},
             "spec": {"accessModes": ["ReadWriteMany"], "volumeName": name},
             "status": {"phase": "Bound"}} for name in names]}).encode()

    async def read_namespaced_persistent_volume_claim(self, name, namespace, **kwargs):
        return {"metadata": {"name": name, "namespace": namespace}}

    async def list_namespaced_persistent_volume_claim(self, namespace, **kwargs):
        return self

    status = 200

    async def read(self) -> bytes:
        return self.body


async def load_auth_state(spawner: PrimeHubSpawner, entitlements: UserEntitlements) -> None:
    await spawner.run_auth_state_hook({AUTH_STATE_KEY: entitlements.to_json()})


async def our_start(spawner: PrimeHubSpawner, options: dict, auth_state: dict) -> dict:
    # JupyterHub hands every start the auth_state that refresh_pre_spawn has just re-read.
    fresh = dict(auth_state[AUTH_STATE_KEY], fetched_at=time.time())
    await spawner.run_auth_state_hook({**auth_state, AUTH_STATE_KEY: fresh})
    spawner.user_options = dict(options)
    spawner._ticket = uuid.uuid4().hex
    try:
        await spawner.load_user_options()
        return await spawner.get_pod_manifest()
    finally:
        spawner._reservations.release(spawner._ticket)


async def their_start(spawner: KubeSpawner) -> dict:
    await spawner.run_auth_state_hook({"access_token": "t", "refresh_token": "r"})
    spawner.user_options = {"profile": "it-1"}
    await spawner.load_user_options()
    return await spawner.get_pod_manifest()


def settings_of(spawner) -> dict:
    """A copy of the spawner's settings (its configurable traits)."""
    return {name: copy.deepcopy(getattr(spawner, name))
            for name in spawner.trait_names(config=True)}


def pod_differences(ours: object, theirs: object, path: str = "") -> list[str]:
    if isinstance(ours, dict) and isinstance(theirs, dict):
        found = []
        for key in sorted(set(ours) | set(theirs)):
            found += pod_differences(ours.get(key), theirs.get(key), f"{path}.{key}")
        return found
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        return [d for i, (a, b) in enumerate(zip(ours, theirs))
                for d in pod_differences(a, b, f"{path}[{i}]")]
    return [] if ours == theirs else [path or "."]


# ---- timing -------------------------------------------------------------------------------

@dataclass
class Row:
    size: str
    case: str
    samples: list[float]
    baseline: str  # the row this one is compared with
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p90(self) -> float:
        ordered = sorted(self.samples)
        return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


KS_RENDER, KS_CACHED, OUR_PAGE, OUR_LISTING = (
    "KubeSpawner: full render", "KubeSpawner: cached string", "PrimeHub: our page",
    "PrimeHub: our page + listing CRs per request")
KS_START, OUR_START, OUR_START_ALL = (
    "KubeSpawner: start, equivalent profile", "PrimeHub: start",
    "PrimeHub: start, formatting every string")


async def measure(size: Size, rounds: int, budget: float) -> tuple[list[Row], dict]:
    bodies = {kind: list_body(kind, n) for kind, n in counts(size).items()}
    cache = CatalogCache(api=None, namespace=NAMESPACE, log=QUIET)
    for kind, body in bodies.items():
        cache._replace_all(kind, json.loads(body)["items"])
    # The shared cache of this loop and namespace, as the spawner finds it: already listed.
    crd_cache._caches[(asyncio.get_running_loop(), NAMESPACE)] = cache
    KubeSpawner.reflectors[("pods", NAMESPACE)] = LoadedWatch(running_pods(size))
    entitlements = entitlements_for(size)
    KubeSpawner.reflectors[("persistentvolumeclaims", NAMESPACE)] = claim_watch(
        cache.catalog, entitlements)
    auth_state = {"access_token": "t", "refresh_token": "r",
                  AUTH_STATE_KEY: entitlements.to_json()}

    page_spawner = primehub(entitlements)
    await load_auth_state(page_spawner, entitlements)
    start_spawner = primehub(entitlements)
    start_spawner.api = ClaimsApi(cache.catalog, entitlements)
    await load_auth_state(start_spawner, entitlements)
    all_spawner = primehub(entitlements, PrimeHubFormattingAll)
    all_spawner.api = start_spawner.api
    await load_auth_state(all_spawner, entitlements)
    # The settings our start changes are the equivalent profile's overrides.
    configured = settings_of(start_spawner)
    ours_pod = await our_start(start_spawner, options_for(size), auth_state)
    chosen = {key: value for key, value in settings_of(start_spawner).items()
              if value != configured[key]}
    profiles = equivalent_profiles(size, chosen)
    render_ks = kubespawner(profiles)
    cached_ks = kubespawner(profiles)
    await cached_ks.get_options_form()  # a static profile_list is rendered once, here
    start_ks = kubespawner(profiles)
    theirs_pod = await their_start(start_ks)
    # Its serializer only: a whole ApiClient would open an HTTP session.
    serialize = object.__new__(ApiClient).sanitize_for_serialization
    all_pod = await our_start(all_spawner, options_for(size), auth_state)
    differences = (pod_differences(serialize(ours_pod), serialize(theirs_pod))
                   + pod_differences(serialize(all_pod), serialize(theirs_pod)))
    html = await page_spawner.get_options_form()
    ks_html = render_ks._render_options_form(profiles)

    async def ks_render():
        render_ks._render_options_form(profiles)

    async def ks_cached():
        await cached_ks.get_options_form()

    async def our_page():
        await page_spawner.get_options_form()

    async def our_listing():
        list_and_parse(bodies)
        await page_spawner.get_options_form()

    async def ks_start():
        await their_start(start_ks)

    async def start():
        await our_start(start_spawner, options_for(size), auth_state)

    async def start_all():
        await our_start(all_spawner, options_for(size), auth_state)

    cases = {KS_RENDER: ks_render, KS_CACHED: ks_cached, OUR_PAGE: our_page,
             OUR_LISTING: our_listing, KS_START: ks_start, OUR_START: start,
             OUR_START_ALL: start_all}
    samples: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    # What exists now lives as long as the run: out of the collector's way, so that a
    # collection costs what this round left behind, not the whole hub's heap.
    gc.collect()
    gc.freeze()
    began = time.perf_counter()
    for n in range(rounds):
        # Interleaved, each round starting one case later, so that no case always runs
        # right after the same other one.
        gc.collect()
        for name in names[n % len(names):] + names[:n % len(names)]:
            t0 = time.perf_counter()
            await cases[name]()
            samples[name].append((time.perf_counter() - t0) * 1000)
        if n >= 4 and time.perf_counter() - began > budget:
            break
    gc.unfreeze()
    crd_cache._caches.pop((asyncio.get_running_loop(), NAMESPACE), None)
    KubeSpawner.reflectors.pop(("pods", NAMESPACE), None)
    KubeSpawner.reflectors.pop(("persistentvolumeclaims", NAMESPACE), None)
    rows = [Row(size.name, KS_RENDER, samples[KS_RENDER], KS_RENDER,
                f"{size.profiles:,} profiles, {len(ks_html) / 1024:,.0f} KiB"),
            Row(size.name, KS_CACHED, samples[KS_CACHED], KS_RENDER),
            Row(size.name, OUR_PAGE, samples[OUR_PAGE], KS_RENDER,
                f"{size.groups} groups, {len(html) / 1024:,.0f} KiB"),
            Row(size.name, OUR_LISTING, samples[OUR_LISTING], KS_RENDER,
                f"{sum(counts(size).values()):,} CRs"),
            Row(size.name, KS_START, samples[KS_START], KS_START),
            Row(size.name, OUR_START, samples[OUR_START], KS_START,
                f"same pod, {len(ours_pod.spec.volumes or ()):,} volumes" if not differences else
                f"pods differ at {', '.join(differences[:3])}"),
            Row(size.name, OUR_START_ALL, samples[OUR_START_ALL], KS_START,
                "our checks and pod rules alone")]
    return rows, {"rounds": len(samples[OUR_PAGE])}


# ---- memory -------------------------------------------------------------------------------

def held(build) -> tuple[int, object]:
    """Bytes still allocated after `build()` returns, counting only what it keeps."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = build()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before, kept


def catalog_memory(total: int) -> tuple[int, int, int]:
    """(bytes held, objects, peak bytes while listing) of the watch cache for `total`
    custom resources, a quarter instance types, a quarter images and half datasets,
    parsed and served as a catalog."""
    bodies = {"InstanceType": list_body("InstanceType", total // 4),
              "Image": list_body("Image", total // 4),
              "Dataset": list_body("Dataset", total - 2 * (total // 4))}
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    cache = CatalogCache(api=None, namespace=NAMESPACE, log=QUIET)
    for kind, body in bodies.items():
        # Decoded inside the measure, so that strings the entries share with the listed
        # objects count; the listed objects themselves are dropped, as the watch drops them.
        cache._replace_all(kind, json.loads(body)["items"])
    catalog = cache.catalog
    gc.collect()
    now, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return (now - before, len(catalog.instance_types) + len(catalog.images)
            + len(catalog.datasets), peak - before)


async def entitlements_memory(size: Size) -> dict:
    entitlements = entitlements_for(size)
    text = json.dumps(entitlements.to_json())
    in_memory, kept = held(lambda: UserEntitlements.from_json(json.loads(text)))
    roles = sum(len(g.roles) for g in kept.groups)
    # What a user's spawner holds once it has shown a page (caches of the page code
    # included, whatever they are), after another user's page warmed the shared ones.
    bodies = {kind: list_body(kind, n) for kind, n in counts(size).items()}
    cache = CatalogCache(api=None, namespace=NAMESPACE, log=QUIET)
    for kind, body in bodies.items():
        cache._replace_all(kind, json.loads(body)["items"])
    crd_cache._caches[(asyncio.get_running_loop(), NAMESPACE)] = cache
    KubeSpawner.reflectors[("pods", NAMESPACE)] = LoadedWatch(running_pods(size))
    warm = primehub(entitlements)
    await load_auth_state(warm, entitlements)
    await warm.get_options_form()
    spawner = primehub(entitlements)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    # JupyterHub decrypts and decodes auth_state for each request: decoded here, so that
    # every string the spawner keeps counts.
    await spawner.run_auth_state_hook({AUTH_STATE_KEY: json.loads(text)})
    await spawner.get_options_form()
    gc.collect()
    after_page = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    crd_cache._caches.pop((asyncio.get_running_loop(), NAMESPACE), None)
    KubeSpawner.reflectors.pop(("pods", NAMESPACE), None)
    return {"groups": len(kept.groups), "roles": roles, "in_memory": in_memory,
            "auth_state": len(text), "after_page": after_page}


# ---- report -------------------------------------------------------------------------------

def ratio(row: Row, rows: list[Row]) -> float:
    base = next(r for r in rows if r.size == row.size and r.case == row.baseline)
    return row.median / base.median


def verdicts(rows: list[Row], memory: tuple[int, int]) -> list[tuple[str, str, bool]]:
    def get(size, case):
        return next(r for r in rows if r.size == size and r.case == case)

    page = ratio(get("large", OUR_PAGE), rows)
    listing = get("large", OUR_LISTING).median / get("large", OUR_PAGE).median
    # Judged with every string formatted, as KubeSpawner does: what our checks and pod
    # rules cost, not hidden by what skipping the formatting saves.
    starts = {s: ratio(get(s, OUR_START_ALL), rows) for s in ("small", "large")}
    mb = memory[0] / 1e6
    return [
        ("our page ≤ 1.0× KubeSpawner's full render (large)", f"{page:.2f}×", page <= 1.0),
        ("listing the CRs per request ≥ 10× our page (large)", f"{listing:.1f}×", listing >= 10),
        ("start ≤ 1.1× KubeSpawner's start, formatting every string (small, large)",
         f"{starts['small']:.2f}×, {starts['large']:.2f}×", max(starts.values()) <= 1.1),
        (f"watch cache for {memory[1]:,} CRs ≤ +{TARGET_MB} MB",
         f"{mb:.1f} MB", mb <= TARGET_MB),
    ]


def print_plain(rows, checks, memory, users, meta):
    print(f"rounds: small {meta['small']['rounds']}, large {meta['large']['rounds']} "
          "(interleaved); times in ms")
    print(f"{'size':6} {'case':46} {'median':>9} {'p90':>9} {'ratio':>7}  note")
    for row in rows:
        print(f"{row.size:6} {row.case:46} {row.median:9.2f} {row.p90:9.2f} "
              f"{ratio(row, rows):6.2f}×  {row.note}")
    print("ratio: to KubeSpawner's full render (page rows) or its start (start rows)")
    print(f"memory: watch cache for {memory[1]:,} CRs: {memory[0] / 1e6:.1f} MB held "
          f"({memory[0] / memory[1]:,.0f} bytes each), {memory[2] / 1e6:.1f} MB at the peak "
          "of the list")
    for name, data in users.items():
        print(f"memory: one user's entitlements ({name}: {data['groups']} groups, "
              f"{data['roles']:,} roles): {data['in_memory'] / 1024:,.0f} KiB in memory, "
              f"{data['auth_state'] / 1024:,.0f} KiB of auth_state JSON; "
              f"held by their spawner after a page: {data['after_page'] / 1024:,.0f} KiB")
    print("targets:")
    for what, value, met in checks:
        print(f"  {'MET    ' if met else 'NOT MET'}  {what}: {value}")


def print_markdown(rows, checks, memory, users, meta):
    print("| size | case | median ms | p90 ms | ratio | note |")
    print("|---|---|--:|--:|--:|---|")
    for row in rows:
        print(f"| {row.size} | {row.case} | {row.median:.2f} | {row.p90:.2f} | "
              f"{ratio(row, rows):.2f}× | {row.note} |")
    print()
    print(f"Ratio: to KubeSpawner's full render (page rows) or to its start (start rows); "
          f"rounds: small {meta['small']['rounds']}, large {meta['large']['rounds']}, "
          "interleaved.")
    print(f"Memory: the watch cache holds {memory[1]:,} CRs in {memory[0] / 1e6:.1f} MB "
          f"({memory[0] / memory[1]:,.0f} bytes each; {memory[2] / 1e6:.1f} MB at the peak of "
          "the list).", end=" ")
    data = users["large"]
    print(f"One user's entitlements ({data['groups']} groups, {data['roles']:,} roles): "
          f"{data['in_memory'] / 1024:,.0f} KiB in memory ({data['auth_state'] / 1024:,.0f} "
          f"KiB of auth_state JSON); their spawner holds {data['after_page'] / 1024:,.0f} KiB "
          "after a page.")
    print()
    for what, value, met in checks:
        print(f"- {'**met**' if met else '**not met**'}: {what}: {value}")


async def run(args) -> int:
    # KubeSpawner's kubeconfig and API clients are the I/O edge: none here.
    kubespawner_module.load_config = lambda **kwargs: None
    kubespawner_module.shared_client = lambda *args, **kwargs: None
    spawner_module.shared_client = lambda *args, **kwargs: None
    sizes = SMOKE if args.smoke else SIZES
    rows, meta = [], {}
    for size in sizes.values():
        rounds = size.rounds if not args.quick else max(3, size.rounds // 4)
        found, meta[size.name] = await measure(size, rounds, budget=5 if args.quick else 40)
        rows += found
    memory = catalog_memory(200 if args.smoke else MEMORY_CRS)
    users = {name: await entitlements_memory(size) for name, size in sizes.items()}
    checks = verdicts(rows, memory)
    (print_markdown if args.markdown else print_plain)(rows, checks, memory, users, meta)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--markdown", action="store_true", help="print the README's table")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, two rounds")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
