"""The watch cache's bookkeeping, with list results and watch events handed to it directly
(the API server is the I/O edge; the real watch runs in the stack tests)."""
from __future__ import annotations

import logging

import pytest

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
