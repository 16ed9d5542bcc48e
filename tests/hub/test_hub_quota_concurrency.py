"""Quotas under concurrency (DESIGN §2.1 quotas): starts fired at once through the REST API.

The double of the Kubernetes API shows a created pod in the pod watch only after a lag, as
a real watch does, so a quota check that read the watch alone would let every start of a
burst through. Each start reserves what it needs when it passes the check; the others
count it until its pod is in the watch, and a start that fails gives its share back.
"""
import asyncio

import kubespawner.spawner as kubespawner_module
import pytest
from doubles import NAMESPACE, FakePodReflector, running_pod
from kubernetes_asyncio.client.rest import ApiException
from kubespawner import KubeSpawner

from primehub_spawner.labels import escape_label
from primehub_spawner.spawner import PrimeHubSpawner

WATCH_LAG = 0.5  # seconds before a created pod shows in the pod watch
CPU_1 = {"instance_type": "cpu-1"}  # everyone's instance type: 1 CPU


def hub_config(c, edge):
    c.JupyterHub.allow_named_servers = True
    c.PrimeHubSpawner.quota_wait_timeout = 2


def crowd(edge, users: int, **quota) -> list[str]:
    """Group `crowd` with the given quota attributes, and `users` members u00, u01, ..."""
    edge.keycloak.add_group("crowd", displayName="Crowd", **quota)
    names = [f"u{i:02d}" for i in range(users)]
    for name in names:
        edge.keycloak.add_user(name, ["crowd"])
    return names


def started(responses) -> list[int]:
    return [i for i, r in enumerate(responses) if r.status_code in (201, 202)]


def pvc_owners(edge) -> set[str]:
    """The users a PVC was asked for (home volumes are named claim-<user>...)."""
    return {m["metadata"]["name"].removeprefix("claim-").split("-")[0]
            for kind, m in edge.api.created if kind == "pvc"}


@pytest.fixture
def lagging_watch(edge):
    edge.api.watch_lag = WATCH_LAG


@pytest.mark.parametrize("users", [pytest.param(16, id="16-users")])
async def test_a_burst_of_starts_fills_the_project_quota_and_no_more(
        hub, edge, login_as, api, wait_until, lagging_watch, users):
    names = crowd(edge, users, **{"project-quota-cpu": "2"})
    for name in names:
        await login_as(name)

    responses = await asyncio.gather(*(
        api(name, "POST", f"/users/{name}/server", json={"group": "crowd", **CPU_1})
        for name in names))

    ran = started(responses)
    assert len(ran) == 2, [r.status_code for r in responses]
    for i, r in enumerate(responses):
        if i not in ran:
            assert r.status_code == 403, r.text
            assert r.json()["message"] == ("This needs 1 CPU, but group Crowd already uses 2 "
                                           "of its 2 CPU quota.")
    winners = {names[i] for i in ran}
    assert {p["metadata"]["labels"]["primehub.io/user"] for p in edge.api.created_pods()} \
        == {escape_label(name) for name in winners}
    assert len(edge.api.created_pods()) == 2
    assert pvc_owners(edge) == winners
    await wait_until(lambda: all(hub.users[n].spawner.ready for n in winners),
                     what="both servers ready")
    assert len(PrimeHubSpawner._reservations) == 0


@pytest.mark.parametrize("user_quota, servers, expected", [
    pytest.param("1", 2, 1, id="quota-1-two-servers"),
    pytest.param("2", 3, 2, id="quota-2-three-servers"),
])
async def test_named_servers_of_one_user_share_the_user_quota(
        hub, edge, login_as, api, wait_until, lagging_watch, user_quota, servers, expected):
    [name] = crowd(edge, 1, **{"quota-cpu": user_quota})
    await login_as(name)

    responses = await asyncio.gather(*(
        api(name, "POST", f"/users/{name}/servers/s{i}", json={"group": "crowd", **CPU_1})
        for i in range(servers)))

    assert len(started(responses)) == expected, [r.status_code for r in responses]
    for i, r in enumerate(responses):
        if i not in started(responses):
            assert r.status_code == 403, r.text
            assert r.json()["message"] == (
                f"This needs 1 CPU, but your share of group Crowd already uses {user_quota} "
                f"of its {user_quota} CPU quota.")
    assert len(edge.api.created_pods()) == expected
    await wait_until(lambda: len(edge.api.pods) == expected, what="the pods in the watch")
    assert len(PrimeHubSpawner._reservations) == 0


async def test_a_failed_start_gives_its_reservation_back(
        hub, edge, login_as, api, wait_until, lagging_watch, monkeypatch):
    first, failing, third = crowd(edge, 3, **{"project-quota-cpu": "2"})
    for name in (first, failing, third):
        await login_as(name)
    r = await api(first, "POST", f"/users/{first}/server", json={"group": "crowd", **CPU_1})
    assert r.status_code in (201, 202), r.text

    create = edge.api.create_namespaced_pod

    async def refuse(namespace, body, **kwargs):
        raise ApiException(status=422, reason="Unprocessable Entity")

    monkeypatch.setattr(edge.api, "create_namespaced_pod", refuse)
    r = await api(failing, "POST", f"/users/{failing}/server", json={"group": "crowd", **CPU_1})
    assert r.status_code >= 400, r.text
    assert not hub.users[failing].spawner.active

    monkeypatch.setattr(edge.api, "create_namespaced_pod", create)
    r = await api(third, "POST", f"/users/{third}/server", json={"group": "crowd", **CPU_1})
    assert r.status_code in (201, 202), r.text
    await wait_until(lambda: hub.users[third].spawner.ready, what="the third server ready")
    assert len(PrimeHubSpawner._reservations) == 0


