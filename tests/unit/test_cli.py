"""`primehub-spawner`: its arguments, and what keycloak-setup decides from what Keycloak
returns (the pure half of keycloak_setup.py). The command against a real Keycloak is in
tests/stack/test_keycloak_setup.py."""
from __future__ import annotations

import argparse
import os
import stat

import pytest

from primehub_spawner import cli
from primehub_spawner.keycloak_setup import (
    ClientSpec,
    Finding,
    covers,
    new_client,
    plan_client,
    plan_everyone,
    plan_service_account,
)

SPEC = ClientSpec(client_id="jupyterhub", hub_url="https://hub.example.org")
CALLBACK = "https://hub.example.org/hub/oauth_callback"
GOOD = {**new_client(SPEC), "id": "c0ffee"}


# ---- arguments --------------------------------------------------------------------------------

def parse(*argv):
    return cli.parser().parse_args(["keycloak-setup", *argv])


@pytest.mark.parametrize("argv, expected", [
    pytest.param(["--keycloak-url", "https://id.example.org/", "--hub-url", "https://hub.example.org/"],
                 {"keycloak_url": "https://id.example.org", "hub_url": "https://hub.example.org",
                  "realm": "primehub", "admin_realm": "master", "client_id": "jupyterhub",
                  "everyone_group": "everyone", "check": False, "secret_file": None},
                 id="defaults-and-trailing-slashes"),
    pytest.param(["--keycloak-url", "http://kc:8080", "--hub-url", "https://example.org/jupyter",
                  "--realm", "r", "--admin-realm", "ops", "--client-id", "hub",
                  "--everyone-group", "all", "--check"],
                 {"keycloak_url": "http://kc:8080", "hub_url": "https://example.org/jupyter",
                  "realm": "r", "admin_realm": "ops", "client_id": "hub", "everyone_group": "all",
                  "check": True},
                 id="everything-given"),
])
def test_keycloak_setup_arguments(argv, expected):
    args = parse(*argv)
    assert {key: getattr(args, key) for key in expected} == expected
    assert args.run is cli.run_keycloak_setup


