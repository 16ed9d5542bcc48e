"""The pod as PrimeHub's own tools read it (DESIGN §5, issue 7 items 5, 7-11).

Labels and the usage record decoded with PrimeHub's rules; the links into home run in a
real shell; the operator's postStart hook combined with ours; the claim name of the escape
slug scheme; the opt-in root start; env datasets and names that are not volume names.
"""
from __future__ import annotations

import copy
import json
import re
import subprocess
from types import SimpleNamespace

import kubespawner.spawner
import pytest
from builders import (
    dataset_cr,
    image_cr,
    instance_type_cr,
    lab,
    make_catalog,
    make_group,
    make_user,
    primehub_reads,
)

from primehub_spawner.catalog import Catalog, Dataset
from primehub_spawner.names import USAGE_ANNOTATION, is_label_value
from primehub_spawner.options import OptionsRefused, validate_user_options
from primehub_spawner.podspec import (
    PodSettings,
    make_pod_overrides,
    merge_overrides,
    post_start_conflict,
    post_start_hook,
)
from primehub_spawner.spawner import PrimeHubSpawner

SETTINGS = PodSettings(pvc_name="claim-alice", pod_name="jupyter-alice")
A = "dataset.primehub.io/"


def overrides_for(user, catalog, options=None, settings=SETTINGS):
    return make_pod_overrides(validate_user_options(options or {}, user, catalog), user,
                              settings)


def world(*objs, options=None, settings=SETTINGS, **lab_args):
    return overrides_for(*lab(*objs, **lab_args), options, settings)


def with_datasets(*datasets: Dataset, rw=(), settings=SETTINGS, group_attributes=None):
    """Overrides for a user granted hand-made Dataset entries (names the catalog parser of
    this branch may not take yet), in a one-group world with `small` and `base`."""
    parsed = make_catalog(instance_type_cr("small"), image_cr("base"))
    catalog = Catalog(instance_types=parsed.instance_types, images=parsed.images,
                      datasets={d.name: d for d in datasets})
    roles = ["it:small", "img:base"] + [
        f"ds:rw:{d.name}" if d.name in rw else f"ds:{d.name}" for d in datasets]
    user = make_user([make_group("lab", roles, group_attributes)])
    return overrides_for(user, catalog, settings=settings)


# ---- labels and the usage record ----------------------------------------------------------

@pytest.mark.parametrize("username, group, reads_back", [
    pytest.param("alice", "lab", True, id="plain"),
    pytest.param("alice.smith@example.com", "class-101", True, id="email-and-dash"),
    pytest.param("josé", "研究", True, id="unicode"),
    pytest.param("bob", "Research_Lab", True, id="group-upper-case-underscore"),
    pytest.param("u" * 80, "g" * 80, False, id="too-long-cut"),
])
def test_labels_decode_with_primehubs_rules(username, group, reads_back):
    labels = world(username=username, group=group)["extra_labels"]
    assert set(labels) == {"primehub.io/user", "primehub.io/group", "project"}
    assert all(is_label_value(v) and v for v in labels.values())
    for key, name in (("primehub.io/user", username), ("primehub.io/group", group)):
        if reads_back:
            # Exactly the name; Keycloak and JupyterHub keep user names lower-cased.
            assert primehub_reads(labels[key]) == name
        else:
            assert "." in labels[key]  # cut: a hash after a dot, never another name


@pytest.mark.parametrize("group, project", [
    pytest.param("research", "research", id="as-primehub-writes-it"),
    pytest.param("Research_Lab", "Research_Lab", id="valid-label-value-kept"),
    pytest.param("研究", "escaped--e7-a0-94-e7-a9-b6", id="not-a-label-value-escaped"),
])
def test_project_label(group, project):
    assert world(group=group)["extra_labels"]["project"] == project


