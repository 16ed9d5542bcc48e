"""One list-and-watch per custom resource kind per hub process, shared by every spawner.

I/O. `CatalogCache` keeps the InstanceType, Image and Dataset objects of one namespace up
to date with a watch per kind, and serves a parsed `Catalog` from memory: rendering a menu
or validating a start never calls the API server. Each object is parsed in its own guard: a
malformed one (or one a parser chokes on) is logged once per version, with the reason, and
left out, and the watch goes on. A watch that fails is re-listed with a capped backoff
forever: an API server that is down leaves the last known catalog in place and never stops
the hub.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from types import MappingProxyType

from kubernetes_asyncio import watch
from kubernetes_asyncio.client import ApiException

from .catalog import GROUP, PARSERS, PLURALS, VERSION, Catalog
from .check import Rejected, parse_object

_caches: dict[tuple, CatalogCache] = {}


def shared_catalog_cache(api, namespace: str, log: logging.Logger | None = None,
                         **kwargs) -> CatalogCache:
    """The process-wide cache for `namespace` on this event loop, started on first use."""
    key = (asyncio.get_running_loop(), namespace)
    cache = _caches.get(key)
    if cache is None:
        cache = _caches[key] = CatalogCache(api, namespace, log=log, **kwargs)
        cache.start()
    return cache


class CatalogCache:
    def __init__(self, api, namespace: str, *, log: logging.Logger | None = None,
                 request_timeout: float = 10, watch_timeout: int = 300,
                 max_backoff: float = 5):
        self.api = api  # a kubernetes_asyncio CustomObjectsApi
        self.namespace = namespace
        self.log = log or logging.getLogger(__name__)
        self.request_timeout = request_timeout
        self.watch_timeout = watch_timeout
        # Short: the catalog must follow again within seconds of the API server coming
        # back, and a re-list every few seconds while it is down costs nothing.
        self.max_backoff = max_backoff
        # kind -> name -> (resourceVersion, entry or None when rejected)
        self._parsed: dict[str, dict[str, tuple[str, object]]] = {kind: {} for kind in PARSERS}
        # kind -> name -> why it was rejected, for the admin's explain page
        self._reasons: dict[str, dict[str, str]] = {kind: {} for kind in PARSERS}
        self._loaded = {kind: asyncio.Event() for kind in PARSERS}
        self._snapshot: Catalog | None = None
        self._tasks: list[asyncio.Task] = []
        # kind -> the last watch failure, so that a failure repeating during backoff is
        # logged once.
        self._last_error: dict[str, str] = {}

    def start(self) -> None:
        for kind in PARSERS:
            self._tasks.append(asyncio.create_task(self._run(kind), name=f"watch-{kind}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    @property
    def loaded(self) -> bool:
        return all(event.is_set() for event in self._loaded.values())

    async def wait_loaded(self, timeout: float) -> bool:
        """Whether every kind has had its first list, waiting at most `timeout` seconds."""
        if all(e.is_set() for e in self._loaded.values()):
            return True  # every menu and start after the first: no tasks to make
        try:
            await asyncio.wait_for(
                asyncio.gather(*(e.wait() for e in self._loaded.values())), timeout)
        except TimeoutError:
            return False
        return True

    @property
    def catalog(self) -> Catalog:
        if self._snapshot is None:
            entries = {}
            for kind, objects in self._parsed.items():
                entries[kind] = MappingProxyType({name: entry for name, (_, entry)
                                                  in sorted(objects.items()) if entry is not None})
            self._snapshot = Catalog(instance_types=entries["InstanceType"],
                                     images=entries["Image"], datasets=entries["Dataset"])
        return self._snapshot

    @property
    def rejected(self) -> tuple[Rejected, ...]:
        """The objects left out of the catalog, each with the reason logged for it."""
        return tuple(sorted(Rejected(kind, name, reason)
                            for kind, reasons in self._reasons.items()
                            for name, reason in reasons.items()))

    # ---- keeping the objects --------------------------------------------------------------

    def _store(self, kind: str, obj: object) -> None:
        identity = _identity(obj)
        if identity is None:
            return
        name, version = identity
        known = self._parsed[kind].get(name)
        if known and known[0] == version:
            return
        entry, reason = parse_object(kind, obj)
        if reason is None:
            self._reasons[kind].pop(name, None)
        else:
            self.log.warning("Leaving out %s %s/%s: %s", kind, self.namespace, name, reason)
            self._reasons[kind][name] = reason
        self._parsed[kind][name] = (version, entry)
        self._snapshot = None

    def _forget(self, kind: str, name: str) -> None:
        self._reasons[kind].pop(name, None)
        if self._parsed[kind].pop(name, None) is not None:
            self._snapshot = None

    def _replace_all(self, kind: str, items: list) -> None:
        names = {identity[0] for identity in map(_identity, items) if identity}
        for gone in set(self._parsed[kind]) - names:
            self._forget(kind, gone)
        for item in items:
            self._store(kind, item)
        self._loaded[kind].set()

    # ---- the watch ------------------------------------------------------------------------

    async def _run(self, kind: str) -> None:
        plural = PLURALS[kind]
        delay = 0.5
        while True:
            try:
                listed = await self.api.list_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, plural,
                    _request_timeout=self.request_timeout)
                self._replace_all(kind, listed.get("items") or [])
                version = listed["metadata"]["resourceVersion"]
                self._last_error.pop(kind, None)
                delay = 0.5
                await self._watch(kind, plural, version)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - any failure: note it, back off, re-list
                reason = f"{e.status} {e.reason}" if isinstance(e, ApiException) else repr(e)
                if self._last_error.get(kind) != reason:
                    self.log.warning("Watching %s in %s failed (%s); retrying with backoff",
                                     plural, self.namespace, reason)
                self._last_error[kind] = reason
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff)

    async def _watch(self, kind: str, plural: str, version: str) -> None:
        w = watch.Watch()
        try:
            async with w.stream(self.api.list_namespaced_custom_object, GROUP, VERSION,
                                self.namespace, plural, resource_version=version,
                                timeout_seconds=self.watch_timeout,
                                _request_timeout=self.watch_timeout + 30) as stream:
                async for event in stream:
                    obj = event.get("raw_object") or event.get("object")
                    if event["type"] == "ERROR":
                        # 410 Gone and friends: start over from a fresh list.
                        raise RuntimeError(f"watch error: {obj}")
                    if not isinstance(obj, Mapping):
                        continue
                    if event["type"] == "DELETED":
                        identity = _identity(obj)
                        if identity:
                            self._forget(kind, identity[0])
                    else:
                        self._store(kind, obj)
        finally:
            w.stop()
            await w.close()


def _identity(obj: object) -> tuple[str, str] | None:
    """(name, resourceVersion) of a listed or watched object; None when it has no name (no
    API server sends one), so that not even such an object can stop the watch."""
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    name = meta.get("name") if isinstance(meta, Mapping) else None
    if not isinstance(name, str) or not name:
        return None
    return name, str(meta.get("resourceVersion", ""))
