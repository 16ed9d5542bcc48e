"""Starting servers through the hub: the form POST and the REST API (DESIGN §4, §5).

A start goes through JupyterHub, KubeSpawner and our spawner for real; only the
Kubernetes API is the double `FakeCoreV1Api`, which keeps the pod and PVC manifests that
would have been sent. A refused start must leave it empty. The pod rules themselves are
covered one by one by the unit tests; here a few are spot-checked on the real manifest.
"""
import json
import logging
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from doubles import UnloadedCatalogCache, running_pod

from primehub_spawner.options import NO_GROUP
from primehub_spawner.spawner import AUTH_STATE_KEY

REPO = Path(__file__).parents[2]


def hub_config(c, edge):
    # The operator's home page override, which shows what a running server was started with.
    c.JupyterHub.template_paths = [str(REPO / "templates")]


def container(pod: dict) -> dict:
    return next(c for c in pod["spec"]["containers"] if c["name"] == "notebook")


def env_of(pod: dict) -> dict:
    return {e["name"]: e.get("value") for e in container(pod)["env"]}


def by_name(items: list) -> dict:
    return {i["name"]: i for i in items}


async def started_pod(hub, edge, wait_until, name="alice") -> dict:
    spawner = hub.users[name].spawner
    await wait_until(lambda: spawner.ready, what=f"{name}'s server to be ready")
    [pod] = edge.api.created_pods()
    return pod


# ---- the form ----------------------------------------------------------------------------

async def test_form_post_starts_the_chosen_server(hub, edge, login_as, wait_until):
    browser = await login_as("alice")
    r = await browser.post_form("/hub/spawn", {
        "group": ["research"], "instance_type": ["gpu-small"], "image": ["pytorch"],
        "env_name": ["MY_SETTING", "JSONISH", ""],
        "env_value": ["1", '{"a": 1} {username}', ""]})
    assert r.status_code == 302, r.text
    assert urlparse(r.headers["location"]).path == "/hub/spawn-pending/alice"
    pod = await started_pod(hub, edge, wait_until)

    notebook = container(pod)
    assert notebook["image"] == "quay.io/jupyter/pytorch-notebook:cuda12-latest"
    limits = notebook["resources"]["limits"]
    assert (float(limits["cpu"]), int(limits["memory"]), limits["nvidia.com/gpu"]) == (
        4, 8 * 2**30, "1")
    assert pod["spec"]["nodeSelector"] == {"hardware": "gpu"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists",
            "effect": "NoSchedule"} in pod["spec"]["tolerations"]

    volumes, mounts = by_name(pod["spec"]["volumes"]), by_name(notebook["volumeMounts"])
    assert volumes["dataset-team-data"]["persistentVolumeClaim"] == {
        "claimName": "dataset-team-data", "readOnly": False}
    assert mounts["dataset-team-data"] == {"name": "dataset-team-data",
                                           "mountPath": "/datasets/team-data", "readOnly": False}
    assert volumes["dataset-shared-nfs"]["nfs"] == {
        "server": "10.0.0.50", "path": "/exports/shared", "readOnly": True}
    assert mounts["dataset-shared-nfs"]["readOnly"] is True
    assert mounts["project-research"]["mountPath"] == "/project/research"
    assert "project-class-101" not in volumes  # launch-group-only, and not the launch group
    assert mounts["home"]["mountPath"] == "/home/jovyan"

    env = env_of(pod)
    assert {k: env[k] for k in ("PRIMEHUB_USER", "PRIMEHUB_GROUP", "GROUP_ID", "INSTANCE_TYPE",
                                "IMAGE_NAME", "TZ", "MLFLOW_TRACKING_URI", "PUBLIC_ENV_REGION",
                                "MY_SETTING", "JSONISH")} == {
        "PRIMEHUB_USER": "alice", "PRIMEHUB_GROUP": "research", "GROUP_ID": "gid-research",
        "INSTANCE_TYPE": "gpu-small", "IMAGE_NAME": "pytorch", "TZ": "Asia/Taipei",
        "MLFLOW_TRACKING_URI": "http://mlflow.research.svc:5000", "PUBLIC_ENV_REGION": "tw",
        "MY_SETTING": "1", "JSONISH": '{"a": 1} {username}'}
    assert "NVIDIA_VISIBLE_DEVICES" not in env

    meta = pod["metadata"]
    assert meta["labels"]["primehub.io/user"] == "escaped-alice"
    assert meta["labels"]["primehub.io/group"] == "escaped-research"
    assert meta["labels"]["project"] == "research"
    assert json.loads(meta["annotations"]["primehub.io/usage"]) == {
        "component": "jupyter", "component_name": "jupyter-alice", "user": "alice",
        "group": "research", "instance_type": "gpu-small", "image": "pytorch"}

    [pvc] = [m for kind, m in edge.api.created if kind == "pvc"]
    assert pvc["spec"]["resources"]["requests"]["storage"] == "20Gi"  # alice's volumeCapacity