@pytest.mark.parametrize("username, group, pod_name", [
    pytest.param("alice", "lab", "jupyter-alice", id="plain"),
    pytest.param("Alice@Example.com", "Research_Lab", "jupyter-alice-40example-2ecom",
                 id="exact-names-kept"),
])
def test_usage_record(username, group, pod_name):
    overrides = world(username=username, group=group,
                      settings=PodSettings(pvc_name="c", pod_name=pod_name))
    assert list(overrides["extra_annotations"]) == [USAGE_ANNOTATION]
    # As KubeSpawner formats it into the pod: the JSON's braces come doubled.
    assert json.loads(overrides["extra_annotations"][USAGE_ANNOTATION].format()) == {
        "component": "jupyter", "component_name": pod_name, "user": username,
        "group": group, "instance_type": "small", "image": "base"}


# ---- links into home ----------------------------------------------------------------------

def links(overrides) -> list[tuple[str, str]]:
    """(target, link) pairs of the postStart script, in order."""
    script = overrides["lifecycle_hooks"]["postStart"]["exec"]["command"][2]
    return re.findall(r"ln -sfn (\S+) (\S+);", script)


GIT = {"type": "git", "url": "https://example.org/r.git"}
SHARED = {"enabled-shared-volume": "true", "shared-volume-capacity": "1G"}


@pytest.mark.parametrize("objs, lab_args, settings, expected", [
    pytest.param((), {}, SETTINGS, [("/datasets", "/home/jovyan/datasets")],
                 id="datasets-root-always"),
    pytest.param((), {}, PodSettings(home_dir="/home/u", dataset_mount_root="/data"),
                 [("/data", "/home/u/datasets")], id="datasets-root-from-settings"),
    pytest.param(({"name": "d", "annotations": {A + "homeSymlink": "true"}},), {}, SETTINGS,
                 [("/datasets", "/home/jovyan/datasets"), ("/datasets/d", "/home/jovyan/d")],
                 id="home-symlink-dataset-at-home-name"),
    pytest.param(({"name": "d", "annotations": {A + "homeSymlink": "true",
                                                A + "mountRoot": "/mnt"}},), {}, SETTINGS,
                 [("/datasets", "/home/jovyan/datasets"), ("/mnt/d", "/home/jovyan/d")],
                 id="home-symlink-dataset-own-mount-root"),
    pytest.param(({"name": "repo", "spec": GIT},), {}, SETTINGS,
                 [("/datasets", "/home/jovyan/datasets"), ("/gitsync/repo/repo", "/datasets/repo")],
                 id="git-checkout-directory"),
    pytest.param((), {"group": "Team_A", "attributes": dict(SHARED, **{"home-symlink": "true"})},
                 SETTINGS,
                 [("/datasets", "/home/jovyan/datasets"), ("/project/team-a", "/home/jovyan/team-a")],
                 id="group-volume-at-home-project-dir"),
    pytest.param((), {"attributes": SHARED}, SETTINGS, [("/datasets", "/home/jovyan/datasets")],
                 id="group-volume-without-home-symlink"),
])
def test_links(objs, lab_args, settings, expected):
    crs = [dataset_cr(o["name"], o.get("spec"), o.get("annotations")) for o in objs]
    assert links(world(*crs, settings=settings, **lab_args)) == expected


def run(command: list[str]) -> int:
    return subprocess.run(command, capture_output=True, timeout=20, check=False).returncode


def test_the_links_are_made_by_a_real_shell(tmp_path):
    home, data, project = tmp_path / "home", tmp_path / "datasets", tmp_path / "project"
    home.mkdir()
    settings = PodSettings(pvc_name="c", home_dir=str(home), dataset_mount_root=str(data),
                           project_root=str(project))
    overrides = with_datasets(
        Dataset(name="d", display_name="d", description="", type="pv", volume_name="v",
                home_symlink=True),
        settings=settings, group_attributes=dict(SHARED, **{"home-symlink": "true"}))
    assert run(overrides["lifecycle_hooks"]["postStart"]["exec"]["command"]) == 0
    assert (home / "datasets").readlink() == data
    assert (home / "d").readlink() == data / "d"
    assert (home / "lab").readlink() == project / "lab"
    # A second start replaces the links, and still succeeds.
    assert run(overrides["lifecycle_hooks"]["postStart"]["exec"]["command"]) == 0
    assert (home / "datasets").readlink() == data


