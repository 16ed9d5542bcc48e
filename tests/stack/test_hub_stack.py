"""The plugin in a real JupyterHub, against a real Keycloak and a real kube-apiserver.

Users log in through Keycloak's login page; servers start through the form and the REST
API, run under the local kubelet, are reached through configurable-http-proxy, and their
pods are read back from the API server.
"""
from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from devstack import kube, proc
from primehub_spawner.quantities import parse_cpu, parse_kube_memory

from .hub_client import (
    PAST_GROUP_CACHE,
    POD,
    KeycloakAdmin,
    api,
    get,
    login,
    pod,
    post_form,
    stop_server,
    user_token,
    wait_server,
)

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("stack")]


def by_name(items):
    return {item["name"]: item for item in items}


async def test_menu_lists_exactly_what_the_realm_grants():
    alice = await login("alice")
    html = (await get(alice, "/hub/spawn")).text
    # Launch groups: alice's two groups, never `everyone`, not a group she is not in.
    assert 'value="research"' in html and 'value="class-101"' in html
    assert 'value="everyone"' not in html and 'value="empty-group"' not in html
    # The page carries one group's lists (issue 9): research's, asked for by ?group=.
    research = (await get(alice, "/hub/spawn?group=research")).text.split(
        'data-group="research"')[1]
    for granted in ("cpu-1", "cpu-2", "gpu-small"):  # research's it: roles and everyone's
        assert 'name="instance_type" id' in research and f'value="{granted}"' in research
    assert 'value="legacy-gpu"' not in research  # granted by class-101 only
    for image in ("base-notebook", "pytorch", "tf-gpu", "research-image"):
        assert f'value="{image}"' in research
    assert 'value="private-image"' not in research
    carol = await login("carol")
    assert "not in any group that can launch a server" in (await get(carol, "/hub/spawn")).text


async def test_spawn_through_the_form_builds_the_pod_and_reaches_the_server():
    alice = await login("alice")
    html = (await get(alice, "/hub/spawn")).text
    response = await post_form(alice, html, [
        ("group", "research"), ("instance_type", "gpu-small"), ("image", "pytorch"),
        ("env_name", "MY_SETTING"), ("env_value", "42")])
    assert response.status_code == 302, response.text[:2000]
    try:
        await wait_server("alice")
        manifest = await pod(POD.format("alice"))
        spec = manifest["spec"]
        container = next(c for c in spec["containers"] if c["name"] == "notebook")
        limits = container["resources"]["limits"]
        assert parse_cpu(limits["cpu"]) == 4 and parse_kube_memory(limits["memory"]) == 8 * 2**30
        assert limits["nvidia.com/gpu"] == "1"
        assert spec["nodeSelector"]["hardware"] == "gpu"
        assert any(t.get("key") == "nvidia.com/gpu" for t in spec["tolerations"])
        assert container["image"] == "quay.io/jupyter/pytorch-notebook:cuda12-latest"  # urlForGpu
        volumes = by_name(spec["volumes"])
        mounts = by_name(container["volumeMounts"])
        claim = volumes["dataset-team-data"]["persistentVolumeClaim"]  # ds:rw: via research
        assert claim["claimName"] == "dataset-team-data" and not claim.get("readOnly")
        assert mounts["dataset-team-data"].get("readOnly") is not True
        assert volumes["dataset-shared-nfs"]["nfs"]["readOnly"] is True
        assert mounts["dataset-shared-nfs"]["readOnly"] is True
        assert mounts["project-research"]["mountPath"] == "/project/research"
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["MY_SETTING"] == "42"
        assert env["PRIMEHUB_GROUP"] == "research" and env["INSTANCE_TYPE"] == "gpu-small"
        assert env["TZ"] == "Asia/Taipei" and "NVIDIA_VISIBLE_DEVICES" not in env
        assert env["PUBLIC_ENV_REGION"] == "tw"
        labels = manifest["metadata"]["labels"]
        assert labels["primehub.io/user"] == "escaped-alice"
        assert labels["primehub.io/group"] == "escaped-research"
        usage = json.loads(manifest["metadata"]["annotations"]["primehub.io/usage"])
        assert usage["instance_type"] == "gpu-small" and usage["image"] == "pytorch"
        # The server answers through configurable-http-proxy.
        reached = await get(alice, "/user/alice/api")
        assert reached.status_code == 200 and "version" in reached.json()
        # The home page shows what the server runs.
        home = (await get(alice, "/hub/home")).text
        assert "Research Lab" in home and 'id="primehub-running"' in home
    finally:
        await stop_server("alice")
    assert await pod(POD.format("alice")) is None