async def test_form_post_with_pull_secret_and_legacy_gpu(hub, edge, login_as, wait_until):
    browser = await login_as("bob")
    r = await browser.post_form("/hub/spawn", {
        "group": "class-101", "instance_type": "legacy-gpu", "image": "private-image",
        "safe_mode": "on"})
    assert r.status_code == 302, r.text
    pod = await started_pod(hub, edge, wait_until, "bob")
    assert pod["spec"]["imagePullSecrets"] == [{"name": "private-registry"}]
    assert container(pod)["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert by_name(container(pod)["volumeMounts"])["home"]["mountPath"] == "/home/jovyan/user"
    assert env_of(pod)["PRIMEHUB_SAFE_MODE_ENABLED"] == "true"
    [pvc] = [m for kind, m in edge.api.created if kind == "pvc"]
    assert pvc["spec"]["resources"]["requests"]["storage"] == "5Gi"  # everyone's default


async def test_refused_form_post_shows_the_sentence_and_keeps_the_choice(
        hub, edge, login_as, read_page):
    browser = await login_as("alice")
    r = await browser.post_form("/hub/spawn", {
        "group": "research", "instance_type": "gpu-small", "image": "tf-gpu",
        "safe_mode": "on", "env_name": ["MY_SETTING", "JUPYTERHUB_API_TOKEN"],
        "env_value": ["1", "stolen"]})
    assert r.status_code == 400
    page = read_page(r.text)
    assert page.error == ("Environment variable JUPYTERHUB_API_TOKEN is set by the hub and "
                          "cannot be changed.")
    assert page.selected_group == "research"
    assert page.section("research").checked("instance_type") == "gpu-small"
    assert page.section("research").checked("image") == "tf-gpu"
    assert page.env == [("MY_SETTING", "1"), ("JUPYTERHUB_API_TOKEN", "stolen")]
    assert page.safe_mode
    assert edge.api.created == []
    assert not hub.users["alice"].spawner.active


async def test_refused_form_post_shows_user_input_escaped(hub, edge, login_as, read_page):
    browser = await login_as("alice")
    evil = '"><script>alert(1)</script>'
    r = await browser.post_form("/hub/spawn", {"group": "research", "env_name": evil,
                                               "env_value": evil})
    assert r.status_code == 400
    assert "<script>alert(1)" not in r.text
    page = read_page(r.text)
    assert page.error.startswith(f"Environment variable name {evil!r} is not valid")
    assert page.env == [(evil, evil)]
    assert edge.api.created == []


async def test_refused_form_post_of_a_gpu_image_on_a_cpu_type(hub, edge, login_as, read_page):
    browser = await login_as("alice")
    r = await browser.post_form("/hub/spawn", {
        "group": "research", "instance_type": "cpu-2", "image": "tf-gpu"})
    assert r.status_code == 400
    page = read_page(r.text)
    assert page.error == "Image TensorFlow GPU needs a GPU instance type."
    assert page.section("research").checked("instance_type") == "cpu-2"
    assert edge.api.created == []


# ---- the REST API ------------------------------------------------------------------------

async def test_api_start_with_user_options(hub, edge, login_as, api, wait_until):
    await login_as("alice")
    r = await api("alice", "POST", "/users/alice/server",
                  json={"group": "research", "instance_type": "cpu-2", "image": "pytorch",
                        "env": {"MY_SETTING": "1"}})
    assert r.status_code in (201, 202), r.text
    pod = await started_pod(hub, edge, wait_until)
    notebook = container(pod)
    assert notebook["image"] == "quay.io/jupyter/pytorch-notebook:latest"
    resources = notebook["resources"]
    assert float(resources["limits"]["cpu"]) == 2 and float(resources["requests"]["cpu"]) == 0.5
    assert int(resources["requests"]["memory"]) == 2**30
    assert env_of(pod)["NVIDIA_VISIBLE_DEVICES"] == "none"
    assert env_of(pod)["MY_SETTING"] == "1"


async def test_a_start_logs_no_warning(hub, edge, login_as, api, wait_until, caplog):
    await login_as("alice")
    caplog.set_level("INFO")
    r = await api("alice", "POST", "/users/alice/server", json={"group": "research"})
    assert r.status_code in (201, 202), r.text
    await started_pod(hub, edge, wait_until)
    # JupyterHub's periodic route check may warn about routes of other tests' servers at any
    # moment; it is not part of this start, so proxy.py's records are left out.
    # The spawner logs through the hub's logger only when the hub is the traitlets
    # application singleton (JupyterHub 6's MockHub; not 5.5's), else through its own.
    hub_loggers = {"MockHub", hub.users["alice"].spawner.log.name}
    logged = [r for r in caplog.records
              if r.name in hub_loggers and not r.pathname.endswith("proxy.py")]
    assert any("Starting alice in group research" in r.getMessage() for r in logged)
    assert [r.getMessage() for r in logged if r.levelno >= logging.WARNING] == []


async def test_api_start_with_defaults(hub, edge, login_as, api, wait_until):
    await login_as("alice")
    r = await api("alice", "POST", "/users/alice/server", json={})
    assert r.status_code in (201, 202), r.text
    pod = await started_pod(hub, edge, wait_until)
    # The first group by display name, its first instance type, its first fitting image.
    assert pod["metadata"]["labels"]["primehub.io/group"] == "escaped-class-2d101"
    assert env_of(pod)["INSTANCE_TYPE"] == "cpu-1"
    assert env_of(pod)["IMAGE_NAME"] == "base-notebook"


NOT_A_MEMBER = "You are not a member of group 'empty-group', so you cannot launch a server in it."

REFUSALS = [
    pytest.param("alice", {"colour": "red"}, 400,
                 "Unknown server option 'colour'. Known options are: group, instance_type, "
                 "image, safe_mode, env.", id="unknown-key"),
    pytest.param("alice", {"group": 5}, 400,
                 "Server option 'group' must be a non-empty string.", id="wrong-type-group"),
    pytest.param("alice", {"safe_mode": "yes"}, 400,
                 "Server option 'safe_mode' must be true or false.", id="wrong-type-safe-mode"),
    pytest.param("alice", {"env": ["A=1"]}, 400,
                 "Server option 'env' must be an object of names to strings.",
                 id="wrong-type-env"),
    pytest.param("alice", {"group": "empty-group"}, 403, NOT_A_MEMBER, id="ungranted-group"),
    pytest.param("alice", {"group": "100%s"}, 403,
                 "You are not a member of group '100%s', so you cannot launch a server in it.",
                 id="percent-sign-in-a-name"),
    pytest.param("alice", {"group": "everyone"}, 403,
                 "Group 'everyone' holds what every group grants; it cannot be a launch group. "
                 "Choose one of your groups.",
                 id="everyone-is-no-launch-group"),
    pytest.param("alice", {"group": "class-101", "instance_type": "gpu-small"}, 403,
                 "The instance type 'gpu-small' is not available in group Class 101. "
                 "Available: cpu-1, legacy-gpu.", id="ungranted-instance-type"),
    pytest.param("alice", {"group": "research", "instance_type": "no-such-type"}, 403,
                 "The instance type 'no-such-type' is not available in group Research Lab. "
                 "Available: cpu-1, cpu-2, gpu-small.", id="unknown-instance-type"),
    pytest.param("alice", {"group": "research", "image": "private-image"}, 403,
                 "The image 'private-image' is not available in group Research Lab. "
                 "Available: base-notebook, pytorch, research-image, tf-gpu.",
                 id="ungranted-image"),
    pytest.param("alice", {"group": "research", "instance_type": "cpu-1", "image": "tf-gpu"},
                 400, "Image TensorFlow GPU needs a GPU instance type.",
                 id="gpu-image-on-cpu-type"),
    pytest.param("bob", {"group": "class-101", "image": "building-image"}, 400,
                 "Image Building Image is not ready yet (it is still being built).",
                 id="image-not-ready"),
    pytest.param("alice", {"env": {"1BAD": "x"}}, 400,
                 "Environment variable name '1BAD' is not valid: use letters, digits and '_', "
                 "not starting with a digit.", id="bad-env-name"),
    pytest.param("alice", {"env": {"JUPYTERHUB_API_TOKEN": "x"}}, 400,
                 "Environment variable JUPYTERHUB_API_TOKEN is set by the hub and cannot be "
                 "changed.", id="reserved-jupyterhub-env"),
    pytest.param("alice", {"env": {"PRIMEHUB_GROUP": "x"}}, 400,
                 "Environment variable PRIMEHUB_GROUP is set by the hub and cannot be changed.",
                 id="reserved-plugin-env"),
    pytest.param("alice", {"env": {"PUBLIC_ENV_REGION": "x"}}, 400,
                 "Environment variable PUBLIC_ENV_REGION is set by the hub and cannot be "
                 "changed.", id="reserved-dataset-env"),
    pytest.param("carol", {}, 403, NO_GROUP, id="no-launch-group"),
]


@pytest.mark.parametrize("user, options, status, sentence", REFUSALS)
async def test_api_refusal(hub, edge, login_as, api, user, options, status, sentence):
    await login_as(user)
    r = await api(user, "POST", f"/users/{user}/server", json=options)
    assert (r.status_code, r.json()["message"]) == (status, sentence)
    assert edge.api.created == []
    assert not hub.users[user].spawner.active


async def test_api_refuses_stale_entitlements_with_503(hub, edge, login_as, api):
    entitlements = await edge.keycloak.user_entitlements("alice")
    state = entitlements.to_json()
    state["fetched_at"] = time.time() - 120  # the last read from Keycloak, 2 minutes ago
    await login_as("alice", entitlements=None)
    await hub.users["alice"].save_auth_state({AUTH_STATE_KEY: state})
    r = await api("alice", "POST", "/users/alice/server", json={"group": "research"})
    assert r.status_code == 503
    assert r.json()["message"] == (
        "Your permissions could not be re-read from Keycloak just now, so the server was not "
        "started. Try again in a minute.")
    assert edge.api.created == []


async def test_api_refuses_unknown_entitlements_with_403(hub, edge, login_as, api):
    await login_as("alice", entitlements=None)
    r = await api("alice", "POST", "/users/alice/server", json={})
    assert r.status_code == 403
    assert "log out and log in again" in r.json()["message"]
    assert edge.api.created == []


async def test_api_refuses_with_503_while_the_catalog_is_not_loaded(hub, edge, login_as, api):
    await login_as("alice")
    edge.catalog_cache = UnloadedCatalogCache()
    r = await api("alice", "POST", "/users/alice/server", json={})
    assert r.status_code == 503
    assert r.json()["message"] == (
        "The list of instance types, images and datasets has not been read from Kubernetes "
        "yet; try again in a minute.")
    assert edge.api.created == []


async def test_api_refuses_over_quota(hub, edge, login_as, api):
    pod = running_pod("jupyter-alice-other", "alice", "research", {"cpu": "3"})
    edge.api.pods["hub/jupyter-alice-other"] = pod
    await login_as("alice")
    r = await api("alice", "POST", "/users/alice/server",
                  json={"group": "research", "instance_type": "cpu-2"})
    assert r.status_code == 403
    assert r.json()["message"] == ("This needs 2 CPU, but your share of group Research Lab "
                                   "already uses 3 of its 4 CPU quota.")
    assert edge.api.created == []


async def test_a_refusal_does_not_block_the_next_start(hub, edge, login_as, api, wait_until):
    await login_as("alice")
    r = await api("alice", "POST", "/users/alice/server", json={"group": "empty-group"})
    assert r.status_code == 403
    r = await api("alice", "POST", "/users/alice/server", json={"group": "research"})
    assert r.status_code in (201, 202), r.text
    pod = await started_pod(hub, edge, wait_until)
    assert pod["metadata"]["labels"]["primehub.io/group"] == "escaped-research"


# ---- state -------------------------------------------------------------------------------

async def test_choice_is_kept_in_state_across_a_new_spawner(hub, edge, login_as, api,
                                                            wait_until):
    browser = await login_as("alice")
    r = await api("alice", "POST", "/users/alice/server",
                  json={"group": "research", "instance_type": "gpu-small", "image": "pytorch"})
    assert r.status_code in (201, 202), r.text
    await started_pod(hub, edge, wait_until)
    user = hub.users["alice"]
    expected = {"group": "research", "group_display_name": "Research Lab",
                "instance_type": "gpu-small", "instance_type_display_name": "GPU small",
                "image": "pytorch", "image_display_name": "PyTorch"}
    saved = user.orm_spawners[""].state
    assert saved["primehub_choice"] == expected

    # What a restarted hub does: a new spawner object loads the saved state.
    fresh = user._new_spawner("")
    fresh.load_state(saved)
    assert fresh.primehub_choice == expected
    assert fresh.get_state()["primehub_choice"] == expected
    fresh.clear_state()
    assert fresh.primehub_choice == {}

    # The home page override shows the choice of the running server.
    r = await browser.get("/hub/home")
    assert r.status_code == 200
    assert 'id="primehub-running-group">Research Lab<' in r.text
    assert 'id="primehub-running-instance-type">GPU small<' in r.text
    assert 'id="primehub-running-image">PyTorch<' in r.text


# ---- one spawner, several starts; several users at once ------------------------------------

async def test_a_second_start_does_not_keep_the_first_starts_settings(hub, edge, login_as, api,
                                                                      wait_until):
    await login_as("alice")
    r = await api("alice", "POST", "/users/alice/server",
                  json={"group": "research", "instance_type": "gpu-small", "image": "pytorch",
                        "env": {"FIRST": "1"}})
    assert r.status_code in (201, 202), r.text
    first = await started_pod(hub, edge, wait_until)
    await hub.users["alice"].stop("")
    r = await api("alice", "POST", "/users/alice/server",
                  json={"group": "class-101", "instance_type": "cpu-1",
                        "image": "private-image"})
    assert r.status_code in (201, 202), r.text
    await wait_until(lambda: hub.users["alice"].spawner.ready)
    second = edge.api.created_pods()[-1]
    assert second is not first
    assert not second["spec"].get("nodeSelector")
    assert not second["spec"].get("tolerations")
    assert "nvidia.com/gpu" not in container(second)["resources"]["limits"]
    assert second["spec"]["imagePullSecrets"] == [{"name": "private-registry"}]
    volumes = [v["name"] for v in second["spec"]["volumes"]]
    assert sorted(volumes) == sorted(set(volumes)), "a volume is listed twice"
    assert "project-class-101" in volumes and "project-research" in volumes
    assert volumes.count("home") == 1
    env = env_of(second)
    assert "FIRST" not in env
    assert (env["PRIMEHUB_GROUP"], env["NVIDIA_VISIBLE_DEVICES"]) == ("class-101", "none")
    assert "MLFLOW_TRACKING_URI" not in env
    assert second["metadata"]["labels"]["primehub.io/group"] == "escaped-class-2d101"


async def test_users_starting_at_once_get_their_own_pods(hub, edge, login_as, api, wait_until):
    import asyncio
    await login_as("alice")
    await login_as("bob")
    responses = await asyncio.gather(
        api("alice", "POST", "/users/alice/server",
            json={"group": "research", "instance_type": "gpu-small"}),
        api("bob", "POST", "/users/bob/server",
            json={"group": "class-101", "instance_type": "legacy-gpu",
                  "image": "private-image"}))
    assert [r.status_code in (201, 202) for r in responses] == [True, True]
    await wait_until(lambda: hub.users["alice"].spawner.ready and hub.users["bob"].spawner.ready)
    pods = {p["metadata"]["labels"]["primehub.io/user"][len("escaped-"):]: p
            for p in edge.api.created_pods()}
    assert env_of(pods["alice"])["PRIMEHUB_GROUP"] == "research"
    assert env_of(pods["bob"])["PRIMEHUB_GROUP"] == "class-101"
    assert pods["alice"]["spec"]["nodeSelector"] == {"hardware": "gpu"}
    assert not pods["bob"]["spec"].get("nodeSelector")
    assert not pods["alice"]["spec"].get("imagePullSecrets")
    assert "dataset-team-data" in by_name(pods["bob"]["spec"]["volumes"])
    assert by_name(container(pods["bob"])["volumeMounts"])["dataset-team-data"]["readOnly"]
    assert not by_name(container(pods["alice"])["volumeMounts"])["dataset-team-data"]["readOnly"]