@pytest.mark.parametrize("argv, message", [
    pytest.param(["--hub-url", "https://hub"], "--keycloak-url", id="no-keycloak-url"),
    pytest.param(["--keycloak-url", "https://id"], "--hub-url", id="no-hub-url"),
    pytest.param(["--keycloak-url", "id.example.org", "--hub-url", "https://hub"],
                 "must start with http:// or https://", id="keycloak-url-without-scheme"),
    pytest.param(["--keycloak-url", "https://id/realms/primehub", "--hub-url", "https://hub"],
                 "give Keycloak's base URL and the realm with --realm", id="realm-url"),
    pytest.param(["--keycloak-url", "https://id", "--hub-url", "hub.example.org"],
                 "must start with http:// or https://", id="hub-url-without-scheme"),
    pytest.param(["--keycloak-url", "https://id", "--hub-url", "https://hub", "--password", "x"],
                 "unrecognized arguments: --password", id="no-password-option"),
])
def test_bad_arguments_are_refused_with_a_reason(argv, message, monkeypatch, capsys):
    monkeypatch.delenv("KEYCLOAK_URL", raising=False)
    with pytest.raises(SystemExit) as exit_:
        parse(*argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_keycloak_url_defaults_to_the_environment(monkeypatch):
    monkeypatch.setenv("KEYCLOAK_URL", "https://id.example.org")
    assert parse("--hub-url", "https://hub").keycloak_url == "https://id.example.org"


def test_a_command_is_required(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.parser().parse_args([])
    assert exit_.value.code == 2
    assert "the following arguments are required: COMMAND" in capsys.readouterr().err


@pytest.mark.parametrize("environ", [
    pytest.param({}, id="none"),
    pytest.param({"KEYCLOAK_ADMIN_USER": "admin"}, id="no-password"),
    pytest.param({"KEYCLOAK_ADMIN_PASSWORD": "s3cret"}, id="no-user"),
])
def test_admin_credentials_come_from_the_environment(environ):
    with pytest.raises(cli.UsageError, match="Set KEYCLOAK_ADMIN_USER and KEYCLOAK_ADMIN_PASSWORD"):
        cli.admin_credentials(environ)


@pytest.mark.parametrize("extra, environ, sentence", [
    pytest.param([], {}, "Set KEYCLOAK_ADMIN_USER and KEYCLOAK_ADMIN_PASSWORD",
                 id="no-credentials"),
    pytest.param(["--check", "--secret-file", "s"],
                 {"KEYCLOAK_ADMIN_USER": "a", "KEYCLOAK_ADMIN_PASSWORD": "p"},
                 "--check changes nothing and writes nothing; drop --secret-file.",
                 id="check-with-secret-file"),
])
def test_usage_problems_exit_2_before_any_call(extra, environ, sentence, monkeypatch, capsys):
    monkeypatch.delenv("KEYCLOAK_ADMIN_USER", raising=False)
    monkeypatch.delenv("KEYCLOAK_ADMIN_PASSWORD", raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    # Port 9 (discard) on loopback: any call to Keycloak would fail differently.
    status = cli.main(["keycloak-setup", "--keycloak-url", "http://127.0.0.1:9", "--hub-url",
                       "https://hub", *extra])
    assert status == 2
    assert capsys.readouterr().err.startswith(f"primehub-spawner keycloak-setup: {sentence}")


class Failure(Exception):
    def __init__(self, code, message):
        self.response_code, self.error_message = code, message


ARGS = argparse.Namespace(keycloak_url="https://id", realm="primehub", admin_realm="master")


@pytest.mark.parametrize("error, sentence", [
    pytest.param(Failure(401, b'{"error":"unauthorized"}'),
                 "Keycloak at https://id refused the admin credentials in $KEYCLOAK_ADMIN_USER "
                 "and $KEYCLOAK_ADMIN_PASSWORD (realm master).", id="401"),
    pytest.param(Failure(400, b'{"error":"invalid_grant"}'),
                 "Keycloak at https://id refused the admin credentials in $KEYCLOAK_ADMIN_USER "
                 "and $KEYCLOAK_ADMIN_PASSWORD (realm master).", id="400-invalid-grant"),
    pytest.param(Failure(403, b""), "The admin in $KEYCLOAK_ADMIN_USER may not manage realm "
                 "primehub (Keycloak answered 403).", id="403"),
    pytest.param(Failure(None, "Can't connect to server"),
                 "Keycloak at https://id could not be reached: Can't connect to server",
                 id="unreachable"),
    pytest.param(Failure(500, b"boom"), "Keycloak at https://id answered 500: boom", id="other"),
])
def test_keycloak_failures_are_sentences(error, sentence):
    assert cli.keycloak_failure(error, ARGS) == sentence


@pytest.mark.parametrize("existing_mode", [None, 0o644], ids=["new-file", "readable-file"])
def test_secret_file_is_private_from_the_start(tmp_path, existing_mode):
    path = tmp_path / "secret"
    if existing_mode:
        path.write_text("old")
        path.chmod(existing_mode)
    cli._write_secret(path, "value")
    assert path.read_text() == "value"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


# ---- the client ---------------------------------------------------------------------------------

@pytest.mark.parametrize("registered, uri, accepted", [
    pytest.param(CALLBACK, CALLBACK, True, id="exact"),
    pytest.param("https://hub.example.org/*", CALLBACK, True, id="prefix-wildcard"),
    pytest.param("*", CALLBACK, True, id="anything"),
    pytest.param("https://hub.example.org/hub/", CALLBACK, False, id="other-path"),
    pytest.param("https://other.example.org/*", CALLBACK, False, id="other-host"),
])
def test_covers(registered, uri, accepted):
    assert covers(registered, uri) is accepted


def test_a_missing_client_is_created_as_the_hub_needs_it():
    findings, representation = plan_client(None, SPEC)
    assert [f.wrong for f in findings] == ["client jupyterhub does not exist"]
    assert representation["publicClient"] is False
    assert representation["standardFlowEnabled"] and representation["serviceAccountsEnabled"]
    assert representation["redirectUris"] == [CALLBACK]
    assert representation["attributes"] == {"pkce.code.challenge.method": "S256",
                                             "post.logout.redirect.uris": "https://hub.example.org/hub/"}


def with_(attributes=None, **top):
    client = {**GOOD, **top, "attributes": {**GOOD["attributes"], **(attributes or {})}}
    return {k: v for k, v in client.items() if v is not None}


@pytest.mark.parametrize("current, findings, changed", [
    pytest.param(with_(), [], {}, id="as-created"),
    pytest.param(with_(redirectUris=["https://hub.example.org/*"],
                       attributes={"post.logout.redirect.uris": "+"}),
                 [], {}, id="wildcard-and-plus-accepted"),
    pytest.param(with_(enabled=False),
                 [Finding("client jupyterhub is disabled", "client jupyterhub: enabled it")],
                 {"enabled": True}, id="disabled"),
    pytest.param(with_(publicClient=True),
                 [Finding("client jupyterhub is public; the hub needs a confidential client with a "
                          "secret", "client jupyterhub: made it confidential")],
                 {"publicClient": False}, id="public"),
    pytest.param(with_(clientAuthenticatorType="client-jwt"),
                 [Finding("client jupyterhub does not authenticate with a client secret",
                          "client jupyterhub: set it to authenticate with a client secret")],
                 {"clientAuthenticatorType": "client-secret"}, id="signed-jwt"),
    pytest.param(with_(standardFlowEnabled=False),
                 [Finding("client jupyterhub has the standard flow (authorization code) off",
                          "client jupyterhub: turned the standard flow on")],
                 {"standardFlowEnabled": True}, id="no-standard-flow"),
    pytest.param(with_(serviceAccountsEnabled=False),
                 [Finding("client jupyterhub has service accounts off; the hub reads groups and "
                          "roles through its service account",
                          "client jupyterhub: turned service accounts on")],
                 {"serviceAccountsEnabled": True}, id="no-service-account"),
    pytest.param(with_(attributes={"pkce.code.challenge.method": "plain"}),
                 [Finding("client jupyterhub does not require PKCE with S256 "
                          "(pkce.code.challenge.method is plain)",
                          "client jupyterhub: required PKCE with S256")],
                 {"attributes": {"pkce.code.challenge.method": "S256"}}, id="pkce-plain"),
    pytest.param(with_(redirectUris=["https://old.example.org/hub/oauth_callback"]),
                 [Finding(f"client jupyterhub does not accept the redirect URI {CALLBACK}",
                          f"client jupyterhub: added the redirect URI {CALLBACK}")],
                 {"redirectUris": ["https://old.example.org/hub/oauth_callback", CALLBACK]},
                 id="other-redirect-kept-ours-added"),
    pytest.param(with_(attributes={"post.logout.redirect.uris": "https://a/##https://b/"}),
                 [Finding("client jupyterhub does not accept the post-logout redirect URI "
                          "https://hub.example.org/hub/",
                          "client jupyterhub: added the post-logout redirect URI "
                          "https://hub.example.org/hub/")],
                 {"attributes": {"post.logout.redirect.uris":
                                 "https://a/##https://b/##https://hub.example.org/hub/"}},
                 id="post-logout-appended"),
])
def test_plan_client(current, findings, changed):
    found, representation = plan_client(current, SPEC)
    assert found == findings
    if not changed:
        assert representation is None
        return
    for key, value in changed.items():
        if key == "attributes":
            assert representation["attributes"] == {**current["attributes"], **value}
        else:
            assert representation[key] == value
    untouched = set(current) - set(changed)
    assert {k: representation[k] for k in untouched} == {k: current[k] for k in untouched}


def test_a_client_without_attributes_gets_them():
    found, representation = plan_client({**GOOD, "attributes": None}, SPEC)
    assert len(found) == 2  # PKCE and the post-logout redirect URI
    assert representation["attributes"] == GOOD["attributes"]


def test_a_client_wrong_in_every_way_is_put_right_in_one_update():
    broken = with_(enabled=False, publicClient=True, standardFlowEnabled=False,
                   redirectUris=[], attributes={"pkce.code.challenge.method": None,
                                                "post.logout.redirect.uris": None})
    found, representation = plan_client(broken, SPEC)
    assert len(found) == 6
    assert plan_client(representation, SPEC) == ([], None)


# ---- the service account ------------------------------------------------------------------------

IMPLIED = {"query-users", "query-groups", "query-clients"}
WHO = "the service account of client jupyterhub"


@pytest.mark.parametrize("direct, effective, wrong, grant", [
    pytest.param({"view-users", "view-clients"}, {"view-users", "view-clients", *IMPLIED},
                 [], [], id="exactly-right"),
    pytest.param(set(), set(),
                 [f"{WHO} lacks view-clients and view-users of realm-management"],
                 ["view-clients", "view-users"], id="new-account"),
    pytest.param({"view-users"}, {"view-users", "query-users", "query-groups"},
                 [f"{WHO} lacks view-clients of realm-management"], ["view-clients"],
                 id="one-missing"),
    pytest.param({"view-users", "view-clients", "manage-users"},
                 {"view-users", "view-clients", "manage-users", *IMPLIED},
                 [(f"{WHO} holds manage-users of realm-management, which the hub does not need; "
                   "remove it in Keycloak")], [], id="extra-direct-role"),
    pytest.param({"view-users", "view-clients"},
                 {"view-users", "view-clients", "realm-admin", *IMPLIED},
                 [(f"{WHO} holds realm-admin of realm-management through a group or a composite "
                   "role, which the hub does not need; remove it in Keycloak")], [],
                 id="extra-through-a-group"),
])
def test_plan_service_account(direct, effective, wrong, grant):
    findings, to_grant = plan_service_account("jupyterhub", direct, effective, IMPLIED)
    assert [f.wrong for f in findings] == wrong
    assert to_grant == grant
    # Missing roles are granted; extra ones are only reported.
    assert [f.fix is not None for f in findings] == [w.startswith(f"{WHO} lacks") for w in wrong]


# ---- the everyone group -----------------------------------------------------------------------

@pytest.mark.parametrize("group, defaults, wrong, create, make_default", [
    pytest.param({"id": "g", "name": "everyone", "path": "/everyone"}, ["/everyone"], [],
                 False, False, id="default-group"),
    pytest.param(None, [], ["group everyone does not exist"], True, True, id="missing"),
    pytest.param({"id": "g", "name": "everyone", "path": "/everyone"}, ["/staff"],
                 ["group everyone is not a default group, so new users do not join it"],
                 False, True, id="not-default"),
])
def test_plan_everyone(group, defaults, wrong, create, make_default):
    findings, create_, make_default_ = plan_everyone("everyone", group, defaults)
    assert [f.wrong for f in findings] == wrong
    assert (create_, make_default_) == (create, make_default)
    assert all(f.fix for f in findings)