def test_a_users_own_directory_is_left_alone_and_the_start_goes_on(tmp_path):
    home = tmp_path / "home"
    (home / "datasets").mkdir(parents=True)
    (home / "datasets" / "notes.txt").write_text("mine")
    (home / "blocked").write_text("a file where a directory would be needed")
    settings = PodSettings(pvc_name="c", home_dir=str(home),
                           dataset_mount_root=str(tmp_path / "datasets"))
    overrides = with_datasets(
        Dataset(name="d", display_name="d", description="", type="pv", volume_name="v",
                home_symlink=True, mount_root=str(home / "blocked")), settings=settings)
    assert run(overrides["lifecycle_hooks"]["postStart"]["exec"]["command"]) == 0
    assert not (home / "datasets").is_symlink()
    assert sorted(p.name for p in (home / "datasets").iterdir()) == ["notes.txt"]
    assert (home / "d").readlink() == home / "blocked" / "d"


# ---- the operator's postStart hook --------------------------------------------------------

SCRIPT = "echo ours"


@pytest.mark.parametrize("theirs, expected", [
    pytest.param(None, ["sh", "-c", SCRIPT], id="none"),
    pytest.param({}, ["sh", "-c", SCRIPT], id="empty"),
    pytest.param({"exec": {"command": []}}, ["sh", "-c", SCRIPT], id="empty-command"),
    pytest.param({"exec": {"command": ["/bin/notify", "--ready"]}},
                 ["sh", "-c", f'{SCRIPT}; exec "$@"', "sh", "/bin/notify", "--ready"],
                 id="exec-runs-after-ours"),
    pytest.param({"exec": {"command": ["sh", "-c", "echo '$x; {y}'"]}},
                 ["sh", "-c", f'{SCRIPT}; exec "$@"', "sh", "sh", "-c", "echo '$x; {y}'"],
                 id="their-command-passed-as-arguments-unquoted"),
])
def test_post_start_hook(theirs, expected):
    assert post_start_conflict(theirs) is None
    assert post_start_hook(SCRIPT, theirs) == {"exec": {"command": expected}}


@pytest.mark.parametrize("theirs", [
    pytest.param({"httpGet": {"path": "/ready", "port": 8888}}, id="http-get"),
    pytest.param({"tcpSocket": {"port": 8888}}, id="tcp-socket"),
    pytest.param({"exec": {"command": "not a list"}}, id="malformed-exec"),
])
def test_a_hook_that_cannot_be_combined_is_kept_and_ours_skipped(theirs):
    assert post_start_hook(SCRIPT, theirs) is None
    assert "is kept as configured" in post_start_conflict(theirs)
    overrides = world(settings=PodSettings(pvc_name="c", post_start=theirs))
    assert overrides["lifecycle_hooks"] == {}
    configured = {"postStart": theirs, "preStop": {"exec": {"command": ["true"]}}}
    merged = merge_overrides({"lifecycle_hooks": configured}, overrides)
    assert merged["lifecycle_hooks"] == configured


@pytest.mark.parametrize("their_exit", [pytest.param(0, id="theirs-succeeds"),
                                        pytest.param(3, id="theirs-fails")])
def test_their_exit_status_decides_and_ours_ran_first(tmp_path, their_exit):
    home = tmp_path / "home"
    home.mkdir()
    # Theirs checks that our link exists when it runs, then exits with its own status.
    theirs = {"exec": {"command": ["sh", "-c", f'test -L "$1" && exit {their_exit}; exit 99',
                                   "theirs", str(home / "datasets")]}}
    settings = PodSettings(pvc_name="c", home_dir=str(home), post_start=theirs,
                           dataset_mount_root=str(tmp_path / "datasets"))
    overrides = world(settings=settings)
    configured = {"postStart": theirs, "preStop": {"exec": {"command": ["true"]}}}
    hooks = merge_overrides({"lifecycle_hooks": configured}, overrides)["lifecycle_hooks"]
    assert hooks["preStop"] == configured["preStop"]
    assert run(hooks["postStart"]["exec"]["command"]) == their_exit


