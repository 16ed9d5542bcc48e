"""The Keycloak Admin REST API, read with a service-account client (client credentials).

I/O. One `KeycloakAdmin` per hub process: it keeps the service account's token until it
expires, and a cache of group details (effective realm roles, attributes) shared by every
user, so that a thousand users in ten groups cost ten group look-ups per cache period, not
ten thousand. A user's own memberships are read fresh at every call.

Plain async HTTP (httpx) rather than python-keycloak: we need five read calls, a shared
cache with in-flight de-duplication, and strict timeouts, and nothing else.
Every call is bounded; a Keycloak that cannot be reached, or whose answer is not the JSON
the Admin API documents (a proxy's error page, a group without `id`), raises
`KeycloakUnavailable`. Tokens are never logged.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from urllib.parse import quote

import httpx

from .entitlements import LIST_ATTRIBUTES, Group, UserEntitlements
from .names import shown


class KeycloakUnavailable(RuntimeError):
    """Keycloak did not answer (network error, timeout or 5xx), or not in the shape the
    Admin API documents."""


class KeycloakError(RuntimeError):
    """Keycloak answered with an error that retrying will not fix (4xx, missing user)."""


def first_values(attributes: object) -> dict[str, str]:
    """Keycloak attributes are lists of strings; the first value is the one that counts."""
    out = {}
    for key, values in _attributes(attributes).items():
        if isinstance(values, list):
            if values:
                out[key] = str(values[0])
        elif values is not None:
            out[key] = str(values)
    return out


def list_values(attributes: object) -> dict[str, tuple[str, ...]]:
    """Every value of the attributes that are lists in PrimeHub (`LIST_ATTRIBUTES`)."""
    out = {}
    for key, values in _attributes(attributes).items():
        if key in LIST_ATTRIBUTES and values:
            out[key] = tuple(str(v) for v in (values if isinstance(values, list) else [values]))
    return out


def _attributes(attributes: object) -> dict:
    if attributes is None:
        return {}
    if not isinstance(attributes, dict):
        raise _malformed("attributes are not an object")
    return {str(k): v for k, v in attributes.items()}


def _malformed(what: str) -> KeycloakUnavailable:
    return KeycloakUnavailable(f"Keycloak answered in a shape the Admin API does not have "
                               f"({what}); is a proxy in the way?")


def _objects(answer: object, what: str) -> list[dict]:
    """A JSON list of objects (None, Keycloak's 404, is an empty list)."""
    if answer is None:
        return []
    if not isinstance(answer, list) or not all(isinstance(item, dict) for item in answer):
        raise _malformed(f"{what} is not a list of objects")
    return answer


def _text(item: object, key: str, what: str) -> str:
    value = item.get(key) if isinstance(item, dict) else None
    if not isinstance(value, str) or not value:
        raise _malformed(f"{what} has no {key}")
    return value


def _group(item: dict, roles: tuple[str, ...]) -> Group:
    path = item.get("path")
    return Group(id=_text(item, "id", "a group"), name=_text(item, "name", "a group"),
                 roles=roles, attributes=first_values(item.get("attributes")),
                 list_attributes=list_values(item.get("attributes")),
                 path=path if isinstance(path, str) else "")


def _json(response: httpx.Response, what: str) -> object:
    try:
        return response.json()
    except ValueError:  # JSONDecodeError, and UnicodeDecodeError for a binary body
        raise _malformed(f"the answer to {what} is not JSON") from None


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
            body = _json(response, "the token request")
            token = _text(body, "access_token", "the token answer")
            lifetime = body.get("expires_in", 60)
            if isinstance(lifetime, bool) or not isinstance(lifetime, (int, float)) or not (
                    0 < lifetime < 10**6):
                raise _malformed("the token answer has no usable expires_in")
            self._token = (time.monotonic() + max(lifetime - 15, lifetime / 2), token)
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
        return _json(response, f"GET {path}")

    # ---- reads --------------------------------------------------------------------------

    async def find_user(self, username: str) -> dict:
        users = _objects(await self._get("/users", username=username, exact="true",
                                         briefRepresentation="false"), "the user search")
        for user in users:
            if user.get("username") == username:
                _text(user, "id", "the user")
                return user
        raise KeycloakError(f"Keycloak has no user {shown(username)} in realm {self.realm!r}.")

    async def _role_names(self, path: str) -> tuple[str, ...]:
        roles = _objects(await self._get(path), "a role mapping")
        return tuple(sorted(_text(r, "name", "a role") for r in roles))

    async def group_roles(self, group_id: str) -> tuple[str, ...]:
        """A group's effective realm roles (composites expanded), from the shared cache."""
        return await self.groups.get(
            f"roles:{group_id}",
            lambda: self._role_names(f"/groups/{quote(group_id)}/role-mappings/realm/composite"))

    async def everyone(self) -> Group | None:
        async def fetch():
            found = await self._get(f"/group-by-path/{quote(self.everyone_group)}")
            if not found:
                self.log.warning("Keycloak realm %s has no group %r; no global roles apply.",
                                 self.realm, self.everyone_group)
                return None
            if not isinstance(found, dict):
                raise _malformed("the everyone group is not an object")
            return _group(found, await self.group_roles(_text(found, "id", "the everyone group")))
        return await self.groups.get("everyone", fetch)

    async def _client_uuid(self, client_id: str) -> str | None:
        async def fetch():
            clients = _objects(await self._get("/clients", clientId=client_id), "the clients")
            return _text(clients[0], "id", "a client") if clients else None
        return await self._ids.get(f"client:{client_id}", fetch)

    async def is_admin(self, user_id: str) -> bool:
        client = await self._client_uuid(self.admin_role_client)
        if client is None:
            path = f"/users/{quote(user_id)}/role-mappings/realm/composite"
        else:
            path = f"/users/{quote(user_id)}/role-mappings/clients/{quote(client)}/composite"
        return self.admin_role in await self._role_names(path)

    async def user_realm_roles(self, user_id: str) -> set[str]:
        return set(await self._role_names(f"/users/{quote(user_id)}/role-mappings/realm/composite"))

    async def user_entitlements(self, username: str) -> UserEntitlements:
        """The user's groups (fresh), their roles and attributes (cached), and more."""
        user = await self.find_user(username)
        user_id = user["id"]
        memberships, everyone, admin = await asyncio.gather(
            self._get(f"/users/{quote(user_id)}/groups", briefRepresentation="false"),
            self.everyone(), self.is_admin(user_id))
        # The everyone group by its id: a subgroup elsewhere may be called `everyone` too.
        own = [g for g in _objects(memberships, "the user's groups")
               if (g.get("id") != everyone.id if everyone
                   else g.get("name") != self.everyone_group)]
        roles = await asyncio.gather(*(self.group_roles(_text(g, "id", "a group")) for g in own))
        groups = tuple(_group(g, r) for g, r in zip(own, roles))
        return UserEntitlements(
            username=username, user_id=user_id, groups=groups, everyone=everyone,
            user_attributes=first_values(user.get("attributes")), is_admin=admin,
            fetched_at=time.time())
