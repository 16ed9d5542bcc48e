"""The watch cache's bookkeeping, with list results and watch events handed to it directly
(the API server is the I/O edge; the real watch runs in the stack tests)."""
from __future__ import annotations

import asyncio
import json
import logging

import pytest

from primehub_spawner import crd_cache
from primehub_spawner.catalog import PLURALS
from primehub_spawner.crd_cache import CatalogCache


def image(name, version, **spec):
    return {"metadata": {"name": name, "resourceVersion": str(version)},
            "spec": {"type": "cpu", "url": f"example/{name}", **spec}}


@pytest.fixture
def cache():
    return CatalogCache(api=None, namespace="hub", log=logging.getLogger("test-cache"))


def test_list_then_events_keep_the_catalog_current(cache):
    cache._replace_all("Image", [image("a", 1), image("b", 1)])
    assert set(cache.catalog.images) == {"a", "b"}
    cache._store("Image", image("a", 2, displayName="Alpha"))
    assert cache.catalog.images["a"].display_name == "Alpha"
    cache._forget("Image", "b")
    assert set(cache.catalog.images) == {"a"}


def test_a_relist_drops_what_is_gone(cache):
    cache._replace_all("Image", [image("a", 1), image("b", 1)])
    cache._replace_all("Image", [image("b", 1)])
    assert set(cache.catalog.images) == {"b"}


def test_a_malformed_object_is_left_out_and_logged_once_per_version(cache, caplog):
    caplog.set_level(logging.WARNING, "test-cache")
    cache._replace_all("Image", [image("good", 1), image("bad", 1, type="quantum")])
    cache._replace_all("Image", [image("good", 1), image("bad", 1, type="quantum")])
    assert set(cache.catalog.images) == {"good"}
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "Image hub/bad" in lines[0] and "quantum" in lines[0]
    cache._store("Image", image("bad", 2))  # fixed: offered again
    assert set(cache.catalog.images) == {"good", "bad"}


def test_the_rejected_objects_and_their_reasons_follow_the_objects(cache):
    """What the admin's explain page shows as malformed."""
    cache._replace_all("Image", [image("good", 1), image("bad", 1, type="quantum")])
    assert [(r.kind, r.name) for r in cache.rejected] == [("Image", "bad")]
    assert "quantum" in cache.rejected[0].reason
    cache._store("Image", image("bad", 2))  # fixed
    assert cache.rejected == ()
    cache._store("Image", image("bad", 3, type="quantum"))
    cache._forget("Image", "bad")  # deleted
    assert cache.rejected == ()


def test_the_catalog_is_built_once_per_change(cache):
    cache._replace_all("Image", [image("a", 1)])
    first = cache.catalog
    assert cache.catalog is first
    cache._store("Image", image("a", 1))  # same version: nothing changes
    assert cache.catalog is first
    cache._store("Image", image("a", 2))
    assert cache.catalog is not first


async def test_loaded_only_after_every_kind_is_listed(cache):
    assert not await cache.wait_loaded(0.01)
    for kind in ("InstanceType", "Image", "Dataset"):
        cache._replace_all(kind, [])
    assert await cache.wait_loaded(0.01)


# ---- one bad object never stops the catalog (issue 8, item 1) -----------------------------

def instance_type(name, version=1, **spec):
    return {"kind": "InstanceType", "metadata": {"name": name, "resourceVersion": str(version)},
            "spec": {"limits.cpu": 1, "limits.memory": "1G", **spec}}


def choking_parser(real, name):
    """A parser that raises TypeError (not InvalidResource) for one object's first version."""
    def parse(obj):
        if obj["metadata"]["name"] == name and obj["metadata"]["resourceVersion"] == "1":
            raise TypeError("unhashable type: 'list' " + "x" * 500)
        return real(obj)
    return parse


@pytest.mark.parametrize("bad, logged", [
    pytest.param(instance_type("bad", **{"limits.memory": "9" * 400}), "limits.memory:",
                 id="memory-of-400-digits"),
    pytest.param(instance_type("bad", **{"limits.cpu": "9" * 400}), "limits.cpu:",
                 id="cpu-of-400-digits"),
    pytest.param(instance_type("bad", **{"limits.cpu": 10**400}), "limits.cpu:",
                 id="cpu-huge-integer"),
    pytest.param(instance_type("bad", **{"limits.gpu": "²"}), "limits.gpu must be a whole number",
                 id="gpu-superscript-two"),
    pytest.param(instance_type("bad", tolerations=[{"key": ["x"]}]), "tolerations[0].key",
                 id="toleration-key-list"),
    pytest.param({"metadata": {"name": "bad", "resourceVersion": "1"}, "spec": None},
                 "spec is missing", id="null-spec"),
    pytest.param({"metadata": {"name": "bad", "resourceVersion": "1", "annotations": ["x"]},
                  "spec": {}}, "metadata.annotations must be a mapping", id="annotations-list"),
    pytest.param({"metadata": {"name": ["bad"]}}, None, id="name-list"),
    pytest.param({"metadata": "bad"}, None, id="metadata-string"),
    pytest.param({"spec": {}}, None, id="no-metadata"),
    pytest.param("bad", None, id="not-a-mapping"),
    pytest.param(None, None, id="null-object"),
])
def test_a_bad_object_is_left_out_and_the_rest_is_served(cache, caplog, bad, logged):
    caplog.set_level(logging.WARNING, "test-cache")
    cache._replace_all("InstanceType", [instance_type("good"), bad])
    assert set(cache.catalog.instance_types) == {"good"}
    assert cache.loaded is False and cache._loaded["InstanceType"].is_set()
    lines = [r.getMessage() for r in caplog.records]
    if logged is None:  # no name to log it under; nothing an API server would send
        assert lines == []
    else:
        assert len(lines) == 1 and "InstanceType hub/bad" in lines[0] and logged in lines[0]


