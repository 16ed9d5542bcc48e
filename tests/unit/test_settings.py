"""A wrong spawner setting fails when the hub starts, with a sentence naming it."""
from __future__ import annotations

import kubespawner.spawner
import pytest

from primehub_spawner.spawner import PrimeHubSpawner


@pytest.fixture(autouse=True)
def no_cluster(monkeypatch):
    """KubeSpawner loads a kubeconfig and makes a client in __init__: the I/O edge."""
    monkeypatch.setattr(kubespawner.spawner, "load_config", lambda **kwargs: None)
    monkeypatch.setattr(kubespawner.spawner, "shared_client", lambda *args, **kwargs: None)


@pytest.mark.parametrize("setting, value, sentence", [
    pytest.param("default_home_size", "lots", "default_home_size 'lots' is not a size", id="home-size"),
    pytest.param("dataset_mount_root", "data; rm -rf /", "dataset_mount_root", id="mount-root-shell"),
    pytest.param("project_root", "relative/path", "project_root", id="project-root-relative"),
    pytest.param("project_root", "/project\n", "project_root", id="project-root-trailing-newline"),
    pytest.param("home_dir", "/home/../etc", "home_dir", id="home-dir-parent-step"),
    pytest.param("home_dir", "/home/$USER", "home_dir", id="home-dir-variable"),
    pytest.param("role_prefix", "c1:", "role_prefix 'c1:' must not contain ':'", id="prefix-colon"),
])
def test_bad_settings_are_refused(setting, value, sentence):
    with pytest.raises(ValueError, match=sentence.replace("(", r"\(").replace("$", r"\$")):
        PrimeHubSpawner(_mock=True, **{setting: value})


@pytest.mark.parametrize("setting, value, stored", [
    pytest.param("dataset_mount_root", "/data/", "/data", id="trailing-slash"),
    pytest.param("default_home_size", "10Gi", "10Gi", id="binary-size"),
    pytest.param("role_prefix", "c1", "c1", id="prefix"),
])
def test_good_settings_are_kept(setting, value, stored):
    assert getattr(PrimeHubSpawner(_mock=True, **{setting: value}), setting) == stored
