"""PrimeHubAuthenticator: Keycloak OIDC login that records what the user may launch.

Glue only. Login is oauthenticator's GenericOAuthenticator (authorization code with PKCE,
`preferred_username`), with the ID token's signature, issuer, audience and expiry checked
against the realm's keys. Entitlements (groups, their realm roles and attributes, the
`everyone` group, the user's attributes, admin) are read from the Keycloak Admin REST API
by `keycloak.py` and kept in the encrypted `auth_state`, where the spawner reads them.
They are re-read at every refresh and, with `refresh_pre_spawn`, before every start.
"""
from __future__ import annotations

import time
from urllib.parse import urlencode

import jwt
from oauthenticator.generic import GenericOAuthenticator
from oauthenticator.oauth2 import OAuthLogoutHandler
from tornado import web
from tornado.httpclient import HTTPClientError
from traitlets import Bool, Float, Set, Unicode, default, validate

from .errors import refusal
from .handlers import PATH as EXPLAIN_PATH
from .handlers import ExplainHandler
from .keycloak import KeycloakAdmin, KeycloakError, KeycloakUnavailable
from .names import AUTH_STATE_KEY, shown

KEYCLOAK_DOWN = ("Keycloak cannot be reached right now, so the hub cannot check who you are "
                 "or what you may use. Try again in a minute.")


class KeycloakLogoutHandler(OAuthLogoutHandler):
    """Logout also ends the Keycloak session (RP-initiated logout with `id_token_hint`)."""

    async def handle_logout(self):
        await super().handle_logout()
        self._end_session_url = None
        user = self.current_user
        if user is None:
            return
        auth_state = await user.get_auth_state() or {}
        back = f"{self.request.protocol}://{self.request.host}{self.hub.base_url}"
        self._end_session_url = self.authenticator.end_session_url(
            auth_state.get("id_token"), back)

    async def render_logout_page(self):
        if getattr(self, "_end_session_url", None):
            self.redirect(self._end_session_url)
            return
        await super().render_logout_page()