def test_a_parser_that_raises_anything_leaves_only_that_object_out(cache, caplog, monkeypatch):
    caplog.set_level(logging.WARNING, "test-cache")
    monkeypatch.setitem(crd_cache.PARSERS, "Image",
                        choking_parser(crd_cache.PARSERS["Image"], "chokes"))
    cache._replace_all("Image", [image("good", 1), image("chokes", 1)])
    cache._replace_all("Image", [image("good", 1), image("chokes", 1)])
    assert set(cache.catalog.images) == {"good"}
    [line] = [r.getMessage() for r in caplog.records]
    assert "Image hub/chokes: unexpected TypeError" in line
    assert len(line) < 200  # the exception's text is cut short
    cache._store("Image", image("chokes", 2))
    assert set(cache.catalog.images) == {"good", "chokes"}


class FakeCustomObjects:
    """The CustomObjectsApi edge: one list per plural, then a watch fed from a queue."""

    def __init__(self, items: dict[str, list]):
        self.items = items
        self.events = {plural: asyncio.Queue() for plural in PLURALS.values()}
        self.lists = 0

    async def list_namespaced_custom_object(self, group, version, namespace, plural,
                                            watch=False, **kwargs):
        if watch:
            return FakeWatchResponse(self.events[plural])
        self.lists += 1
        return {"metadata": {"resourceVersion": "1"}, "items": self.items.get(plural, [])}


class FakeWatchResponse:
    """What kubernetes_asyncio's Watch reads: one JSON event per line."""

    def __init__(self, queue: asyncio.Queue):
        self.content = self
        self.queue = queue

    async def readline(self) -> bytes:
        return json.dumps(await self.queue.get()).encode() + b"\n"

    def close(self):
        pass

    def release(self):
        pass


async def eventually(predicate, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_the_watch_goes_on_past_bad_objects(caplog, monkeypatch):
    caplog.set_level(logging.WARNING, "test-cache")
    monkeypatch.setitem(crd_cache.PARSERS, "Dataset",
                        choking_parser(crd_cache.PARSERS["Dataset"], "chokes"))
    pv = {"type": "pv", "volumeName": "v"}
    api = FakeCustomObjects({
        "instancetypes": [instance_type("good"),
                          instance_type("huge", **{"limits.memory": "9" * 400}),
                          instance_type("sup", **{"limits.gpu": "²"})],
        "images": [image("base", 1)],
        "datasets": [{"metadata": {"name": "chokes", "resourceVersion": "1"}, "spec": pv}],
    })
    cache = CatalogCache(api, "hub", log=logging.getLogger("test-cache"))
    cache.start()
    try:
        assert await cache.wait_loaded(5)
        assert set(cache.catalog.instance_types) == {"good"}
        assert set(cache.catalog.datasets) == set()
        # Later changes still arrive: a new type, a bad one fixed, a bad change, a deletion.
        api.events["instancetypes"].put_nowait(
            {"type": "ADDED", "object": instance_type("later", 2)})
        api.events["instancetypes"].put_nowait(
            {"type": "MODIFIED", "object": instance_type("sup", 3, **{"limits.gpu": 1, "gpuResourceName": "nvidia.com/gpu"})})
        api.events["datasets"].put_nowait({"type": "MODIFIED", "object": {
            "metadata": {"name": "chokes", "resourceVersion": "2"}, "spec": pv}})
        api.events["images"].put_nowait({"type": "MODIFIED", "object": image("base", 2, type="x")})
        api.events["images"].put_nowait({"type": "DELETED", "object": {"metadata": {}}})
        await eventually(lambda: set(cache.catalog.instance_types) == {"good", "later", "sup"}
                         and set(cache.catalog.datasets) == {"chokes"}
                         and not cache.catalog.images)
        assert cache.catalog.instance_types["sup"].gpu_limit == 1
    finally:
        await cache.stop()
    assert api.lists == 3  # one list per kind: no watch ever failed and re-listed
    lines = [r.getMessage() for r in caplog.records]
    assert not any("failed" in line for line in lines)
    assert sum("Leaving out" in line for line in lines) == 4  # huge, sup, chokes, base v2
