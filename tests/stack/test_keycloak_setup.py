"""`primehub-spawner keycloak-setup` against the dev stack's real Keycloak, on a realm of its
own that the test creates and deletes: the first run creates everything, the second changes
nothing, `--check` on a broken client says exactly what is wrong. Only Keycloak is needed;
it is started when it does not run (and stopped again). Fails, never skips, when it cannot.
"""
from __future__ import annotations

import os
import stat
import uuid

import httpx
import jwt
import pytest
from keycloak import KeycloakAdmin

from devstack import keycloak, proc
from primehub_spawner.cli import main

pytestmark = pytest.mark.stack

HUB = "https://hub.example.org"
SERVICE_ACCOUNT_TOKEN_ROLES = {"view-users", "view-clients", "query-users", "query-groups",
                               "query-clients"}


@pytest.fixture(scope="module")
def keycloak_server():
    already = proc.pid_of(keycloak.NAME)
    try:
        keycloak.start()
    except proc.PartFailed as e:
        pytest.fail(f"Keycloak did not start: {e}", pytrace=False)
    yield
    if not already:
        keycloak.stop()


@pytest.fixture(scope="module")
def realm(keycloak_server):
    """A fresh realm, deleted afterwards; and a master-realm admin client bound to it."""
    name = f"setup-{uuid.uuid4().hex[:8]}"
    master = KeycloakAdmin(server_url=f"{keycloak.URL}/", username=keycloak.ADMIN[0],
                           password=keycloak.ADMIN[1], realm_name="master")
    master.create_realm({"realm": name, "enabled": True})
    admin = KeycloakAdmin(server_url=f"{keycloak.URL}/", username=keycloak.ADMIN[0],
                          password=keycloak.ADMIN[1], realm_name=name, user_realm_name="master")
    yield name, admin
    master.delete_realm(name)


@pytest.fixture
def setup(realm, monkeypatch, capsys):
    """Run the command as an operator would; returns (exit status, stdout lines, stderr)."""
    monkeypatch.setenv("KEYCLOAK_ADMIN_USER", keycloak.ADMIN[0])
    monkeypatch.setenv("KEYCLOAK_ADMIN_PASSWORD", keycloak.ADMIN[1])

    def run(*extra: str) -> tuple[int, list[str], str]:
        status = main(["keycloak-setup", "--keycloak-url", keycloak.URL, "--realm", realm[0],
                       "--hub-url", HUB, *extra])
        out, err = capsys.readouterr()
        return status, out.splitlines(), err
    return run


def service_account_roles(realm_name: str, secret: str) -> set[str]:
    """The realm-management roles in a client-credentials token: what the hub will hold."""
    response = httpx.post(f"{keycloak.URL}/realms/{realm_name}/protocol/openid-connect/token",
                          data={"grant_type": "client_credentials", "client_id": "jupyterhub",
                                "client_secret": secret}, timeout=30)
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    return set(claims["resource_access"]["realm-management"]["roles"])


def test_first_run_creates_everything_then_nothing_changes(realm, setup, tmp_path):
    name, admin = realm
    secret_file = tmp_path / "client-secret"

    status, lines, err = setup("--secret-file", str(secret_file))

    assert (status, err) == (0, "")
    assert lines == [
        ("created client jupyterhub: confidential, standard flow, PKCE S256, service account, "
         f"redirect URI {HUB}/hub/oauth_callback, post-logout redirect URI {HUB}/hub/"),
        ("the service account of client jupyterhub: granted view-clients and view-users of "
         "realm-management"),
        ("created group everyone as a default group (users created from now on join it; add "
         "the existing ones in Keycloak)"),
        f"Wrote the secret of client jupyterhub to {secret_file}.",
    ]
    client = admin.get_client(admin.get_client_id("jupyterhub"))
    assert (client["publicClient"], client["standardFlowEnabled"],
            client["serviceAccountsEnabled"]) == (False, True, True)
    assert client["redirectUris"] == [f"{HUB}/hub/oauth_callback"]
    assert client["attributes"]["pkce.code.challenge.method"] == "S256"
    assert client["attributes"]["post.logout.redirect.uris"] == f"{HUB}/hub/"
    secret = secret_file.read_text()
    assert secret == admin.get_client_secrets(client["id"])["value"]
    assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
    assert service_account_roles(name, secret) == SERVICE_ACCOUNT_TOKEN_ROLES
    assert admin.get_group_by_path("/everyone")["name"] == "everyone"

    status, lines, err = setup()
    assert (status, err) == (0, "")
    assert lines == [(f"Nothing to change: client jupyterhub, its service account and group "
                      f"everyone are as the hub needs them in realm {name}.")]
    assert setup("--check") == (0, [], "")


def test_check_on_a_broken_client_says_exactly_what_is_wrong(realm, setup):
    _, admin = realm
    setup()  # everything in place, whatever ran before
    client_uuid = admin.get_client_id("jupyterhub")
    client = admin.get_client(client_uuid)
    client["attributes"]["pkce.code.challenge.method"] = ""
    admin.update_client(client_uuid, client)
    management = admin.get_client_id("realm-management")
    account = admin.get_client_service_account_user(client_uuid)["id"]
    admin.assign_client_role(account, management,
                             [admin.get_client_role(management, "manage-users")])

    pkce = ("client jupyterhub does not require PKCE with S256 "
            "(pkce.code.challenge.method is unset)")
    extra = ("the service account of client jupyterhub holds manage-users of realm-management, "
             "which the hub does not need; remove it in Keycloak")
    assert setup("--check") == (1, [pkce, extra], "")
    # Keycloak drops an emptied attribute.
    assert "pkce.code.challenge.method" not in admin.get_client(client_uuid)["attributes"], \
        "--check changes nothing"

    # keycloak-setup puts PKCE right, reports the extra role and leaves it.
    assert setup() == (1, ["client jupyterhub: required PKCE with S256", extra], "")
    assert setup("--check") == (1, [extra], "")


def test_refused_admin_credentials_are_a_sentence_without_the_password(setup, monkeypatch):
    monkeypatch.setenv("KEYCLOAK_ADMIN_PASSWORD", "not-the-password")
    status, lines, err = setup("--check")
    assert (status, lines) == (2, [])
    assert "refused the admin credentials in $KEYCLOAK_ADMIN_USER and $KEYCLOAK_ADMIN_PASSWORD" \
        in err
    assert "not-the-password" not in err


def test_a_missing_realm_is_named(setup):
    status, lines, err = setup("--realm", "no-such-realm", "--check")
    assert (status, lines) == (2, [])
    assert err == (f"primehub-spawner keycloak-setup: Realm no-such-realm does not exist in "
                   f"{keycloak.URL}.\n")


def test_the_dev_realm_passes_the_check(setup):
    """The hand-written dev realm (wildcard redirect URIs, post-logout `+`) is what
    keycloak-setup would make, as far as the hub is concerned."""
    assert setup("--realm", keycloak.REALM, "--hub-url", "http://127.0.0.1:18000",
                 "--check") == (0, [], "")
