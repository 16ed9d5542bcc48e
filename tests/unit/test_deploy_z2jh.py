"""deploy/: the Zero to JupyterHub values, the hub image and the extra RBAC.

The values must pass the chart's own schema (as `helm install` checks them: merged over the
chart's defaults), and the hub configuration the chart builds from them must load with our
classes and carry our settings. The references come from the chart (shared/reference/z2jh,
beside the repository); nothing here needs a cluster or Docker.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path

import jsonschema
import kubespawner.spawner
import pytest
import yaml
from jupyterhub.app import JupyterHub
from traitlets.config import Config

from primehub_spawner import __version__
from primehub_spawner.authenticator import PrimeHubAuthenticator
from primehub_spawner.spawner import PrimeHubSpawner
from tests.reference import reference_dirs

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
RELEASE_NAMESPACE = "hub"  # helm --namespace in the README


Z2JH = reference_dirs("z2jh")


def reference(name: str):
    path = next((folder / name for folder in Z2JH if (folder / name).exists()), None)
    if path is None:
        pytest.fail(f"{name} is missing from {' and '.join(map(str, Z2JH))}: these tests read "
                    "the z2jh chart's reference files from shared/reference/z2jh beside the "
                    "repository (a clone needs shared/ next to it).", pytrace=False)
    return yaml.safe_load(path.read_text()) if name.endswith(".yaml") else path.read_text()


def helm_merge(defaults, values):
    """Values over the chart's defaults as Helm merges them: maps merge key by key, anything
    else replaces, and null removes the default."""
    if not (isinstance(defaults, dict) and isinstance(values, dict)):
        return copy.deepcopy(values)
    merged = copy.deepcopy(defaults)
    for key, value in values.items():
        if value is None:
            merged.pop(key, None)
        elif key in merged:
            merged[key] = helm_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


@pytest.fixture(scope="module")
def ours() -> dict:
    return yaml.safe_load((DEPLOY / "z2jh" / "values.yaml").read_text())


@pytest.fixture(scope="module")
def values(ours) -> dict:
    return helm_merge(reference("values.yaml"), ours)


@pytest.fixture(scope="module")
def validator():
    schema = reference("values.schema.yaml")
    return jsonschema.validators.validator_for(schema)(schema)


# ---- the chart's schema -----------------------------------------------------------------------

def test_values_pass_the_chart_schema(values, validator):
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator.iter_errors(values)]
    assert errors == []


@pytest.mark.parametrize("path, value", [
    pytest.param(("hub", "config", "primeHubSpawner"), {"role_prefix": "c1"},
                 id="lower-case-config-section"),
    pytest.param(("cull", "timeout"), "1h", id="cull-timeout-not-seconds"),
    pytest.param(("singleuser", "storage", "type"), "primehub", id="unknown-storage-type"),
    pytest.param(("hub", "extraConfg"), {}, id="misspelt-hub-key"),
])
def test_the_schema_check_catches_mistakes(values, validator, path, value):
    """The check above is worth something: a wrong key or value in the same file fails it."""
    broken = copy.deepcopy(values)
    target = broken
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert not validator.is_valid(broken)


# ---- the hub configuration the chart builds -----------------------------------------------------

def chart_hub_config(values: dict) -> Config:
    """What the chart's jupyterhub_config.py makes of the values, for the settings that
    concern us: its own spawner class and namespace first, the singleuser settings it maps,
    then hub.config passed through section by section (so it wins)."""
    c = Config()
    c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
    c.KubeSpawner.namespace = RELEASE_NAMESPACE  # $POD_NAMESPACE in the hub pod
    singleuser = values["singleuser"]
    for trait, key in (("uid", "uid"), ("fs_gid", "fsGid")):
        if singleuser.get(key) is not None:
            c.KubeSpawner[trait] = singleuser[key]
    for trait, key in (("mem_guarantee", "memory"), ("cpu_guarantee", "cpu")):
        if (singleuser.get(key) or {}).get("guarantee") is not None:
            c.KubeSpawner[trait] = singleuser[key]["guarantee"]
    if singleuser["storage"]["type"] == "none":
        c.KubeSpawner.volumes, c.KubeSpawner.volume_mounts = {}, {}
    c.Spawner.cmd = singleuser["cmd"]
    c.Spawner.default_url = singleuser["defaultUrl"]
    for section, settings in values["hub"]["config"].items():
        c[section].update(settings)
    return c


@pytest.fixture
def hub_env(values, monkeypatch) -> dict:
    """hub.extraEnv as the hub pod gets it: each secretKeyRef read from a stand-in Secret."""
    env = {}
    for name, entry in values["hub"]["extraEnv"].items():
        ref = entry["valueFrom"]["secretKeyRef"]
        env[name] = f"stand-in for {ref['name']}/{ref['key']}"
        monkeypatch.setenv(name, env[name])
    return env


@pytest.fixture
def no_cluster(monkeypatch):
    """KubeSpawner loads a kubeconfig and makes a client in __init__: the I/O edge."""
    monkeypatch.setattr(kubespawner.spawner, "load_config", lambda **kwargs: None)
    monkeypatch.setattr(kubespawner.spawner, "shared_client", lambda *args, **kwargs: None)


def test_the_chart_runs_our_classes(values):
    hub = JupyterHub(config=chart_hub_config(values))
    assert hub.authenticator_class is PrimeHubAuthenticator
    assert hub.spawner_class is PrimeHubSpawner


def test_authenticator_settings_arrive(values, hub_env):
    authenticator = PrimeHubAuthenticator(config=chart_hub_config(values))
    settings = values["hub"]["config"]["PrimeHubAuthenticator"]
    for name, value in settings.items():
        assert getattr(authenticator, name) == value, name
    # The client secret comes from the Secret through OAuthenticator's own variable.
    assert authenticator.client_secret == hub_env["OAUTH_CLIENT_SECRET"]
    assert authenticator.admin_client_secret == hub_env["OAUTH_CLIENT_SECRET"]
    assert authenticator.authorize_url.startswith(f"{settings['keycloak_public_url']}/realms/"
                                                  f"{settings['realm']}/")
    assert authenticator.enable_pkce and authenticator.enable_auth_state


def test_spawner_settings_arrive(values, no_cluster):
    spawner = PrimeHubSpawner(config=chart_hub_config(values), _mock=True)
    for section in ("PrimeHubSpawner", "KubeSpawner"):
        for name, value in values["hub"]["config"].get(section, {}).items():
            assert getattr(spawner, name) == value, f"{section}.{name}"
    # Home claims and pods keep PrimeHub's names: nothing in the chart changes them.
    assert spawner.slug_scheme == "escape"
    assert spawner.pvc_name_template == PrimeHubSpawner.pvc_name_template.default_value
    assert spawner.namespace == spawner.catalog_namespace == RELEASE_NAMESPACE
    assert spawner.cmd == ["jupyterhub-singleuser"]
    # The instance type alone decides resources; no chart-wide guarantee is left under it.
    assert (spawner.mem_guarantee, spawner.cpu_guarantee) == (None, None)
    # One home volume: ours (sized from Keycloak), not the chart's as well.
    assert spawner.manage_home_volume and spawner.storage_pvc_ensure
    assert (spawner.volumes, spawner.volume_mounts) == ({}, {})
    assert spawner.home_dir == values["singleuser"]["storage"]["homeMountPath"]


def test_no_secret_is_written_in_the_values(ours):
    def keys(tree, path=()):
        for key, value in tree.items():
            yield (*path, key)
            if isinstance(value, dict):
                yield from keys(value, (*path, key))
    secretive = re.compile(r"secret|password|token|cryptkeeper", re.IGNORECASE)
    named = [".".join(k) for k in keys(ours["hub"]["config"]) if secretive.search(k[-1])]
    assert named == []
    for name, entry in ours["hub"]["extraEnv"].items():
        assert set(entry) == {"valueFrom"} and "secretKeyRef" in entry["valueFrom"], name


def test_idle_culler_is_on_and_in_the_hub_image(values):
    assert values["cull"]["enabled"] and values["cull"]["timeout"] > 0
    # The chart starts it as `python3 -m jupyterhub_idle_culler` inside the hub image.
    assert re.search(r"^jupyterhub-idle-culler==", reference("hub-image-requirements.txt"),
                     re.MULTILINE)


def test_example_config_runs_the_culler_with_a_role_of_its_own():
    app = JupyterHub()
    app.load_config_file("jupyterhub_config.py", path=str(REPO))
    [culler] = [s for s in app.services if s["name"] == "jupyterhub-idle-culler"]
    assert culler["command"][1:3] == ["-m", "jupyterhub_idle_culler"]
    [role] = [r for r in app.load_roles if r["services"] == ["jupyterhub-idle-culler"]]
    # The scopes the chart gives it: list users, read activity and servers, stop servers.
    assert set(role["scopes"]) == {"list:users", "read:users:activity", "read:servers",
                                   "delete:servers"}


# ---- the hub image and the versions that go together ------------------------------------------

def dockerfile() -> tuple[dict[str, str], list[str]]:
    """(ARG defaults, FROM images with ARGs expanded) of deploy/hub-image/Dockerfile."""
    text = (DEPLOY / "hub-image" / "Dockerfile").read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.MULTILINE))
    images = [re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
              for image in re.findall(r"^FROM (\S+)", text, re.MULTILINE)]
    return args, images


def test_hub_image_builds_on_the_charts_hub_image(values):
    args, images = dockerfile()
    chart_hub_image = reference("values.yaml")["hub"]["image"]["name"]
    assert images == [f"{chart_hub_image}:{args['Z2JH_VERSION']}"] * 2
    assert args["PRIMEHUB_SPAWNER_VERSION"] == __version__


def test_values_name_the_image_of_this_chart_and_package_version(ours):
    args, _ = dockerfile()
    assert ours["hub"]["image"]["tag"] == f"{args['Z2JH_VERSION']}-{__version__}"


@pytest.mark.parametrize("path", ["deploy/z2jh/values.yaml", "README.md"])
def test_helm_commands_install_the_chart_version_of_the_image(path):
    args, _ = dockerfile()
    versions = re.findall(r"helm upgrade --install .*?--version (\S+)",
                          (REPO / path).read_text(), re.DOTALL)
    assert versions and set(versions) == {args["Z2JH_VERSION"]}


# ---- RBAC for the custom resources ---------------------------------------------------------------

def test_rbac_grants_the_charts_hub_account_what_crds_rbac_grants(ours):
    role, binding = yaml.safe_load_all((DEPLOY / "z2jh" / "rbac.yaml").read_text())
    crd_role = next(yaml.safe_load_all((REPO / "crds" / "rbac.yaml").read_text()))
    # The same rule for the custom resources as crds/rbac.yaml, the hub's full Role.
    assert role["rules"] == [r for r in crd_role["rules"] if r["apiGroups"] == ["primehub.io"]]
    namespace = ours["hub"]["config"]["PrimeHubSpawner"]["catalog_namespace"]
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == namespace
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    # The chart's hub ServiceAccount is `hub` (no fullnameOverride) in the release namespace.
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "hub",
                                    "namespace": RELEASE_NAMESPACE}]
