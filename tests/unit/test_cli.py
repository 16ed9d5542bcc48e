"""`primehub-spawner`: its arguments, and what keycloak-setup decides from what Keycloak
returns (the pure half of keycloak_setup.py). The command against a real Keycloak is in
tests/stack/test_keycloak_setup.py."""
from __future__ import annotations

import argparse
import os
import stat
from pathlib import Path

import httpx
import pytest
from builders import dataset_cr, image_cr, instance_type_cr, make_group, make_pod, make_user

from primehub_spawner import cli
from primehub_spawner.keycloak import KeycloakError, KeycloakUnavailable
from primehub_spawner.keycloak_setup import (
    ClientSpec,
    Finding,
    covers,
    new_client,
    plan_client,
    plan_everyone,
    plan_service_account,
)
from primehub_spawner.labels import escape_label

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


# ---- check and explain ------------------------------------------------------------------------

CLUSTER = {"InstanceType": [instance_type_cr("small"), instance_type_cr("broken",
                                                                         **{"limits.cpu": None})],
           "Image": [image_cr("base")], "Dataset": [dataset_cr("data")]}
KEYCLOAK = ["--keycloak-url", "http://127.0.0.1:9"]
CREDENTIALS = {"KEYCLOAK_ADMIN_USER": "admin", "KEYCLOAK_ADMIN_PASSWORD": "s3cret"}


@pytest.mark.parametrize("argv, expected", [
    pytest.param(["check", *KEYCLOAK],
                 {"namespace": "hub", "kubeconfig": None, "role_prefix": "", "realm": "primehub",
                  "admin_realm": "master", "run": cli.run_check}, id="check-defaults"),
    pytest.param(["check", *KEYCLOAK, "--namespace", "ns", "--kubeconfig", "k.yaml",
                  "--role-prefix", "c1", "--realm", "r"],
                 {"namespace": "ns", "kubeconfig": Path("k.yaml"), "role_prefix": "c1",
                  "realm": "r"}, id="check-everything-given"),
    pytest.param(["explain", "alice", *KEYCLOAK],
                 {"user": "alice", "group": None, "everyone_group": "everyone", "namespace": "hub",
                  "run": cli.run_explain}, id="explain-defaults"),
    pytest.param(["explain", "alice", "--group", "/a/team", "--everyone-group", "all",
                  *KEYCLOAK], {"group": "/a/team", "everyone_group": "all"},
                 id="explain-group"),
])
def test_check_and_explain_arguments(argv, expected, monkeypatch):
    monkeypatch.delenv("PRIMEHUB_NAMESPACE", raising=False)
    args = cli.parser().parse_args(argv)
    assert {key: getattr(args, key) for key in expected} == expected


def test_the_namespace_defaults_to_the_environment(monkeypatch):
    monkeypatch.setenv("PRIMEHUB_NAMESPACE", "team")
    assert cli.parser().parse_args(["check", *KEYCLOAK]).namespace == "team"


