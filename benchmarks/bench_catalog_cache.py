"""The watch cache under churn: cost of an event, of the first catalog read after it, and
of a read with nothing new (what every menu and start pays).

Feeds a CatalogCache (no API server: the list and the events are handed to it directly, as
its watch loop would) 3,000 objects, then 1,000 modification events, one malformed.

    .venv/bin/python benchmarks/bench_catalog_cache.py
"""
from __future__ import annotations

import logging
import time

from primehub_spawner.crd_cache import CatalogCache


def obj(kind, i, version):
    spec = {"InstanceType": {"limits.cpu": 1 + i % 8, "limits.memory": "2G"},
            "Image": {"type": "cpu", "url": f"registry.example/img:{i}"},
            "Dataset": {"type": "pv", "volumeName": f"v{i}"}}[kind]
    return {"metadata": {"name": f"{kind.lower()}-{i}", "resourceVersion": str(version)}, "spec": spec}


def main():
    logging.basicConfig(level=logging.WARNING, format="  log: %(message)s")
    cache = CatalogCache(api=None, namespace="hub", log=logging.getLogger("cache"))
    start = time.perf_counter()
    for kind in ("InstanceType", "Image", "Dataset"):
        cache._replace_all(kind, [obj(kind, i, 1) for i in range(1000)])
    listed = time.perf_counter() - start
    start = time.perf_counter()
    catalog = cache.catalog
    first = time.perf_counter() - start
    print(f"initial list of 3,000 objects parsed in {listed * 1000:.0f} ms; first catalog read {first * 1000:.1f} ms "
          f"({len(catalog.instance_types)} + {len(catalog.images)} + {len(catalog.datasets)} entries)")

    start = time.perf_counter()
    for n in range(1000):
        event = obj("Image", n, 2)
        if n == 500:
            event["spec"]["type"] = "quantum"  # malformed: logged once, left out
        cache._store("Image", event)
    per_event = (time.perf_counter() - start) / 1000
    start = time.perf_counter()
    _ = cache.catalog
    rebuild = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(10000):
        _ = cache.catalog
    cached = (time.perf_counter() - start) / 10000
    # The same version again (a watch re-list) is not parsed or logged again.
    cache._store("Image", obj("Image", 500, 2) | {"spec": {"type": "quantum"}})
    print(f"1,000 watch events: {per_event * 1e6:.0f} us each; next catalog read {rebuild * 1000:.1f} ms; "
          f"reads with nothing new {cached * 1e6:.2f} us each")
    print(f"images now offered: {len(cache.catalog.images)} (one malformed left out)")


if __name__ == "__main__":
    main()