async def test_spawn_through_the_rest_api():
    await login("bob")
    token = await user_token("bob")
    response = await api("POST", "/users/bob/server", token=token, json={
        "group": "class-101", "instance_type": "legacy-gpu", "image": "private-image"})
    assert response.status_code in (201, 202), response.text
    try:
        await wait_server("bob")
        manifest = await pod(POD.format("bob"))
        spec = manifest["spec"]
        container = next(c for c in spec["containers"] if c["name"] == "notebook")
        assert {"name": "private-registry"} in spec["imagePullSecrets"]
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
        mounts = by_name(container["volumeMounts"])
        assert mounts["dataset-team-data"]["readOnly"] is True  # ds: (read-only) in class-101
        assert mounts["dataset-git-repo"]["readOnly"] is True
        assert "project-class-101" in mounts
    finally:
        await stop_server("bob")


REFUSALS = [
    pytest.param({"group": "class-101", "instance_type": "gpu-small"}, 403,
                 "not available in group", id="ungranted-instance-type"),
    pytest.param({"group": "class-101", "image": "pytorch"}, 403, "not available in group",
                 id="ungranted-image"),
    pytest.param({"group": "empty-group"}, 403, "not a member", id="ungranted-group"),
    pytest.param({"group": "research", "instance_type": "cpu-1", "image": "tf-gpu"}, 400,
                 "needs a GPU", id="gpu-image-on-cpu-type"),
    pytest.param({"group": "research", "colour": "red"}, 400, "Unknown server option",
                 id="unknown-key"),
    pytest.param({"group": "research", "env": {"JUPYTERHUB_API_TOKEN": "x"}}, 400,
                 "set by the hub", id="reserved-variable"),
]


@pytest.mark.parametrize("options, status, sentence", REFUSALS)
async def test_refused_starts_create_nothing(options, status, sentence):
    await login("alice")
    token = await user_token("alice")
    before = await namespace_objects()
    response = await api("POST", "/users/alice/server", token=token, json=options)
    assert response.status_code == status, response.text
    assert sentence in response.json()["message"]
    await wait_server("alice", ready=False, timeout=20)
    assert await pod(POD.format("alice")) is None
    assert await namespace_objects() == before


async def delete_if_present(obj: dict) -> None:
    try:
        await asyncio.to_thread(kube.request, "DELETE", kube.object_path(obj))
    except kube.ApiError as e:
        assert e.status == 404, e


async def namespace_objects() -> set[str]:
    """Names of the pods, PVCs, secrets and services in the hub namespace."""
    names = set()
    for kind in ("pods", "persistentvolumeclaims", "secrets", "services"):
        listed = await asyncio.to_thread(kube.request, "GET", f"/api/v1/namespaces/hub/{kind}")
        names |= {f"{kind}/{item['metadata']['name']}" for item in listed["items"]}
    return names


async def test_realm_changes_apply_to_the_next_start_without_a_new_login():
    await login("alice")
    token = await user_token("alice")
    async with KeycloakAdmin() as realm:
        await realm.set_membership("alice", "class-101", member=False)
        try:
            response = await api("POST", "/users/alice/server", token=token,
                                 json={"group": "class-101"})
            assert response.status_code == 403 and "not a member" in response.json()["message"]
        finally:
            await realm.set_membership("alice", "class-101", member=True)
        # A role mapped onto a group: granted at the next start once the group cache
        # has turned over.
        await realm.map_role("class-101", "it:cpu-2", mapped=True)
        try:
            await asyncio.sleep(PAST_GROUP_CACHE)
            response = await api("POST", "/users/alice/server", token=token, json={
                "group": "class-101", "instance_type": "cpu-2", "image": "private-image"})
            assert response.status_code in (201, 202), response.text
            await wait_server("alice")
            await stop_server("alice")
        finally:
            await realm.map_role("class-101", "it:cpu-2", mapped=False)