@pytest.mark.parametrize("prefix", ["c1:", " c1", "a b:"])
def test_a_role_prefix_with_a_colon_or_spaces_is_refused(prefix, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.parser().parse_args(["check", *KEYCLOAK, "--role-prefix", prefix])
    assert exit_.value.code == 2
    assert "must not contain ':' or spaces" in capsys.readouterr().err


def test_explain_needs_a_user(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.parser().parse_args(["explain", *KEYCLOAK])
    assert exit_.value.code == 2
    assert "the following arguments are required: user" in capsys.readouterr().err


class FakeOperatorKeycloak:
    """The realm at the I/O edge: its role names and the demo users' entitlements."""
    roles = ("it:small", "it:ghost", "img:base", "ds:data", "offline_access")

    def __init__(self, args):
        pass

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        pass

    async def realm_roles(self):
        return list(self.roles)

    async def user_entitlements(self, username):
        user = make_user([make_group("lab", ["it:small", "img:base", "ds:data"])],
                         make_group("everyone", ["it:broken"]), username=username)
        return user


@pytest.fixture
def edge(monkeypatch):
    """The cluster and the realm as the commands read them; what each read asked for."""
    asked = []

    async def read_cluster(args, pods=False):
        asked.append((args.namespace, pods))
        pod = make_pod("jupyter-alice", escape_label("alice"), escape_label("lab"), {"cpu": "1"})
        return CLUSTER, [pod] if pods else []
    monkeypatch.setattr(cli, "read_cluster", read_cluster)
    monkeypatch.setattr(cli, "OperatorKeycloak", FakeOperatorKeycloak)
    return asked


def test_check_lists_each_problem_and_exits_1(edge, capsys):
    status = cli.main(["check", *KEYCLOAK])
    out, err = capsys.readouterr()
    assert (status, err) == (1, "")
    assert out.splitlines() == [
        "InstanceType broken is left out of every menu: limits.cpu is required",
        "role it:ghost names no InstanceType: there is no InstanceType ghost in namespace hub"]
    assert edge == [("hub", False)]


def test_check_exits_0_when_nothing_is_wrong(edge, monkeypatch, capsys):
    monkeypatch.setitem(CLUSTER, "InstanceType", [instance_type_cr("small")])
    monkeypatch.setattr(FakeOperatorKeycloak, "roles", ("it:small", "offline_access"))
    assert cli.main(["check", *KEYCLOAK, "--namespace", "ns"]) == 0
    assert capsys.readouterr().out == (
        "Nothing wrong: 1 instance types, 1 images and 1 datasets in namespace ns; every "
        "access role of realm primehub names one of them.\n")


def test_explain_prints_a_table_per_group(edge, capsys):
    assert cli.main(["explain", "alice", *KEYCLOAK]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[:3] == ["User alice", "", "Group lab"]
    assert "  small          available  lab (it:small)        Granted by lab through it:small." \
        in lines
    assert any(line.split()[:3] == ["broken", "malformed", "everyone"] for line in lines)
    assert edge == [("hub", True)]


def test_explain_of_a_group_the_user_is_not_in_exits_1(edge, capsys):
    assert cli.main(["explain", "alice", "--group", "nope", *KEYCLOAK]) == 1
    assert capsys.readouterr().out == "User alice\nalice is not a member of group 'nope'.\n"


def test_check_without_credentials_exits_2(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("KEYCLOAK_ADMIN_USER", raising=False)
    kubeconfig = tmp_path / "missing.yaml"
    assert cli.main(["check", *KEYCLOAK, "--kubeconfig", str(kubeconfig)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"primehub-spawner check: Could not read Kubernetes credentials from "
                          f"kubeconfig {kubeconfig}")
    assert "Traceback" not in err


def test_an_unreachable_api_server_is_a_sentence(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "TIMEOUT", 2)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: k, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t0ken}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n")
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["check", *KEYCLOAK, "--kubeconfig", str(kubeconfig)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("primehub-spawner check: Kubernetes at http://127.0.0.1:9 could not be "
                          "reached (")
    assert "t0ken" not in err and "Traceback" not in err


def keycloak_at(handler):
    args = cli.parser().parse_args(["check", "--keycloak-url", "https://id"])
    return cli.OperatorKeycloak(args, environ=CREDENTIALS,
                                transport=httpx.MockTransport(handler))


async def test_the_operator_logs_in_as_the_admin_and_reads_the_roles():
    seen = []

    def handler(request):
        seen.append((request.method, request.url.path, request.headers.get("authorization")))
        if request.url.path == "/realms/master/protocol/openid-connect/token":
            form = dict(x.split("=") for x in request.content.decode().split("&"))
            assert form == {"grant_type": "password", "client_id": "admin-cli",
                            "username": "admin", "password": "s3cret"}
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 60})
        return httpx.Response(200, json=[{"name": "it:small"}, {"name": "offline_access"}])

    async with keycloak_at(handler) as keycloak:
        assert await keycloak.realm_roles() == ["it:small", "offline_access"]
        assert await keycloak.realm_roles() == ["it:small", "offline_access"]
    assert seen == [("POST", "/realms/master/protocol/openid-connect/token", None),
                    ("GET", "/admin/realms/primehub/roles", "Bearer tok"),
                    ("GET", "/admin/realms/primehub/roles", "Bearer tok")]


@pytest.mark.parametrize("token, roles, sentence", [
    pytest.param(httpx.Response(401, json={"error": "unauthorized"}), None,
                 "Keycloak at https://id refused the admin credentials in $KEYCLOAK_ADMIN_USER "
                 "and $KEYCLOAK_ADMIN_PASSWORD (realm master).", id="refused"),
    pytest.param(httpx.Response(400, json={"error": "invalid_grant"}), None,
                 "Keycloak at https://id refused the admin credentials in $KEYCLOAK_ADMIN_USER "
                 "and $KEYCLOAK_ADMIN_PASSWORD (realm master).", id="invalid-grant"),
    pytest.param(httpx.Response(200, text="<html>proxy</html>"), None,
                 "Keycloak at https://id answered the admin login with HTTP 200 and no token.",
                 id="not-json"),
    pytest.param(httpx.Response(200, json={"access_token": "tok"}), httpx.Response(404),
                 "Realm primehub does not exist in https://id.", id="no-realm"),
    pytest.param(httpx.Response(200, json={"access_token": "tok"}),
                 httpx.Response(200, json={"roles": []}),
                 "Keycloak at https://id answered the realm's roles in a shape the Admin API "
                 "does not have.", id="odd-roles"),
])
async def test_keycloak_answers_are_sentences(token, roles, sentence, capsys):
    def handler(request):
        return token if request.url.path.endswith("/token") else roles

    async with keycloak_at(handler) as keycloak:
        with pytest.raises((KeycloakError, KeycloakUnavailable)) as raised:
            await keycloak.realm_roles()
    assert str(raised.value) == sentence
    assert "s3cret" not in str(raised.value)
