"""PrimeHubAuthenticator as the hub's authenticator (DESIGN §3, §6).

Logins go through the hub's real /hub/oauth_login and /hub/oauth_callback; the realm's OIDC
endpoints are `FakeOIDC` (ID tokens really signed with RS256, so verification is really
exercised) and the Admin REST client is `FakeKeycloakAdmin`, whose realm a test changes
between login and start to prove that a start re-reads the entitlements.
"""
import time
from urllib.parse import urlparse

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from doubles import DownKeycloakAdmin, FakeOIDC, query_of
from jupyterhub import orm
from traitlets.config import Config

from primehub_spawner.authenticator import KEYCLOAK_DOWN, PrimeHubAuthenticator
from primehub_spawner.names import AUTH_STATE_KEY

CLIENT_ID = "jupyterhub"


def hub_config(c, edge):
    FakeOIDC.configure(c, CLIENT_ID)
    c.PrimeHubAuthenticator.admin_users = set()


# ---- login -------------------------------------------------------------------------------

async def test_login_stores_entitlements_and_syncs_groups(hub, keycloak_login, oidc):
    _browser, r = await keycloak_login("alice")
    assert urlparse(r.headers["location"]).path == "/hub/home"
    user = hub.users["alice"]
    assert user.admin is False
    state = await user.get_auth_state()
    primehub = state[AUTH_STATE_KEY]
    assert [g["name"] for g in primehub["groups"]] == ["research", "class-101"]
    assert primehub["everyone"]["name"] == "everyone"
    assert time.time() - primehub["fetched_at"] < 10
    claims = jwt.decode(state["id_token"], options={"verify_signature": False})
    assert claims["preferred_username"] == "alice"
    assert sorted(g.name for g in user.groups) == ["class-101", "research"]
    # the PKCE verifier went with the code
    assert oidc.token_requests[-1]["code_verifier"]


async def test_admin_comes_from_keycloak(hub, keycloak_login, edge, api):
    await keycloak_login("phadmin")
    assert hub.users["phadmin"].admin is True
    # Revoked in Keycloak: the re-read before the next start takes it away.
    edge.keycloak.users["phadmin"]["admin"] = False
    r = await api("phadmin", "POST", "/users/phadmin/server", json={"instance_type": "nope"})
    assert r.status_code == 403
    assert hub.users["phadmin"].admin is False


