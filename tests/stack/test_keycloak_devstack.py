"""The devstack's Keycloak, end to end: the real server from the Maven Central distribution
with the `primehub` realm of devstack/keycloak/realm-primehub.json (see devstack/PORTS.md).

What the authenticator relies on is checked here against the real server: the discovery
document, ID tokens that verify against the realm's keys, a login through the real login
page, and every Admin REST call the hub makes with its service account, which may read and
nothing more. These tests fail (never skip) when Keycloak cannot start.
"""
from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest

from devstack import keycloak
from tests.stack.keycloak_login import KeycloakLoginError, keycloak_form_login

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("stack")]

ISSUER = keycloak.ISSUER
ADMIN_API = f"{keycloak.URL}/admin/realms/{keycloak.REALM}"
CLIENT = {"client_id": keycloak.CLIENT_ID, "client_secret": keycloak.CLIENT_SECRET}
REDIRECT = "http://127.0.0.1:18000/hub/oauth_callback"
USERS = ("alice", "bob", "carol", "phadmin")


@pytest.fixture(scope="module")
def discovery() -> dict:
    response = httpx.get(keycloak.DISCOVERY, timeout=10)
    response.raise_for_status()
    return response.json()


def token(discovery: dict, **form) -> dict:
    response = httpx.post(discovery["token_endpoint"], data={**CLIENT, **form}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def admin(discovery) -> httpx.Client:
    """The hub's view of the Admin REST API: the jupyterhub client's service account."""
    access = token(discovery, grant_type="client_credentials")["access_token"]
    with httpx.Client(base_url=ADMIN_API, timeout=30,
                      headers={"Authorization": f"Bearer {access}"}) as client:
        yield client


def get(admin: httpx.Client, path: str, **params):
    response = admin.get(path, params=params)
    assert response.status_code == 200, f"GET {path} {params}: {response.status_code} " \
                                         f"{response.text[:300]}"
    return response.json()


def user_id(admin: httpx.Client, username: str) -> str:
    (user,) = get(admin, "/users", username=username, exact="true")
    return user["id"]


def realm_management(admin: httpx.Client) -> str:
    (client,) = get(admin, "/clients", clientId="realm-management")
    return client["id"]


def verify_id_token(discovery: dict, id_token: str, **claims) -> dict:
    key = jwt.PyJWKClient(discovery["jwks_uri"]).get_signing_key_from_jwt(id_token)
    decoded = jwt.decode(id_token, key.key, algorithms=["RS256"],
                         audience=keycloak.CLIENT_ID, issuer=ISSUER)
    for name, value in claims.items():
        assert decoded.get(name) == value, (name, decoded)
    return decoded


# ---------------------------------------------------------------- OIDC

def test_discovery_document(discovery):
    assert discovery["issuer"] == ISSUER
    for endpoint in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint",
                     "end_session_endpoint", "jwks_uri"):
        assert discovery[endpoint].startswith(f"{ISSUER}/protocol/openid-connect/"), endpoint
    assert "S256" in discovery["code_challenge_methods_supported"]
    assert "RS256" in discovery["id_token_signing_alg_values_supported"]


@pytest.mark.parametrize("username", USERS)
def test_password_grant_gives_a_verifiable_id_token(discovery, username):
    """Direct access grants are on for the tests; no required action blocks any user."""
    tokens = token(discovery, grant_type="password", username=username,
                   password=f"{username}-pass", scope="openid profile email")
    claims = verify_id_token(discovery, tokens["id_token"], preferred_username=username,
                             aud=keycloak.CLIENT_ID, email=f"{username}@example.com",
                             email_verified=True)
    assert claims["azp"] == keycloak.CLIENT_ID
    assert tokens["refresh_token"]


def test_wrong_password_is_refused(discovery):
    response = httpx.post(discovery["token_endpoint"], timeout=30,
                          data={**CLIENT, "grant_type": "password", "username": "alice",
                                "password": "wrong", "scope": "openid"})
    assert response.status_code in (400, 401)  # 400 since Keycloak 26.x, 401 before
    assert response.json()["error"] == "invalid_grant"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_url(discovery: dict, redirect_uri: str = REDIRECT, **extra) -> str:
    params = {"client_id": keycloak.CLIENT_ID, "response_type": "code",
              "redirect_uri": redirect_uri, "scope": "openid profile email", **extra}
    return f"{discovery['authorization_endpoint']}?{urlencode(params)}"


async def test_login_through_the_login_page(discovery):
    """The authorization code flow with PKCE, through the HTML login form, as the hub's
    users do it: the redirect to the (absent) hub carries the code, the code and the
    verifier buy an ID token, and a second visit is single sign-on without the form."""
    verifier, challenge = pkce()
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    url = authorize_url(discovery, state=state, nonce=nonce, code_challenge=challenge,
                        code_challenge_method="S256")
    async with httpx.AsyncClient(timeout=30) as client:
        response = await keycloak_form_login(client, url, "alice", "alice-pass",
                                             stop_at=REDIRECT)
        assert response.status_code == 302
        query = parse_qs(urlsplit(response.headers["location"]).query)
        assert query["state"] == [state]
        tokens = await client.post(discovery["token_endpoint"], data={
            **CLIENT, "grant_type": "authorization_code", "code": query["code"][0],
            "redirect_uri": REDIRECT, "code_verifier": verifier})
        assert tokens.status_code == 200, tokens.text
        verify_id_token(discovery, tokens.json()["id_token"], preferred_username="alice",
                        nonce=nonce)

        again = await keycloak_form_login(client, authorize_url(
            discovery, state="again", code_challenge=challenge, code_challenge_method="S256"),
            "alice", "alice-pass", stop_at=REDIRECT)
        assert "code" in parse_qs(urlsplit(again.headers["location"]).query)


