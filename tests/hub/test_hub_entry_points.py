"""The package as JupyterHub loads it: entry points named `primehub`, and the repository's
`jupyterhub_config.py` read the way `jupyterhub -f jupyterhub_config.py` reads it.

Needs the package installed (`pip install -e .`), as the README says.
"""
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from jupyterhub.app import JupyterHub

from primehub_spawner import PrimeHubAuthenticator, PrimeHubSpawner

REPO = Path(__file__).parents[2]


@pytest.mark.parametrize("group, cls", [
    ("jupyterhub.spawners", PrimeHubSpawner),
    ("jupyterhub.authenticators", PrimeHubAuthenticator),
])
def test_entry_point_primehub_resolves(group, cls):
    [entry_point] = [e for e in entry_points(group=group) if e.name == "primehub"]
    assert entry_point.load() is cls


def test_jupyterhub_resolves_the_short_names():
    app = JupyterHub()
    app.authenticator_class = "primehub"
    app.spawner_class = "primehub"
    assert app.authenticator_class is PrimeHubAuthenticator
    assert app.spawner_class is PrimeHubSpawner


@pytest.fixture
def example_config(monkeypatch):
    monkeypatch.setenv("KEYCLOAK_CLIENT_SECRET", "example-secret")
    app = JupyterHub()
    app.load_config_file("jupyterhub_config.py", path=str(REPO))
    return app


def test_example_config_loads_the_plugin(example_config):
    app = example_config
    assert app.authenticator_class is PrimeHubAuthenticator
    assert app.spawner_class is PrimeHubSpawner
    auth = PrimeHubAuthenticator(parent=app)
    assert auth.client_secret == "example-secret"
    assert auth.authorize_url == ("https://id.example.org/realms/primehub/protocol/"
                                  "openid-connect/auth")
    assert auth.token_url.startswith("http://keycloak.hub.svc:8080/realms/primehub/")
    for template in app.template_paths:
        assert (Path(template) / "home.html").is_file()


@pytest.mark.parametrize("section, cls", [
    ("JupyterHub", JupyterHub),
    ("PrimeHubAuthenticator", PrimeHubAuthenticator),
    ("PrimeHubSpawner", PrimeHubSpawner),
    ("KubeSpawner", PrimeHubSpawner),
])
def test_example_config_sets_only_real_settings(example_config, section, cls):
    settings = cls.class_trait_names(config=True)
    unknown = sorted(set(example_config.config[section]) - set(settings))
    assert unknown == [], f"{section} settings that {cls.__name__} does not have: {unknown}"