async def test_an_interrupted_start_gives_its_reservation_back(
        hub, edge, login_as, api, wait_until, monkeypatch):
    first, second = crowd(edge, 2, **{"project-quota-cpu": "1"})
    for name in (first, second):
        await login_as(name)
    create = edge.api.create_namespaced_pod

    async def hang(namespace, body, **kwargs):
        # The API server holds this create until the client gives up. JupyterHub 6 cancels
        # the start when the user stops it; JupyterHub 5.5's DELETE does not reach a start
        # waiting in an API call, which then ends when the call fails. Either way the
        # reservation must be given back.
        await asyncio.sleep(2)
        raise ApiException(status=504, reason="Gateway Timeout")

    monkeypatch.setattr(edge.api, "create_namespaced_pod", hang)
    hanging = asyncio.ensure_future(
        api(first, "POST", f"/users/{first}/server", json={"group": "crowd", **CPU_1}))
    await wait_until(lambda: len(PrimeHubSpawner._reservations) == 1, what="the reservation")
    r = await api(first, "DELETE", f"/users/{first}/server")  # the user gives up waiting
    assert r.status_code in (202, 204), r.text
    await wait_until(lambda: len(PrimeHubSpawner._reservations) == 0,
                     what="the reservation given back")
    # JupyterHub 6 answers the interrupted POST; 5.5 leaves it unanswered.
    hanging.cancel()

    monkeypatch.setattr(edge.api, "create_namespaced_pod", create)
    r = await api(second, "POST", f"/users/{second}/server", json={"group": "crowd", **CPU_1})
    assert r.status_code in (201, 202), r.text
    await wait_until(lambda: hub.users[second].spawner.ready, what="the second server ready")


# ---- the pod watch's first list (after a hub start) -------------------------------------

def _unlisted_watch(edge, monkeypatch) -> FakePodReflector:
    """A pod watch that has not listed the pods yet, in place of the loaded one."""
    reflector = FakePodReflector(edge.api)
    reflector.first_load_future = asyncio.get_running_loop().create_future()
    monkeypatch.setitem(KubeSpawner.reflectors, ("pods", NAMESPACE), reflector)
    return reflector


async def test_a_start_waits_for_the_first_list_of_the_running_servers(
        hub, edge, login_as, api, monkeypatch):
    [name] = crowd(edge, 1, **{"project-quota-cpu": "2"})
    await login_as(name)
    watch = _unlisted_watch(edge, monkeypatch)

    start = asyncio.ensure_future(
        api(name, "POST", f"/users/{name}/server", json={"group": "crowd", **CPU_1}))
    await asyncio.sleep(0.3)
    assert not start.done()
    # The first list shows two servers that ran before the hub restarted.
    for i in range(2):
        edge.api.pods[f"{NAMESPACE}/jupyter-old-{i}"] = running_pod(
            f"jupyter-old-{i}", f"old-{i}", "crowd", {"cpu": "1"})
    watch.first_load_future.set_result(None)

    r = await start
    assert r.status_code == 403, r.text
    assert r.json()["message"] == ("This needs 1 CPU, but group Crowd already uses 2 of its "
                                   "2 CPU quota.")
    assert edge.api.created == []


async def test_a_start_is_refused_while_the_running_servers_cannot_be_listed(
        hub, edge, login_as, api, monkeypatch):
    [name] = crowd(edge, 1, **{"project-quota-cpu": "2"})
    await login_as(name)
    watch = _unlisted_watch(edge, monkeypatch)
    # It lists them only after the start's 2 seconds (KubeSpawner's stop of the refused
    # server waits for that list too).
    asyncio.get_running_loop().call_later(3, watch.first_load_future.set_result, None)

    r = await api(name, "POST", f"/users/{name}/server", json={"group": "crowd", **CPU_1})
    assert r.status_code == 503, r.text
    assert r.json()["message"] == (
        "The running servers could not be listed from Kubernetes, so the quota cannot be "
        "checked and the server was not started. Try again in a minute.")
    assert edge.api.created == []


async def test_a_pod_watch_whose_first_list_failed_lists_again(
        hub, edge, login_as, api, monkeypatch):
    names = crowd(edge, 3, **{"project-quota-cpu": "2"})
    for name in names:
        await login_as(name)
    failed = _unlisted_watch(edge, monkeypatch)
    failed.first_load_future.set_exception(ApiException(status=500, reason="etcd timeout"))
    edge.api.pods[f"{NAMESPACE}/jupyter-old"] = running_pod(
        "jupyter-old", "old", "crowd", {"cpu": "2"})
    lists = []

    class ListingAgain(FakePodReflector):
        """KubeSpawner's new pod watch: lists the pods there are now."""

        def __init__(self, **kwargs):
            super().__init__(edge.api)
            lists.append(self)

        async def start(self):
            pass

    monkeypatch.setattr(kubespawner_module, "PodReflector", ListingAgain)

    responses = await asyncio.gather(*(
        api(name, "POST", f"/users/{name}/server", json={"group": "crowd", **CPU_1})
        for name in names))

    assert len(lists) == 1  # one new list, shared by the starts that waited for it
    for r in responses:
        assert r.status_code == 403, r.text
        assert r.json()["message"] == ("This needs 1 CPU, but group Crowd already uses 2 of "
                                       "its 2 CPU quota.")
    assert edge.api.created == []