async def test_the_menu_follows_custom_resources_within_seconds():
    async with KeycloakAdmin() as realm:
        # Granted before alice logs in (and past the group cache): the grant is there,
        # the InstanceType it names is not, yet.
        await realm.map_role("research", "it:flash-size", mapped=True)
    await asyncio.sleep(PAST_GROUP_CACHE)
    alice = await login("alice")
    resource = {"apiVersion": "primehub.io/v1alpha1", "kind": "InstanceType",
                "metadata": {"name": "flash-size", "namespace": "hub"},
                "spec": {"displayName": "Flash Size", "limits.cpu": 1, "limits.memory": "1G"}}

    async def menu_shows(text: str, present: bool = True, timeout: float = 15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            html = (await get(alice, "/hub/spawn?group=research")).text
            if (text in html) == present:
                return
            await asyncio.sleep(0.5)
        raise AssertionError(f"{text!r} {'never appeared' if present else 'stayed'} in the menu")

    async with KeycloakAdmin() as realm:
        try:
            await delete_if_present(resource)  # left over from an interrupted run
            await menu_shows("Flash Size", present=False)
            await asyncio.to_thread(kube.apply, resource)
            await menu_shows("Flash Size")
            resource["spec"]["displayName"] = "Flash Size Mk2"
            await asyncio.to_thread(kube.apply, resource)
            await menu_shows("Flash Size Mk2")
            await asyncio.to_thread(kube.request, "DELETE", kube.object_path(resource))
            await menu_shows("Flash Size", present=False)
        finally:
            await realm.map_role("research", "it:flash-size", mapped=False)
            await delete_if_present(resource)


async def test_the_hub_runs_with_the_restricted_credential():
    pid = proc.pid_of("jupyterhub")
    environ = dict(item.split("=", 1) for item in
                   Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in item)
    assert environ["KUBECONFIG"] == str(kube.HUB_KUBECONFIG)
    with pytest.raises(kube.ApiError) as denied:
        await asyncio.to_thread(kube.request, "GET", "/api/v1/namespaces/kube-system/secrets",
                                kubeconfig=kube.HUB_KUBECONFIG)
    assert denied.value.status == 403
    # ... and yet every start in this module went through it.
    listed = await asyncio.to_thread(
        kube.request, "GET", "/apis/primehub.io/v1alpha1/namespaces/hub/instancetypes",
        kubeconfig=kube.HUB_KUBECONFIG)
    assert listed["items"]


async def test_admins_come_from_keycloak_and_groups_are_synced():
    await login("phadmin")
    await login("alice")
    assert (await api("GET", "/users/phadmin")).json()["admin"] is True
    alice = (await api("GET", "/users/alice")).json()
    assert alice["admin"] is False
    assert {"research", "class-101"} <= set(alice["groups"])


async def test_logout_ends_the_keycloak_session():
    alice = await login("alice")
    await get(alice, "/hub/logout")
    # Single sign-on would skip the form; after logout Keycloak asks for the password.
    page = await get(alice, "/hub/oauth_login")
    assert 'id="kc-form-login"' in page.text or 'name="password"' in page.text


async def test_a_malformed_custom_resource_is_logged_once_and_left_out():
    broken = {"apiVersion": "primehub.io/v1alpha1", "kind": "InstanceType",
              "metadata": {"name": "broken-size", "namespace": "hub"},
              # A number, as the CRD's schema wants, but not a size the spawner offers.
              "spec": {"displayName": "Broken Size", "limits.cpu": 0, "limits.memory": "1G"}}
    log = proc.log_path("jupyterhub")
    line = "Leaving out InstanceType hub/broken-size: limits.cpu"
    async with KeycloakAdmin() as realm:
        await realm.map_role("research", "it:broken-size", mapped=True)
        try:
            await asyncio.sleep(PAST_GROUP_CACHE)
            alice = await login("alice")
            await get(alice, "/hub/spawn")  # the hub's watches run once a spawner exists
            before = log.read_text().count(line)
            await asyncio.to_thread(kube.apply, broken)
            deadline = time.monotonic() + 15
            while log.read_text().count(line) == before:
                assert time.monotonic() < deadline, "the hub never logged the malformed object"
                await asyncio.sleep(0.5)
            for _ in range(3):  # menus keep working, without the object and without new lines
                html = (await get(alice, "/hub/spawn?group=research")).text
                assert 'value="cpu-2"' in html and "Broken Size" not in html
            assert log.read_text().count(line) == before + 1
        finally:
            await realm.map_role("research", "it:broken-size", mapped=False)
            await delete_if_present(broken)
