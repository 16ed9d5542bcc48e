"""A pod the API server refuses: a sentence with its reason, and nothing this start made is
left (the real stack provokes a 403 with a ResourceQuota; here the API edge answers 422)."""
import json

import pytest
from kubernetes_asyncio.client.rest import ApiException

UNPROCESSABLE = json.dumps({"kind": "Status", "code": 422, "message": (
    'Pod "jupyter-alice" is invalid: spec.containers[0].volumeMounts[1].mountPath: '
    'Invalid value: "/project/research": must be unique')})


@pytest.fixture
def refusing_api(edge, monkeypatch):
    async def refuse(namespace, body, **kwargs):
        raise ApiException(status=422, reason="Unprocessable Entity") from None

    monkeypatch.setattr(edge.api, "create_namespaced_pod", refuse)
    return edge.api


@pytest.mark.parametrize("claim_before", [
    pytest.param(False, id="new-home-claim-undone"),
    pytest.param(True, id="existing-home-claim-kept"),
])
async def test_a_refused_pod_is_a_sentence_and_leaves_only_what_was_there(
        hub, login_as, api, refusing_api, claim_before):
    await login_as("alice")
    if claim_before:
        refusing_api.pvcs["hub/claim-alice"] = {"metadata": {"name": "claim-alice"}}
    r = await api("alice", "POST", "/users/alice/server", json={"group": "research"})
    assert r.status_code == 422, r.text
    assert r.json()["message"].startswith(
        "Kubernetes refused to create your server (HTTP 422): 'Unprocessable Entity'. "
        "Nothing was started")
    assert not hub.users["alice"].spawner.active
    assert refusing_api.pods == {}
    homes = [key for key in refusing_api.pvcs if key.startswith("hub/claim-")]
    assert homes == (["hub/claim-alice"] if claim_before else [])


async def test_the_api_servers_own_sentence_is_passed_on(hub, edge, login_as, api, monkeypatch):
    async def refuse(namespace, body, **kwargs):
        error = ApiException(status=422, reason="Unprocessable Entity")
        error.body = UNPROCESSABLE
        raise error

    monkeypatch.setattr(edge.api, "create_namespaced_pod", refuse)
    await login_as("alice")
    r = await api("alice", "POST", "/users/alice/server", json={"group": "research"})
    assert r.status_code == 422, r.text
    assert "must be unique" in r.json()["message"]
