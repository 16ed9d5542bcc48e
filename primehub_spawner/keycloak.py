"""The Keycloak Admin REST API, read with a service-account client (client credentials).

I/O. One `KeycloakAdmin` per hub process: it keeps the service account's token until it
expires, and a cache of group details (effective realm roles, attributes) shared by every
user, so that a thousand users in ten groups cost ten group look-ups per cache period, not
ten thousand. A user's own memberships are read fresh at every call.

Plain async HTTP (httpx) rather than python-keycloak: we need five read calls, a shared
cache with in-flight de-duplication, and strict timeouts, and nothing else.
Every call is bounded; a Keycloak that cannot be reached raises `KeycloakUnavailable`.
Tokens are never logged.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from urllib.parse import quote

import httpx

from .entitlements import Group, UserEntitlements


class KeycloakUnavailable(RuntimeError):
    """Keycloak did not answer (network error, timeout or 5xx)."""


class KeycloakError(RuntimeError):
    """Keycloak answered with an error that retrying will not fix (4xx, missing user)."""


def first_values(attributes: dict | None) -> dict[str, str]:
    """Keycloak attributes are lists of strings; the first value is the one that counts."""
    out = {}
    for key, values in (attributes or {}).items():
        if isinstance(values, list):
            if values:
                out[key] = str(values[0])
        elif values is not None:
            out[key] = str(values)
    return out


class TTLCache:
    """Values that expire after `max_age` seconds; concurrent misses share one fetch."""

    def __init__(self, max_age: float, clock: Callable[[], float] = time.monotonic):
        self.max_age = max_age
        self.clock = clock
        self._values: dict[str, tuple[float, object]] = {}
        self._inflight: dict[str, asyncio.Future] = {}

    async def get(self, key: str, fetch: Callable[[], Awaitable[object]]):
        hit = self._values.get(key)
        if hit and self.clock() - hit[0] < self.max_age:
            return hit[1]
        if key in self._inflight:
            return await asyncio.shield(self._inflight[key])
        future = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            value = await fetch()
        except BaseException as e:
            future.set_exception(e)
            future.exception()  # mark retrieved: waiters, if any, re-raise it themselves
            raise
        else:
            self._values[key] = (self.clock(), value)
            future.set_result(value)
            return value
        finally:
            del self._inflight[key]

    def clear(self) -> None:
        self._values.clear()


class KeycloakAdmin:
    def __init__(self, *, url: str, realm: str, client_id: str, client_secret: str,
                 everyone_group: str = "everyone", admin_role: str = "realm-admin",
                 admin_role_client: str = "realm-management", group_max_age: float = 30,
                 timeout: float = 10, retries: int = 2,
                 log: logging.Logger | None = None, transport: httpx.AsyncBaseTransport | None = None):
        self.base = url.rstrip("/")
        self.realm = realm
        self.client_id = client_id
        self._client_secret = client_secret
        self.everyone_group = everyone_group
        self.admin_role = admin_role
        self.admin_role_client = admin_role_client
        self.retries = retries
        self.log = log or logging.getLogger(__name__)
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=min(timeout, 5)),
                                       transport=transport)
        self._token: tuple[float, str] | None = None
        self._token_lock = asyncio.Lock()
        self.groups = TTLCache(group_max_age)
        # Ids that do not change while the realm exists: kept until the process ends.
        self._ids = TTLCache(float("inf"))

    @property
    def admin_base(self) -> str:
        return f"{self.base}/admin/realms/{quote(self.realm)}"

    async def aclose(self) -> None:
        await self._http.aclose()

    # ---- HTTP ---------------------------------------------------------------------------

    async def _send(self, method: str, url: str, **kwargs) -> httpx.Response:
        delay = 0.2
        for attempt in range(self.retries + 1):
            try:
                response = await self._http.request(method, url, **kwargs)
            except httpx.HTTPError as e:
                failure = f"{type(e).__name__}"
            else:
                if response.status_code < 500:
                    return response
                failure = f"HTTP {response.status_code}"
            if attempt < self.retries:
                await asyncio.sleep(delay)
                delay *= 4
        # The path only: query strings may carry names, never tokens, but keep logs short.
        raise KeycloakUnavailable(f"Keycloak at {self.base} did not answer "
                                  f"{method} {url.split('?')[0]} ({failure})")

    async def _service_token(self, renew: bool = False) -> str:
        async with self._token_lock:
            if not renew and self._token and time.monotonic() < self._token[0]:
                return self._token[1]
            response = await self._send(
                "POST", f"{self.base}/realms/{quote(self.realm)}/protocol/openid-connect/token",
                data={"grant_type": "client_credentials"},
                auth=(self.client_id, self._client_secret))
            if response.status_code != 200:
                raise KeycloakError(
                    f"Keycloak refused the service account of client {self.client_id!r} "
                    f"(HTTP {response.status_code}); check its secret and that service "
                    "accounts are enabled for it.")
            body = response.json()
            lifetime = float(body.get("expires_in", 60))
            self._token = (time.monotonic() + max(lifetime - 15, lifetime / 2), body["access_token"])
            return self._token[1]

    async def _get(self, path: str, **params) -> object:
        url = f"{self.admin_base}{path}"
        for renew in (False, True):
            token = await self._service_token(renew=renew)
            response = await self._send("GET", url, params=params or None,
                                        headers={"Authorization": f"Bearer {token}"})
            if response.status_code != 401:
                break
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise KeycloakError(
                f"Keycloak answered HTTP {response.status_code} to GET {path}; the service "
                f"account of {self.client_id!r} may lack a realm-management role "
                "(view-users, view-clients).")
        return response.json()

    # ---- reads --------------------------------------------------------------------------

    async def find_user(self, username: str) -> dict:
        users = await self._get("/users", username=username, exact="true",
                                briefRepresentation="false")
        for user in users or []:
            if user.get("username") == username:
                return user
        raise KeycloakError(f"Keycloak has no user {username!r} in realm {self.realm!r}.")

    async def group_roles(self, group_id: str) -> tuple[str, ...]:
        """A group's effective realm roles (composites expanded), from the shared cache."""
        async def fetch():
            roles = await self._get(f"/groups/{quote(group_id)}/role-mappings/realm/composite")
            return tuple(sorted(r["name"] for r in roles or []))
        return await self.groups.get(f"roles:{group_id}", fetch)

    async def everyone(self) -> Group | None:
        async def fetch():
            found = await self._get(f"/group-by-path/{quote(self.everyone_group)}")
            if not found:
                self.log.warning("Keycloak realm %s has no group %r; no global roles apply.",
                                 self.realm, self.everyone_group)
                return None
            return Group(id=found["id"], name=found["name"], roles=await self.group_roles(found["id"]),
                         attributes=first_values(found.get("attributes")))
        return await self.groups.get("everyone", fetch)

    async def _client_uuid(self, client_id: str) -> str | None:
        async def fetch():
            clients = await self._get("/clients", clientId=client_id)
            return clients[0]["id"] if clients else None
        return await self._ids.get(f"client:{client_id}", fetch)

    async def is_admin(self, user_id: str) -> bool:
        client = await self._client_uuid(self.admin_role_client)
        if client is None:
            roles = await self._get(f"/users/{quote(user_id)}/role-mappings/realm/composite")
        else:
            roles = await self._get(
                f"/users/{quote(user_id)}/role-mappings/clients/{quote(client)}/composite")
        return any(r.get("name") == self.admin_role for r in roles or [])

    async def user_realm_roles(self, user_id: str) -> set[str]:
        roles = await self._get(f"/users/{quote(user_id)}/role-mappings/realm/composite")
        return {r["name"] for r in roles or []}

    async def user_entitlements(self, username: str) -> UserEntitlements:
        """The user's groups (fresh), their roles and attributes (cached), and more."""
        user = await self.find_user(username)
        user_id = user["id"]
        memberships, everyone, admin = await asyncio.gather(
            self._get(f"/users/{quote(user_id)}/groups", briefRepresentation="false"),
            self.everyone(), self.is_admin(user_id))
        own = [g for g in memberships or [] if g.get("name") != self.everyone_group]
        roles = await asyncio.gather(*(self.group_roles(g["id"]) for g in own))
        groups = tuple(
            Group(id=g["id"], name=g["name"], roles=r, attributes=first_values(g.get("attributes")))
            for g, r in zip(own, roles))
        return UserEntitlements(
            username=username, user_id=user_id, groups=groups, everyone=everyone,
            user_attributes=first_values(user.get("attributes")), is_admin=admin,
            fetched_at=time.time())