@pytest.mark.parametrize("claims", [
    pytest.param({"aud": "another-client"}, id="wrong-audience"),
    pytest.param({"iss": "http://keycloak.test/realms/other"}, id="wrong-issuer"),
    pytest.param({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, id="expired"),
])
async def test_bad_id_token_is_refused_with_403(hub, keycloak_login, oidc, claims):
    oidc.id_token_claims = claims
    _browser, r = await keycloak_login("alice", expect=403)
    assert "The ID token from Keycloak failed verification" in r.text
    assert "log in again" in r.text
    assert orm.User.find(hub.db, "alice") is None


async def test_id_token_with_a_bad_signature_is_refused_with_403(hub, keycloak_login, oidc):
    oidc.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _browser, r = await keycloak_login("alice", expect=403)
    assert "The ID token from Keycloak failed verification (Signature verification failed)" \
        in r.text
    assert orm.User.find(hub.db, "alice") is None


async def test_keycloak_down_at_login_is_a_503_sentence(hub, keycloak_login):
    hub.authenticator.keycloak = DownKeycloakAdmin()
    _browser, r = await keycloak_login("alice", expect=503)
    assert KEYCLOAK_DOWN in r.text
    assert orm.User.find(hub.db, "alice") is None


async def test_logout_ends_the_keycloak_session(hub, keycloak_login, oidc):
    browser, _ = await keycloak_login("alice")
    id_token = (await hub.users["alice"].get_auth_state())["id_token"]
    r = await browser.get("/hub/logout")
    assert r.status_code == 302
    location = r.headers["location"]
    assert location.startswith(f"{oidc.issuer}/protocol/openid-connect/logout?")
    assert query_of(location) == {
        "client_id": CLIENT_ID, "id_token_hint": id_token,
        "post_logout_redirect_uri": str(browser.http.base_url).rstrip("/") + "/hub/"}
    r = await browser.get("/hub/home")
    assert r.status_code == 302  # logged out of the hub too: back to the login page


# ---- entitlements are re-read before every start -----------------------------------------

async def test_start_after_login_creates_the_pod(hub, keycloak_login, edge, api, wait_until):
    await keycloak_login("alice")
    calls = edge.keycloak.calls
    r = await api("alice", "POST", "/users/alice/server",
                  json={"group": "research", "instance_type": "gpu-small"})
    assert r.status_code in (201, 202), r.text
    await wait_until(lambda: hub.users["alice"].spawner.ready)
    assert edge.keycloak.calls > calls  # re-read just before the start
    [pod] = edge.api.created_pods()
    assert pod["metadata"]["labels"]["primehub.io/group"] == "escaped-research"


async def test_group_removed_after_login_refuses_the_next_start(hub, keycloak_login, edge,
                                                                api, read_page):
    browser, _ = await keycloak_login("alice")
    edge.keycloak.users["alice"]["groups"].remove("research")
    r = await api("alice", "POST", "/users/alice/server", json={"group": "research"})
    assert r.status_code == 403
    assert r.json()["message"] == ("You are not a member of group 'research', so you cannot "
                                   "launch a server in it.")
    assert edge.api.created == []
    assert [g.name for g in hub.users["alice"].groups] == ["class-101"]
    # The form, too, is checked against the entitlements of the moment of the start.
    r = await browser.post_form("/hub/spawn", {"group": "research", "instance_type": "cpu-2",
                                               "image": "pytorch"})
    assert r.status_code == 403
    assert read_page(r.text).error.startswith("You are not a member of group 'research'")
    assert edge.api.created == []


async def test_role_removed_from_a_group_after_login_refuses_the_next_start(
        hub, keycloak_login, edge, api):
    await keycloak_login("alice")
    research = edge.keycloak.groups["research"]
    edge.keycloak.add_group("research", [r for r in research.roles if r != "it:gpu-small"],
                            **research.attributes)
    r = await api("alice", "POST", "/users/alice/server",
                  json={"group": "research", "instance_type": "gpu-small"})
    assert r.status_code == 403
    assert r.json()["message"].startswith(
        "The instance type 'gpu-small' is not available in group Research Lab.")
    assert edge.api.created == []


async def test_keycloak_down_at_refresh_keeps_auth_but_refuses_the_start(hub, keycloak_login,
                                                                        edge, api):
    await keycloak_login("alice")
    user = hub.users["alice"]
    # Entitlements read two minutes ago; Keycloak is down now.
    state = await user.get_auth_state()
    state[AUTH_STATE_KEY]["fetched_at"] -= 120
    await user.save_auth_state(state)
    hub.authenticator.keycloak = DownKeycloakAdmin()

    assert await hub.authenticator.refresh_user(user, None) is True
    r = await api("alice", "POST", "/users/alice/server", json={"group": "research"})
    assert r.status_code == 503
    assert r.json()["message"] == (
        "Your permissions could not be re-read from Keycloak just now, so the server was not "
        "started. Try again in a minute.")
    assert edge.api.created == []
    assert orm.User.find(hub.db, "alice") is not None


async def test_pages_keep_working_while_keycloak_is_down(hub, keycloak_login, read_page):
    browser, _ = await keycloak_login("alice")
    hub.authenticator.keycloak = DownKeycloakAdmin()
    hub.users["alice"]._auth_refreshed -= 3600  # due for a refresh at the next request
    r = await browser.get("/hub/spawn")
    assert r.status_code == 200
    assert read_page(r.text).groups[0] == ("class-101", "Class 101", True)


async def test_expired_access_token_is_renewed_with_the_refresh_token(hub, keycloak_login,
                                                                      oidc, edge, api,
                                                                      wait_until):
    await keycloak_login("alice")
    before = await hub.users["alice"].get_auth_state()
    oidc.expire_access_tokens()
    r = await api("alice", "POST", "/users/alice/server", json={"group": "research"})
    assert r.status_code in (201, 202), r.text
    await wait_until(lambda: hub.users["alice"].spawner.ready)
    assert oidc.token_requests[-1]["grant_type"] == "refresh_token"
    after = await hub.users["alice"].get_auth_state()
    assert after["access_token"] != before["access_token"]
    assert after["id_token"] != before["id_token"]


async def test_refreshed_id_token_is_checked_too(hub, keycloak_login, oidc, edge):
    browser, _ = await keycloak_login("alice")
    oidc.expire_access_tokens()
    oidc.id_token_claims = {"aud": "another-client"}
    r = await browser.post_form("/hub/spawn", {"group": "research"})
    # The refresh is refused, so the user must log in again; nothing starts. (JupyterHub
    # 6.1.1 answers 500 here: its refresh_auth reads `_token_authenticated`, which a
    # cookie-authenticated SpawnHandler lacks.)
    assert r.status_code in (400, 403, 500)
    assert oidc.token_requests[-1]["grant_type"] == "refresh_token"
    assert edge.api.created == []
    assert not hub.users["alice"].spawner.active


# ---- configuration -----------------------------------------------------------------------

def authenticator(**settings) -> PrimeHubAuthenticator:
    c = Config()
    base = {"keycloak_url": "http://keycloak:8080", "client_id": "jupyterhub",
            "client_secret": "s"}
    for key, value in {**base, **settings}.items():
        if value is not None:
            c.PrimeHubAuthenticator[key] = value
    return PrimeHubAuthenticator(config=c)


@pytest.mark.parametrize("settings, error, sentence", [
    pytest.param({"keycloak_url": None}, ValueError,
                 "PrimeHubAuthenticator.keycloak_url is not set", id="missing-keycloak-url"),
    # "" equals the trait's default, so no validator sees it (an unset environment variable).
    pytest.param({"keycloak_url": ""}, ValueError,
                 "PrimeHubAuthenticator.keycloak_url is not set", id="empty-keycloak-url"),
    pytest.param({"keycloak_url": "http://keycloak:8080/realms/primehub"}, ValueError,
                 "PrimeHubAuthenticator.keycloak_url is Keycloak's base URL; set the realm "
                 "with PrimeHubAuthenticator.realm.", id="keycloak-url-with-realm"),
    pytest.param({"keycloak_url": "keycloak:8080"}, ValueError,
                 "PrimeHubAuthenticator.keycloak_url 'keycloak:8080' must start with http://",
                 id="keycloak-url-without-scheme"),
    pytest.param({"keycloak_public_url": "https://id.example.org/realms/x"}, ValueError,
                 "PrimeHubAuthenticator.keycloak_public_url is Keycloak's base URL",
                 id="public-url-with-realm"),
    pytest.param({"refresh_pre_spawn": False}, ValueError,
                 "PrimeHubAuthenticator.refresh_pre_spawn must stay True", id="no-refresh"),
    pytest.param({"enable_auth_state": False}, ValueError,
                 "PrimeHubAuthenticator.enable_auth_state must stay True",
                 id="no-auth-state"),
    pytest.param({"client_secret": None}, ValueError,
                 "PrimeHubAuthenticator.client_id and client_secret must be set",
                 id="no-client-secret"),
    pytest.param({"client_id": ""}, ValueError,
                 "PrimeHubAuthenticator.client_id and client_secret must be set",
                 id="empty-client-id"),
    pytest.param({"allowed_roles": {"hub-user"}, "allow_all": True}, ValueError,
                 "PrimeHubAuthenticator.allowed_roles is set, but Authenticator.allow_all = True "
                 "lets every Keycloak user in, so allowed_roles would be ignored; remove one "
                 "of the two.", id="allowed-roles-and-allow-all"),
    pytest.param({"allow_all": True, "allowed_users": {"alice"}}, ValueError,
                 "PrimeHubAuthenticator.allowed_users is set, but Authenticator.allow_all",
                 id="allowed-users-and-allow-all"),
    pytest.param({"allowed_groups": {"research"}, "allow_all": True}, ValueError,
                 "PrimeHubAuthenticator.allowed_groups is set, but Authenticator.allow_all",
                 id="allowed-groups-and-allow-all"),
])
def test_configuration_errors_name_the_setting(settings, error, sentence):
    with pytest.raises(error) as raised:
        authenticator(**settings)
    assert sentence in str(raised.value)


@pytest.mark.parametrize("setting", ["refresh_pre_spawn", "enable_auth_state"])
def test_required_switches_stay_on_after_start_too(setting):
    auth = authenticator(**{setting: True})
    with pytest.raises(ValueError, match=f"PrimeHubAuthenticator.{setting} must stay True"):
        setattr(auth, setting, False)
    assert getattr(auth, setting) is True


def test_configuration_defaults_make_a_keycloak_client():
    auth = authenticator(keycloak_public_url="https://id.example.org")
    assert auth.authorize_url == ("https://id.example.org/realms/primehub/protocol/"
                                  "openid-connect/auth")
    assert auth.token_url == "http://keycloak:8080/realms/primehub/protocol/openid-connect/token"
    assert auth.scope == ["openid", "profile", "email"]
    assert (auth.enable_pkce, auth.enable_auth_state, auth.manage_groups,
            auth.refresh_pre_spawn) == (True, True, True, True)
    assert auth.username_claim == "preferred_username"


@pytest.mark.parametrize("settings, allow_all", [
    pytest.param({}, True, id="no-allow-setting-keycloak-decides"),
    pytest.param({"allowed_users": {"alice"}}, False, id="allowed-users"),
    pytest.param({"allowed_groups": {"research"}}, False, id="allowed-groups"),
    pytest.param({"allowed_roles": {"hub-user"}}, False, id="allowed-roles"),
    pytest.param({"allow_existing_users": True}, False, id="allow-existing-users"),
    pytest.param({"allow_all": False}, False, id="explicitly-off"),
    pytest.param({"allow_all": True}, True, id="explicitly-on"),
])
def test_any_allow_setting_turns_allow_all_off(settings, allow_all):
    assert authenticator(**settings).allow_all is allow_all


def test_verify_id_token_is_a_setting():
    assert authenticator().verify_id_token is True
    assert authenticator(verify_id_token=False).verify_id_token is False


async def test_no_secret_or_token_reaches_the_logs(hub, keycloak_login, oidc, api, wait_until,
                                                   caplog):
    caplog.set_level("DEBUG")
    await keycloak_login("alice")
    r = await api("alice", "POST", "/users/alice/server", json={"group": "research"})
    assert r.status_code in (201, 202), r.text
    await wait_until(lambda: hub.users["alice"].spawner.ready)
    state = await hub.users["alice"].get_auth_state()
    secrets = {"client secret": "jupyterhub-test-secret", "access token": state["access_token"],
               "refresh token": state["refresh_token"], "ID token": state["id_token"]}
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "User logged in: alice" in logged  # the hub's log is captured at all
    assert [what for what, value in secrets.items() if value in logged] == []