async def test_login_page_wrong_password_says_why(discovery):
    _, challenge = pkce()
    url = authorize_url(discovery, state="s", code_challenge=challenge,
                        code_challenge_method="S256")
    async with httpx.AsyncClient(timeout=30) as client:
        with pytest.raises(KeycloakLoginError, match="Invalid username or password"):
            await keycloak_form_login(client, url, "alice", "nope", stop_at=REDIRECT)


def test_pkce_is_required(discovery):
    response = httpx.get(authorize_url(discovery, state="s"), timeout=30)
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["error"] == ["invalid_request"]
    assert "code_challenge_method" in query["error_description"][0]


@pytest.mark.parametrize("redirect_uri, allowed", [
    ("http://127.0.0.1:18000/hub/oauth_callback", True),
    ("http://localhost:18000/hub/oauth_callback", True),
    # Loopback redirect URIs registered without a port accept any port (hub-level tests).
    ("http://127.0.0.1:23456/hub/oauth_callback", True),
    ("http://evil.example/hub/oauth_callback", False),
])
def test_redirect_uris(discovery, redirect_uri, allowed):
    _, challenge = pkce()
    response = httpx.get(authorize_url(discovery, redirect_uri, state="s",
                                       code_challenge=challenge,
                                       code_challenge_method="S256"), timeout=30)
    assert (response.status_code == 200) is allowed, response.text[:300]
    if not allowed:
        assert "Invalid parameter: redirect_uri" in response.text


# ---------------------------------------------------------------- Admin REST API

def test_service_account_holds_only_what_it_reads(discovery):
    access = token(discovery, grant_type="client_credentials")["access_token"]
    claims = jwt.decode(access, options={"verify_signature": False})
    roles = set(claims["resource_access"]["realm-management"]["roles"])
    # view-users and view-clients, with the query-* roles they are composed of.
    assert roles == {"view-users", "view-clients", "query-users", "query-groups",
                     "query-clients"}


def test_user_by_username_with_attributes(admin):
    (alice,) = get(admin, "/users", username="alice", exact="true")
    assert alice["attributes"] == {"volumeCapacity": ["20G"], "timezone": ["Asia/Taipei"]}
    assert (alice["email"], alice["firstName"], alice["lastName"]) == \
        ("alice@example.com", "Alice", "Anderson")
    assert get(admin, f"/users/{alice['id']}")["attributes"]["volumeCapacity"] == ["20G"]


def test_user_groups_with_attributes(admin):
    groups = get(admin, f"/users/{user_id(admin, 'alice')}/groups",
                 briefRepresentation="false")
    by_name = {group["name"]: group for group in groups}
    assert set(by_name) == {"everyone", "research", "class-101"}
    research = by_name["research"]["attributes"]
    assert research["displayName"] == ["Research Lab"]
    assert research["quota-cpu"] == ["4"] and research["quota-gpu"] == ["1"]
    assert research["mlflow-tracking-uri"] == ["http://mlflow.research.svc:5000"]
    assert by_name["class-101"]["attributes"]["launch-group-only"] == ["true"]
    assert by_name["research"]["path"] == "/research"

    brief = get(admin, f"/users/{user_id(admin, 'alice')}/groups")
    assert all("attributes" not in group for group in brief), "brief has no attributes"

    def names(username):
        return {g["name"] for g in get(admin, f"/users/{user_id(admin, username)}/groups")}
    assert names("bob") == {"everyone", "class-101"}
    assert names("carol") == {"everyone"}
    assert names("phadmin") == {"everyone", "research"}


def test_group_effective_realm_roles(admin):
    research = get(admin, "/group-by-path/research")
    roles = {role["name"] for role in
             get(admin, f"/groups/{research['id']}/role-mappings/realm/composite")}
    assert {"it:cpu-2", "it:gpu-small", "img:pytorch", "img:tf-gpu", "img:research-image",
            "ds:rw:team-data", "ds:shared-nfs", "ds:host-data"} <= roles
    assert {"c2:it:cpu-2", "reports-viewer"} <= roles  # prefixed and unrelated roles
    empty = get(admin, "/group-by-path/empty-group")
    assert get(admin, f"/groups/{empty['id']}/role-mappings/realm/composite") == []


def test_everyone_group(admin):
    by_path = get(admin, "/group-by-path/everyone")
    (by_search,) = get(admin, "/groups", search="everyone", exact="true",
                       briefRepresentation="false")
    assert by_path["id"] == by_search["id"]
    assert by_search["attributes"] == {"defaultUserVolumeCapacity": ["5G"]}
    roles = {role["name"] for role in
             get(admin, f"/groups/{by_path['id']}/role-mappings/realm/composite")}
    assert roles == {"it:cpu-1", "img:base-notebook", "ds:public-env"}


def test_hub_admin_is_realm_admin(admin):
    client = realm_management(admin)

    def client_roles(username):
        path = f"/users/{user_id(admin, username)}/role-mappings/clients/{client}/composite"
        return {role["name"] for role in get(admin, path)}
    assert "realm-admin" in client_roles("phadmin")
    assert "realm-admin" not in client_roles("alice")


def test_service_account_cannot_write(admin):
    response = admin.post("/users", json={"username": "mallory", "enabled": True})
    assert response.status_code == 403
    research = get(admin, "/group-by-path/research")
    response = admin.put(f"/groups/{research['id']}",
                         json={**research, "attributes": {"quota-cpu": ["999"]}})
    assert response.status_code == 403
