"""The spawner's glue for PrimeHub's pod shape (DESIGN §5, issue 7): the operator's own
postStart hook combined with ours at every start (never with ours of a previous start), one
warning for a hook that cannot be combined, the root-start settings, and PrimeHub's names
(claim-<escaped user>, the labels and the usage record) on the manifest sent to Kubernetes.
"""
import json
import logging

from primehub_spawner.spawner import PrimeHubSpawner

THEIRS = ["/usr/local/bin/notify", "--ready"]
PRE_STOP = {"exec": {"command": ["sh", "-c", "sync"]}}


def hub_config(c, edge):
    c.PrimeHubSpawner.lifecycle_hooks = {"postStart": {"exec": {"command": THEIRS}},
                                         "preStop": PRE_STOP}
    c.PrimeHubSpawner.chown_extra = True


def container(pod: dict) -> dict:
    return next(c for c in pod["spec"]["containers"] if c["name"] == "notebook")


async def start(hub, edge, api, wait_until, name: str, options: dict) -> dict:
    r = await api(name, "POST", f"/users/{name}/server", json=options)
    assert r.status_code in (201, 202), r.text
    await wait_until(lambda: hub.users[name].spawner.ready, what=f"{name}'s server")
    return edge.api.created_pods()[-1]


async def test_their_post_start_runs_after_ours_at_every_start(hub, edge, login_as, api,
                                                               wait_until):
    await login_as("alice")
    for group in ("research", "class-101"):
        pod = await start(hub, edge, api, wait_until, "alice", {"group": group})
        lifecycle = container(pod)["lifecycle"]
        command = lifecycle["postStart"]["exec"]["command"]
        assert command[:2] == ["sh", "-c"] and command[2].endswith('; exec "$@"')
        assert command[3:] == ["sh", *THEIRS]  # theirs once: never wrapped around ours again
        assert "ln -sfn /datasets /home/jovyan/datasets" in command[2]
        assert lifecycle["preStop"] == PRE_STOP
        await hub.users["alice"].stop("")


async def test_primehub_names_and_root_start_on_the_manifest(hub, edge, login_as, api,
                                                             wait_until):
    await login_as("alice")
    pod = await start(hub, edge, api, wait_until, "alice",
                      {"group": "research", "instance_type": "cpu-2"})
    meta = pod["metadata"]
    assert meta["name"] == "jupyter-alice"
    assert {k: meta["labels"][k] for k in ("primehub.io/user", "primehub.io/group",
                                           "project")} == {
        "primehub.io/user": "escaped-alice", "primehub.io/group": "escaped-research",
        "project": "research"}
    usage = json.loads(meta["annotations"]["primehub.io/usage"])
    assert (usage["component"], usage["component_name"]) == ("jupyter", "jupyter-alice")
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["home"]["persistentVolumeClaim"]["claimName"] == "claim-alice"
    [pvc] = [m for kind, m in edge.api.created if kind == "pvc"]
    assert pvc["metadata"]["name"] == "claim-alice"
    # chown_extra: the start script runs as root and chowns home and the writable mounts.
    assert container(pod)["securityContext"]["runAsUser"] == 0
    env = {e["name"]: e.get("value") for e in container(pod)["env"]}
    assert env["CHOWN_HOME"] == "yes"
    assert env["CHOWN_EXTRA"] == "/datasets/team-data,/project/research"
    assert "GRANT_SUDO" not in env


async def test_a_hook_that_cannot_be_combined_is_kept_with_one_warning(
        hub, edge, login_as, api, wait_until, caplog, monkeypatch):
    monkeypatch.setattr(PrimeHubSpawner, "_post_start_conflict_logged", False)
    await login_as("bob")
    http_get = {"httpGet": {"path": "/ready", "port": 8888}}
    caplog.set_level(logging.WARNING)
    for _ in range(2):
        # JupyterHub makes a new spawner for each start after a stop: configure each one.
        hub.users["bob"].spawner.lifecycle_hooks = {"postStart": http_get}
        pod = await start(hub, edge, api, wait_until, "bob", {"group": "class-101"})
        assert container(pod)["lifecycle"] == {"postStart": http_get}
        await hub.users["bob"].stop("")
    warnings = [r.getMessage() for r in caplog.records if "is not an exec command" in
                r.getMessage()]
    assert len(warnings) == 1, warnings