class PrimeHubAuthenticator(GenericOAuthenticator):
    logout_handler = KeycloakLogoutHandler

    keycloak_url = Unicode(
        config=True,
        help="""Keycloak's base URL as the hub reaches it, e.g. `http://keycloak.hub:8080`.
        Required.

        Without `/realms/...` (the realm is `realm`). Token, user info, keys and the Admin
        REST API use it.""")

    keycloak_public_url = Unicode(
        config=True,
        help="""Keycloak's base URL as browsers reach it (login and logout pages).

        Defaults to `keycloak_url`.""")

    @default("keycloak_public_url")
    def _default_public_url(self):
        """`keycloak_url`"""
        return self.keycloak_url

    realm = Unicode("primehub", config=True, help="The Keycloak realm of users and groups.")

    admin_client_id = Unicode(
        config=True,
        help="""Client whose service account reads the Admin REST API (client credentials).

        Defaults to `client_id`. It needs the realm-management roles view-users and
        view-clients (which bring query-users, query-groups and query-clients).""")

    @default("admin_client_id")
    def _default_admin_client_id(self):
        """`client_id`"""
        return self.client_id

    admin_client_secret = Unicode(
        config=True, help="""Secret of `admin_client_id`.

        Defaults to `client_secret`.""")

    @default("admin_client_secret")
    def _default_admin_client_secret(self):
        """`client_secret`"""
        return self.client_secret

    everyone_group = Unicode(
        "everyone", config=True,
        help="The default group every user joins: its roles are granted in every group, its "
             "attributes hold system settings, and it is never a launch group.")

    admin_role = Unicode(
        "realm-admin", config=True,
        help="Client role (of `admin_role_client`) that makes a user a hub admin.")

    admin_role_client = Unicode(
        "realm-management", config=True,
        help="Client that holds `admin_role`; empty means `admin_role` is a realm role.")

    allowed_roles = Set(
        Unicode(), config=True,
        help="""Realm roles whose holders (directly or through a group) may log in.

        Like every allow setting it adds to the others (`allowed_users`, `allowed_groups`,
        ...); a user allowed by none of them gets 403 with a sentence saying why.""",
    ).tag(allow_config=True)

    entitlements_max_age = Float(
        300, config=True,
        help="""Seconds the entitlements shown in menus may age before they are re-read from
        Keycloak (sets JupyterHub's `auth_refresh_age`). Starts always re-read them.""")

    group_cache_max_age = Float(
        30, config=True,
        help="""Seconds a group's realm roles and the everyone group may be served from the
        cache shared by all users. A user's own memberships are never cached.""")

    keycloak_timeout = Float(
        10, config=True, help="Seconds before a call to Keycloak is given up.")

    verify_id_token = Bool(
        True, config=True,
        help="Check the ID token's signature (against the realm's keys), issuer, audience and "
             "expiry at login and at every token refresh. Leave on.")

    # Redefined with our default rather than given a @default: traitlets validates a
    # configured value only when it differs from the trait's static default, and
    # Authenticator's is False, so a configured False would skip the checks below.
    enable_auth_state = Bool(
        True, config=True,
        help="""Keep the user's entitlements in the encrypted `auth_state`, where the spawner
        reads them (needs `JUPYTERHUB_CRYPT_KEY`). Must stay True.""")

    refresh_pre_spawn = Bool(
        True, config=True,
        help="""Re-read the user's entitlements from Keycloak just before every start, so a
        revoked grant cannot start a server. Must stay True.""")

    explain_page = Bool(
        True, config=True,
        help="""Serve the admins' page `/hub/primehub/explain?user=NAME`: what a user can
        launch in each group and why.

        Only users with the `admin:users` scope may read it. False: the hub has no such
        page (404).""")

    def get_handlers(self, app):
        """OAuthenticator's login, callback and logout handlers, and the admins' explain
        page (the hub puts its prefix in front of each path)."""
        handlers = list(super().get_handlers(app))
        if self.explain_page:
            handlers.append((EXPLAIN_PATH, ExplainHandler))
        return handlers

    # ---- defaults that make GenericOAuthenticator a Keycloak client -------------------------

    @default("login_service")
    def _default_login_service(self):
        """`Keycloak`"""
        return "Keycloak"

    @default("scope")
    def _default_scope(self):
        """`openid`, `profile`, `email`"""
        return ["openid", "profile", "email"]

    @default("username_claim")
    def _default_username_claim(self):
        """`preferred_username`"""
        return "preferred_username"

    @default("enable_pkce")
    def _default_enable_pkce(self):
        """`True`"""
        return True

    @default("manage_groups")
    def _default_manage_groups(self):
        """`True`: Keycloak groups become JupyterHub groups"""
        return True

    @default("auth_state_groups_key")
    def _default_groups_key(self):
        """the names of the user's Keycloak groups"""
        return lambda auth_state: [g["name"] for g in auth_state[AUTH_STATE_KEY]["groups"]]

    def _allow_settings(self) -> list[str]:
        """The allow settings that are set, found as JupyterHub finds them for its
        `any_allow_config`: config tagged `allow_config`, or named `allow...`."""
        return sorted(
            name for name, trait in self.traits(config=True).items()
            if name != "allow_all"
            and (trait.metadata.get("allow_config") or name.startswith("allow"))
            and getattr(self, name))

    @default("allow_all")
    def _default_allow_all(self):
        """`True` while no allow setting is set"""
        # Keycloak decides who has an account, so with no allow setting everyone it lets in
        # may use the hub. Any allow setting turns that off (JupyterHub's own rule): JupyterHub
        # skips check_allowed when allow_all is True, which would ignore the setting.
        return not self._allow_settings()

    @default("auth_refresh_age")
    def _default_auth_refresh_age(self):
        """`entitlements_max_age`"""
        return int(self.entitlements_max_age)

    def _oidc(self, path: str, public: bool = False) -> str:
        base = (self.keycloak_public_url if public else self.keycloak_url).rstrip("/")
        return f"{base}/realms/{self.realm}/protocol/openid-connect/{path}"

    @default("authorize_url")
    def _default_authorize_url(self):
        """the realm's `auth` endpoint at `keycloak_public_url`"""
        return self._oidc("auth", public=True)

    @default("token_url")
    def _default_token_url(self):
        """the realm's `token` endpoint at `keycloak_url`"""
        return self._oidc("token")

    @default("userdata_url")
    def _default_userdata_url(self):
        """the realm's `userinfo` endpoint at `keycloak_url`"""
        return self._oidc("userinfo")

    # ---- configuration checks ---------------------------------------------------------------

    @validate("keycloak_url", "keycloak_public_url")
    def _check_url(self, proposal):
        value = proposal.value.rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"PrimeHubAuthenticator.{proposal.trait.name} {value!r} must start "
                             "with http:// or https://")
        if "/realms/" in value:
            raise ValueError(f"PrimeHubAuthenticator.{proposal.trait.name} is Keycloak's base "
                             "URL; set the realm with PrimeHubAuthenticator.realm.")
        return value

    @validate("allow_all")
    def _check_allow_all(self, proposal):
        # Runs after the whole configuration is loaded (traitlets cross-validates at the end),
        # so the allow settings given in any order are all seen.
        if proposal.value and self._allow_settings():
            name = self._allow_settings()[0]
            raise ValueError(f"PrimeHubAuthenticator.{name} is set, but Authenticator.allow_all "
                             f"= True lets every Keycloak user in, so {name} would be "
                             "ignored; remove one of the two.")
        return proposal.value

    @validate("refresh_pre_spawn")
    def _require_refresh_pre_spawn(self, proposal):
        if not proposal.value:
            raise ValueError("PrimeHubAuthenticator.refresh_pre_spawn must stay True: "
                             "entitlements are re-read from Keycloak before every start.")
        return proposal.value

    @validate("enable_auth_state")
    def _require_auth_state(self, proposal):
        if not proposal.value:
            raise ValueError("PrimeHubAuthenticator.enable_auth_state must stay True: the "
                             "spawner reads the user's entitlements from auth_state "
                             "(set JUPYTERHUB_CRYPT_KEY).")
        return proposal.value

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # Required settings are checked here, once loaded, not by validators: one left unset,
        # or set to "" (say from an unset environment variable), equals the trait's default,
        # so traitlets runs no validator for it; and OAuthenticator reads client_id and
        # client_secret from the environment in their defaults.
        if not self.keycloak_url:
            raise ValueError("PrimeHubAuthenticator.keycloak_url is not set; give Keycloak's "
                             "base URL, e.g. http://keycloak:8080.")
        if not self.client_id or not self.client_secret:
            raise ValueError("PrimeHubAuthenticator.client_id and client_secret must be set "
                             "(the confidential OIDC client of the realm).")
        self.keycloak = KeycloakAdmin(
            url=self.keycloak_url, realm=self.realm, client_id=self.admin_client_id,
            client_secret=self.admin_client_secret, everyone_group=self.everyone_group,
            admin_role=self.admin_role, admin_role_client=self.admin_role_client,
            group_max_age=self.group_cache_max_age, timeout=self.keycloak_timeout, log=self.log)
        self._discovery: dict | None = None
        self._jwks: tuple[float, jwt.PyJWKSet] | None = None

    # ---- OIDC -------------------------------------------------------------------------------

    async def discovery(self) -> dict:
        if self._discovery is None:
            url = f"{self.keycloak_url}/realms/{self.realm}/.well-known/openid-configuration"
            self._discovery = await self.httpfetch(url, label="fetching OIDC discovery")
        return self._discovery

    async def _signing_key(self, kid: str | None) -> jwt.PyJWK:
        for renew in (False, True):
            # Re-read the keys when an unknown key id shows up (key rotation), at most
            # once a minute, so bad tokens cannot make us hammer Keycloak.
            stale = self._jwks is None or (renew and time.monotonic() - self._jwks[0] > 60)
            if stale:
                keys = await self.httpfetch(self._oidc("certs"), label="fetching realm keys")
                self._jwks = (time.monotonic(), jwt.PyJWKSet.from_dict(keys))
            for key in self._jwks[1].keys:
                if key.key_id == kid:
                    return key
        # The key id comes from the token's header: untrusted, so echoed cut short.
        raise jwt.InvalidTokenError(f"no realm key with id {shown(kid)}")

    async def check_id_token(self, id_token: str) -> dict:
        """The ID token's claims, once its signature, issuer, audience and expiry check out."""
        discovery = await self.discovery()
        header = jwt.get_unverified_header(id_token)
        key = await self._signing_key(header.get("kid"))
        return jwt.decode(id_token, key=key, algorithms=[key.algorithm_name],
                          audience=self.client_id, issuer=discovery["issuer"], leeway=30,
                          options={"require": ["exp", "iat", "iss", "aud", "sub"]})

    async def get_token_info(self, handler, params):
        """Every new token (login or refresh) comes with an ID token we check."""
        try:
            token_info = await super().get_token_info(handler, params)
        except (OSError, HTTPClientError) as e:
            if isinstance(e, HTTPClientError) and e.code < 500:
                raise
            self.log.warning("Keycloak unreachable for a token request: %s", e)
            raise refusal(503, KEYCLOAK_DOWN) from None
        if self.verify_id_token:
            id_token = token_info.get("id_token")
            if not id_token:
                raise web.HTTPError(403, "Keycloak returned no ID token; the client needs "
                                         "the 'openid' scope.")
            try:
                await self.check_id_token(id_token)
            except jwt.PyJWTError as e:
                self.log.warning("Rejected an ID token from Keycloak: %s", e)
                raise refusal(403, f"The ID token from Keycloak failed verification ({e}); "
                                   "log in again.") from None
        return token_info

    def end_session_url(self, id_token: str | None, post_logout_redirect: str) -> str:
        """Keycloak's end-session endpoint on the *public* URL: the browser goes there."""
        params = {"client_id": self.client_id, "post_logout_redirect_uri": post_logout_redirect}
        if id_token:
            params["id_token_hint"] = id_token
        return f"{self._oidc('logout', public=True)}?{urlencode(params)}"

    # ---- entitlements -----------------------------------------------------------------------

    async def update_auth_model(self, auth_model):
        try:
            entitlements = await self.keycloak.user_entitlements(auth_model["name"])
            held = (await self.keycloak.user_realm_roles(entitlements.user_id)
                    if self.allowed_roles else set())
        except KeycloakUnavailable as e:
            self.log.warning("Reading entitlements of %s failed: %s", auth_model["name"], e)
            raise refusal(503, KEYCLOAK_DOWN) from None
        except KeycloakError as e:
            self.log.error("Reading entitlements of %s failed: %s", auth_model["name"], e)
            raise refusal(403, f"The hub could not read your groups from Keycloak: {e}") from None
        auth_state = auth_model["auth_state"]
        auth_state[AUTH_STATE_KEY] = entitlements.to_json()
        auth_state["allowed_roles_held"] = sorted(held & self.allowed_roles)
        if entitlements.is_admin:
            auth_model["admin"] = True
        elif auth_model["admin"] is None:
            # Not in admin_users: Keycloak decides, so a revoked admin role takes effect.
            auth_model["admin"] = False
        return auth_model

    async def check_allowed(self, username, auth_model):
        # Allow settings add up, as in JupyterHub: a held role, or any of the base class's.
        if self.allowed_roles and auth_model["auth_state"].get("allowed_roles_held"):
            return True
        if await super().check_allowed(username, auth_model):
            return True
        if self.allowed_roles:
            raise refusal(403, f"Your Keycloak account holds none of the roles allowed to use "
                               f"this hub ({', '.join(sorted(self.allowed_roles))}); ask an "
                               "administrator.")
        return False

    async def _still_allowed(self, username: str, auth_model: dict) -> bool:
        try:
            return bool(await self.check_allowed(username, auth_model))
        except web.HTTPError:
            return False

    async def refresh_user(self, user, handler=None, **kwargs):
        """Re-read tokens and entitlements. With Keycloak down, keep the current auth: pages
        keep working, and a start refuses the entitlements it could not re-read with 503."""
        try:
            refreshed = await super().refresh_user(user, handler, **kwargs)
            if (not self.allow_all and isinstance(refreshed, dict)
                    and not await self._still_allowed(user.name, refreshed)):
                # An allowed role or group was taken away: log in again (and meet the 403).
                self.log.info("%s is no longer allowed to use the hub", user.name)
                return False
            return refreshed
        except web.HTTPError as e:
            if e.status_code != 503:
                raise
        except HTTPClientError as e:
            if e.code < 500:
                raise
            self.log.warning("Keycloak unreachable while refreshing %s: %s", user.name, e)
        except (OSError, KeycloakUnavailable) as e:
            self.log.warning("Keycloak unreachable while refreshing %s: %s", user.name, e)
        # Keep the login, with the entitlements marked as not re-read: pages keep using them,
        # and a start (which refreshes first) refuses them with 503 instead of trusting them.
        auth_state = await user.get_auth_state()
        if (auth_state or {}).get(AUTH_STATE_KEY):
            auth_state[AUTH_STATE_KEY]["fetched_at"] = 0.0
            await user.save_auth_state(auth_state)
        return True