def test_our_failing_links_never_fail_the_start(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    overrides = world(settings=PodSettings(pvc_name="c", home_dir=str(blocked / "home")))
    assert run(overrides["lifecycle_hooks"]["postStart"]["exec"]["command"]) == 0


# ---- PrimeHub's home claims: the escape slug scheme --------------------------------------

@pytest.fixture
def no_cluster(monkeypatch):
    """KubeSpawner loads a kubeconfig and makes a client in __init__: the I/O edge."""
    monkeypatch.setattr(kubespawner.spawner, "load_config", lambda **kwargs: None)
    monkeypatch.setattr(kubespawner.spawner, "shared_client", lambda *args, **kwargs: None)


@pytest.mark.parametrize("username, claim, pod", [
    pytest.param("alice", "claim-alice", "jupyter-alice", id="plain"),
    pytest.param("alice.smith@example.com", "claim-alice-2esmith-40example-2ecom",
                 "jupyter-alice-2esmith-40example-2ecom", id="email"),
    pytest.param("bob-1", "claim-bob-2d1", "jupyter-bob-2d1", id="dash"),
    pytest.param("józef", "claim-j-c3-b3zef", "jupyter-j-c3-b3zef", id="unicode"),
])
def test_primehubs_home_claim_names_by_default(no_cluster, username, claim, pod):
    user = SimpleNamespace(name=username, id=1, url=f"/user/{username}/")
    spawner = PrimeHubSpawner(_mock=True, user=user)
    assert spawner.slug_scheme == "escape"
    assert (spawner.pvc_name, spawner.pod_name) == (claim, pod)


# ---- root start ---------------------------------------------------------------------------

@pytest.mark.parametrize("grant_sudo, chown_extra, expected", [
    pytest.param(False, False, {}, id="off-by-default"),
    pytest.param(True, False, {"uid": 0, "allow_privilege_escalation": True,
                               "GRANT_SUDO": "yes"}, id="grant-sudo"),
    pytest.param(False, True, {"uid": 0, "CHOWN_HOME": "yes",
                               "CHOWN_EXTRA": "/datasets/rw-data,/project/lab"},
                 id="chown-writable-mounts-and-home"),
    pytest.param(True, True, {"uid": 0, "allow_privilege_escalation": True,
                              "GRANT_SUDO": "yes", "CHOWN_HOME": "yes",
                              "CHOWN_EXTRA": "/datasets/rw-data,/project/lab"}, id="both"),
])
def test_root_start(grant_sudo, chown_extra, expected):
    overrides = world(dataset_cr("rw-data"), dataset_cr("ro-data"),
                      dataset_cr("repo", GIT), rw=["rw-data", "repo"], attributes=SHARED,
                      settings=PodSettings(pvc_name="c", grant_sudo=grant_sudo,
                                           chown_extra=chown_extra))
    env = overrides["environment"]
    found = {k: overrides[k] for k in ("uid", "allow_privilege_escalation") if k in overrides}
    found.update({k: env[k] for k in ("GRANT_SUDO", "CHOWN_HOME", "CHOWN_EXTRA") if k in env})
    assert found == expected


def test_chown_in_safe_mode_lists_the_moved_home():
    overrides = world(options={"safe_mode": True},
                      settings=PodSettings(pvc_name="c", chown_extra=True))
    assert overrides["environment"]["CHOWN_EXTRA"] == "/home/jovyan/user"


@pytest.mark.parametrize("name", ["GRANT_SUDO", "CHOWN_EXTRA", "CHOWN_HOME", "NB_UID",
                                  "NB_GID", "NB_USER"])
def test_users_cannot_set_the_root_start_variables(name):
    user, catalog = lab()
    with pytest.raises(OptionsRefused) as refused:
        validate_user_options({"env": {name: "yes"}}, user, catalog)
    assert refused.value.status == 400 and "set by the hub" in refused.value.message


def test_root_start_settings_are_off_by_default(no_cluster):
    spawner = PrimeHubSpawner(_mock=True)
    assert (spawner.grant_sudo, spawner.chown_extra) == (False, False)


# ---- datasets PrimeHub writes -------------------------------------------------------------

def test_env_dataset_exports_both_spellings():
    overrides = with_datasets(Dataset(
        name="db.conf", display_name="DB", description="", type="env",
        variables={"host-name": "db.example", "PORT": "5432"}))
    env = overrides["environment"]
    assert {k: env[k] for k in env if k.startswith("DB.CONF_")} == {
        "DB.CONF_HOST-NAME": "db.example", "DB.CONF_HOST_NAME": "db.example",
        "DB.CONF_PORT": "5432"}


@pytest.mark.parametrize("dataset, writable", [
    # Dots make a valid object name (a DNS subdomain) but not a volume name (a DNS label).
    pytest.param(Dataset(name="my-data.v2", display_name="", description="", type="pv",
                         volume_name="my-data", home_symlink=True), True, id="pv"),
    pytest.param(Dataset(name="shared.nfs", display_name="", description="", type="nfs",
                         nfs_server="10.0.0.5", nfs_path="/export"), False, id="nfs"),
    pytest.param(Dataset(name="x" * 60, display_name="", description="", type="hostPath",
                         host_path="/srv/x"), False, id="host-path-long-name"),
])
def test_a_name_that_is_no_volume_name_mounts_under_its_pod_volume(dataset, writable):
    overrides = with_datasets(dataset, rw=[dataset.name] if writable else [])
    volume = dataset.pod_volume
    assert volume != f"dataset-{dataset.name}"
    assert [v["name"] for v in overrides["volumes"] if v["name"].startswith("dataset-")] == [
        volume]
    assert [m for m in overrides["volume_mounts"] if m["name"] == volume] == [
        {"name": volume, "mountPath": f"/datasets/{dataset.name}", "readOnly": not writable}]
    if dataset.home_symlink:
        assert (f"/datasets/{dataset.name}", f"/home/jovyan/{dataset.name}") in links(overrides)


# ---- KubeSpawner's formatting -------------------------------------------------------------

ALICE = SimpleNamespace(name="alice", id=1, url="/user/alice/")


@pytest.mark.parametrize("template", ["plain", "ends-with-", "", "/datasets/data",
                                      "{username}", "claim-{username}--{servername}",
                                      "{{literal}}", "a}}b{{"])
def test_formatting_is_skipped_only_where_it_changes_nothing(no_cluster, template):
    spawner = PrimeHubSpawner(_mock=True, user=ALICE)
    theirs = kubespawner.spawner.KubeSpawner._expand_user_properties(spawner, template)
    assert spawner._expand_user_properties(template) == theirs


def test_only_strings_with_a_brace_reach_kubespawners_formatting(no_cluster, monkeypatch):
    spawner = PrimeHubSpawner(_mock=True, user=ALICE)
    formatted = []
    monkeypatch.setattr(kubespawner.spawner.KubeSpawner, "_expand_user_properties",
                        lambda self, template, slug_scheme=None: formatted.append(template))
    for template in ("/datasets/data", "{username}", "plain", "a}}"):
        spawner._expand_user_properties(template)
    assert formatted == ["{username}", "a}}"]


def test_a_lone_brace_is_refused_as_kubespawner_refuses_it(no_cluster):
    spawner = PrimeHubSpawner(_mock=True, user=ALICE)
    with pytest.raises(ValueError):
        spawner._expand_user_properties("a}")


async def test_a_pod_leaves_what_the_next_start_reuses_as_it_was(no_cluster):
    user, catalog = lab(dataset_cr("data"), dataset_cr("ro"), dataset_cr("repo", GIT),
                        rw=["data"], attributes=SHARED)
    choice = validate_user_options({}, user, catalog)
    overrides = make_pod_overrides(choice, user, SETTINGS)
    before = copy.deepcopy(overrides)
    spawner = PrimeHubSpawner(_mock=True, user=ALICE)
    configured = {key: getattr(spawner, key) for key in overrides}
    for key, value in merge_overrides(configured, overrides).items():
        setattr(spawner, key, value)
    pod = await spawner.get_pod_manifest()
    assert {v.name for v in pod.spec.volumes} >= {"dataset-data", "dataset-ro", "project-lab"}
    for item in (*pod.spec.volumes, *pod.spec.containers[0].volume_mounts):
        item.name = "changed"
    assert make_pod_overrides(choice, user, SETTINGS) == before
