"""The shared PersistentVolumeClaim watch (primehub_spawner.spawner): started once for the
hub, only when the API server says the hub may list and watch claims; a start reads the
claims it lacks by name. The API server is a double here, at the I/O edge; the real
stack runs the watch with the hub's own credential (tests/stack/test_pending_reasons.py).
"""
from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

import kubespawner.spawner
import pytest
from kubernetes_asyncio.client.rest import ApiException

import primehub_spawner.spawner as spawner_module
from primehub_spawner.spawner import ClaimReflector, PrimeHubSpawner

NAMESPACE = "hub"
KEY = ("persistentvolumeclaims", NAMESPACE)
ALICE = SimpleNamespace(name="alice", id=1, url="/user/alice/")


class Authorization:
    """The API server's answers to SelfSubjectAccessReviews: `denied` verbs are refused;
    with `down`, every review fails."""

    def __init__(self, denied=(), down=False):
        self.denied, self.down, self.asked = set(denied), down, []

    async def create_self_subject_access_review(self, body, **kwargs):
        attributes = body["spec"]["resourceAttributes"]
        self.asked.append((attributes["verb"], attributes["resource"], attributes["namespace"]))
        if self.down:
            raise ApiException(status=503, reason="Service Unavailable")
        return SimpleNamespace(status=SimpleNamespace(
            allowed=attributes["verb"] not in self.denied))


class Listed:
    """A watch with its first list done (or failed, with `error`)."""

    def __init__(self, resources=None, error=None):
        self.first_load_future = asyncio.get_running_loop().create_future()
        if error is None:
            self.first_load_future.set_result(None)
        else:
            self.first_load_future.set_exception(error)
        self.resources = resources or {}
        self.stopped = False

    async def stop(self):
        self.stopped = True


@pytest.fixture
def edge(monkeypatch):
    """The API server's side: the authorization answers, and the watch KubeSpawner's
    `_start_reflector` would make (registered as KubeSpawner does, then awaited)."""
    state = SimpleNamespace(authorization=Authorization(), started=[], fail_start=None)
    monkeypatch.setattr(kubespawner.spawner, "load_config", lambda **kwargs: None)
    monkeypatch.setattr(kubespawner.spawner, "shared_client", lambda *args, **kwargs: None)
    monkeypatch.setattr(spawner_module, "shared_catalog_cache",
                        lambda *args, **kwargs: SimpleNamespace())
    monkeypatch.setattr(spawner_module, "shared_client",
                        lambda kind, *args, **kwargs: state.authorization)

    async def start_reflector(self, kind, reflector_class, **kwargs):
        state.started.append((kind, reflector_class))
        if state.fail_start is not None:
            failed = Listed(error=state.fail_start)
            self.reflectors[self._get_reflector_key(kind)] = failed
            state.failed = failed
            raise state.fail_start
        self.reflectors[self._get_reflector_key(kind)] = Listed(
            {f"{NAMESPACE}/dataset-team-data": {}})

    monkeypatch.setattr(PrimeHubSpawner, "_start_reflector", start_reflector)
    monkeypatch.setattr(PrimeHubSpawner, "_claim_watch_start", None)
    monkeypatch.setattr(PrimeHubSpawner, "_claim_watch_refused", False)
    monkeypatch.delitem(PrimeHubSpawner.reflectors, KEY, raising=False)
    yield state
    PrimeHubSpawner.reflectors.pop(KEY, None)


def spawner(**settings) -> PrimeHubSpawner:
    return PrimeHubSpawner(_mock=True, user=ALICE, namespace=NAMESPACE, **settings)


async def settled(spawner: PrimeHubSpawner):
    """What `_claim_watch` gives once the watch's start in the background has ended."""
    assert spawner._claim_watch() is None  # not listed yet: the start reads by name
    await PrimeHubSpawner._claim_watch_start
    return spawner._claim_watch()


async def test_a_hub_that_may_list_and_watch_claims_keeps_one_watch(edge):
    known = await settled(spawner())
    assert known == {f"{NAMESPACE}/dataset-team-data": {}}
    assert edge.authorization.asked == [
        ("list", "persistentvolumeclaims", NAMESPACE),
        ("watch", "persistentvolumeclaims", NAMESPACE)]
    assert edge.started == [("persistentvolumeclaims", ClaimReflector)]
    assert spawner()._claim_watch() is known  # every spawner of the hub shares it
    assert len(edge.started) == 1


async def test_a_hub_that_may_not_watch_claims_starts_no_watch_and_says_so_once(
        edge, caplog):
    edge.authorization.denied = {"watch"}
    with caplog.at_level(logging.WARNING):
        assert await settled(spawner()) is None
        assert spawner()._claim_watch() is None
    assert edge.started == []
    assert len(edge.authorization.asked) == 2  # asked once for the hub, not at each start
    warnings = [r.getMessage() for r in caplog.records if "persistentvolumeclaims" in
                r.getMessage()]
    assert warnings == [(
        "The hub may not watch persistentvolumeclaims in namespace hub, so it keeps no "
        "watch of them: every start reads its dataset and group claims by name. Grant get, "
        "list and watch (crds/rbac.yaml) and restart the hub.")]


async def test_an_unanswered_question_is_asked_again_at_the_next_start(edge, caplog):
    edge.authorization.down = True
    with caplog.at_level(logging.WARNING):
        assert await settled(spawner()) is None
    assert "The PersistentVolumeClaim watch did not start (ApiException)" in caplog.text
    edge.authorization.down = False
    assert await settled(spawner()) == {f"{NAMESPACE}/dataset-team-data": {}}


async def test_a_watch_whose_first_list_failed_is_dropped_and_started_again(edge):
    edge.fail_start = ApiException(status=500, reason="Internal Server Error")
    assert await settled(spawner()) is None
    assert KEY not in PrimeHubSpawner.reflectors and edge.failed.stopped
    edge.fail_start = None
    assert await settled(spawner()) == {f"{NAMESPACE}/dataset-team-data": {}}
    assert len(edge.started) == 2


async def test_with_user_namespaces_no_watch_is_started(edge):
    assert spawner(enable_user_namespaces=True)._claim_watch() is None
    assert PrimeHubSpawner._claim_watch_start is None and edge.authorization.asked == []
