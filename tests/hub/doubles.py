"""Test doubles for the hub-level tests. Each stands in for one thing at the I/O edge and
has one behaviour; everything between them (JupyterHub, KubeSpawner, our spawner and
authenticator, the pure modules) is the real code.

Index:
- `FakeCatalogCache`: the shared watch of the custom resources (`shared_catalog_cache`),
  loaded with a catalog parsed from CR dicts by the real parsers.
- `UnloadedCatalogCache`: that watch before its first list: `wait_loaded` says no.
- `FakeCoreV1Api`: the Kubernetes API for pods and PVCs. Keeps every pod and PVC it is
  asked to create (as the JSON the API server would receive), reports created pods
  Running and Ready on 127.0.0.1, and deletes pods on request. `watch_lag` delays when a
  created pod shows in the pod watch, as a real watch lags behind the create.
- `FakePodReflector`: KubeSpawner's shared pod watch, showing the pods of a `FakeCoreV1Api`.
- `FakeEventReflector`: KubeSpawner's shared event watch, with no events.
- `NotebookDouble`: the notebook server inside the pod: answers every request with 200.
- `MemoryProxy`: JupyterHub's proxy, keeping routes in a dict; starts no process.
- `FakeKeycloakAdmin`: the Keycloak Admin REST client (`keycloak.KeycloakAdmin`) reading a
  small in-memory realm that a test may change (remove a member, a role).
- `DownKeycloakAdmin`: the same client when Keycloak cannot be reached.
- `FakeOIDC`: the realm's OIDC endpoints (discovery, keys, token, userinfo) served through
  oauthenticator's `MockAsyncHTTPClient`, issuing ID tokens really signed with RS256;
  `FakeOIDC.configure(c)` makes the hub's authenticator PrimeHubAuthenticator against it.

Builders (plain data, no I/O): `instance_type_cr`, `image_cr`, `dataset_cr`,
`demo_objects` (devstack/PORTS.md's custom resources), `demo_realm` (its Keycloak realm),
`running_pod` (a pod as the reflector keeps it, for quota); `query_of(url)`.
"""
from __future__ import annotations

import asyncio
import copy
import json
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import ClassVar
from urllib.parse import parse_qs, urlparse

import jupyterhub
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jupyterhub.proxy import Proxy
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.rest import ApiException
from oauthenticator.tests.mocks import MockAsyncHTTPClient
from tornado import web
from tornado.httpclient import HTTPResponse
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from traitlets import Dict

from primehub_spawner.catalog import PARSERS, Catalog
from primehub_spawner.entitlements import Group, UserEntitlements
from primehub_spawner.keycloak import KeycloakError, KeycloakUnavailable
from primehub_spawner.labels import escape_label
from tests.demo_data import demo_objects  # noqa: F401 - re-exported for the tests

NAMESPACE = "hub"


# ---- builders ----------------------------------------------------------------------------

def _cr(kind: str, name: str, spec: Mapping, annotations: Mapping | None = None) -> dict:
    metadata = {"name": name, "namespace": NAMESPACE, "resourceVersion": "1"}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {"apiVersion": "primehub.io/v1alpha1", "kind": kind, "metadata": metadata,
            "spec": dict(spec)}


def instance_type_cr(name: str, **spec) -> dict:
    """`spec` keys with dots are passed as a dict: instance_type_cr("x", **{"limits.cpu": 1})."""
    return _cr("InstanceType", name, {"limits.cpu": 1, "limits.memory": "1G", **spec})


def image_cr(name: str, **spec) -> dict:
    return _cr("Image", name, {"type": "both", "url": f"example.org/{name}:1", **spec})


def dataset_cr(name: str, annotations: Mapping | None = None, **spec) -> dict:
    return _cr("Dataset", name, {"type": "pv", "volumeName": name, **spec}, annotations)


def demo_realm() -> FakeKeycloakAdmin:
    """The Keycloak realm of devstack/PORTS.md (plus `dave`, in a group without roles)."""
    realm = FakeKeycloakAdmin()
    realm.add_group("everyone", ["it:cpu-1", "img:base-notebook", "ds:public-env"],
                    defaultUserVolumeCapacity="5G")
    realm.add_group(
        "research",
        ["it:cpu-2", "it:gpu-small", "img:pytorch", "img:tf-gpu", "img:research-image",
         "ds:rw:team-data", "ds:shared-nfs", "ds:host-data"],
        displayName="Research Lab", **{
            "quota-cpu": "4", "quota-memory": "8G", "quota-gpu": "1",
            "project-quota-cpu": "16", "project-quota-memory": "32G", "project-quota-gpu": "2",
            "enabled-shared-volume": "true", "shared-volume-capacity": "10G",
            "home-symlink": "true", "mlflow-tracking-uri": "http://mlflow.research.svc:5000",
            "mlflow-ui-url": "http://mlflow.example/research"})
    realm.add_group(
        "class-101",
        ["it:legacy-gpu", "img:private-image", "img:building-image", "ds:team-data",
         "ds:git-repo", "ds:class-only"],
        displayName="Class 101", **{
            "quota-cpu": "2", "quota-memory": "4G", "enabled-shared-volume": "true",
            "shared-volume-capacity": "5G", "launch-group-only": "true"})
    realm.add_group("empty-group", displayName="Empty Group")
    realm.add_user("phadmin", ["research"], admin=True)
    realm.add_user("alice", ["research", "class-101"], volumeCapacity="20G",
                   timezone="Asia/Taipei")
    realm.add_user("bob", ["class-101"])
    realm.add_user("carol", [])
    realm.add_user("dave", ["empty-group"])
    return realm


def running_pod(name: str, user: str, group: str, limits: Mapping) -> dict:
    """A pod as the pod reflector keeps it, labelled for a user and group as PrimeHub does."""
    return {"metadata": {"name": name, "namespace": NAMESPACE, "uid": str(uuid.uuid4()),
                         "labels": {"component": "singleuser-server",
                                    "primehub.io/user": escape_label(user),
                                    "primehub.io/group": escape_label(group)}},
            "spec": {"containers": [{"name": "notebook",
                                     "resources": {"limits": dict(limits)}}]},
            "status": {"phase": "Running", "podIP": "127.0.0.9",
                       "containerStatuses": [{"name": "notebook", "ready": True,
                                              "state": {"running": {}}}]}}


# ---- the custom resources ----------------------------------------------------------------

class FakeCatalogCache:
    """The CR watch, loaded: `catalog` is parsed from the given CR dicts; `rejected` is what
    the real watch would have left out (check.Rejected), as given."""

    def __init__(self, objects: Iterable[Mapping], rejected: Iterable = ()):
        self.rejected = tuple(rejected)
        kinds: dict[str, dict] = {kind: {} for kind in PARSERS}
        for obj in objects:
            entry = PARSERS[obj["kind"]](obj)
            kinds[obj["kind"]][entry.name] = entry
        self.catalog = Catalog(instance_types=kinds["InstanceType"], images=kinds["Image"],
                               datasets=kinds["Dataset"])
        self.loaded = True

    async def wait_loaded(self, timeout: float) -> bool:
        return True


class UnloadedCatalogCache:
    """The CR watch before its first list (API server unreachable since the hub started)."""

    catalog = Catalog()
    rejected = ()
    loaded = False

    async def wait_loaded(self, timeout: float) -> bool:
        return False


# ---- Kubernetes --------------------------------------------------------------------------

_serializer = object.__new__(ApiClient)


def to_json(obj) -> dict:
    """A kubernetes_asyncio model as the JSON the API server receives (camelCase keys)."""
    return json.loads(json.dumps(ApiClient.sanitize_for_serialization(_serializer, obj)))


class RawResponse:
    """What the API client returns with `_preload_content=False`: the body, unparsed."""

    status = 200

    def __init__(self, body: dict):
        self._body = json.dumps(body).encode()

    async def read(self) -> bytes:
        return self._body


class FakeCoreV1Api:
    """Pods and PVCs: keeps what it is asked to create, runs pods at once, deletes on request.

    `created` lists every create request in order, as ("pod"|"pvc", manifest JSON);
    `pods` holds the pods that exist now (what `FakePodReflector` shows), each from
    `watch_lag` seconds after its create.
    """

    watch_lag = 0.0

    def __init__(self):
        self.created: list[tuple[str, dict]] = []
        self.pods: dict[str, dict] = {}
        self.pvcs: dict[str, dict] = {}

    def created_pods(self) -> list[dict]:
        return [m for kind, m in self.created if kind == "pod"]

    async def create_namespaced_pod(self, namespace, body, **kwargs):
        pod = to_json(body)
        self.created.append(("pod", copy.deepcopy(pod)))
        key = f"{namespace}/{pod['metadata']['name']}"
        if key in self.pods:
            raise ApiException(status=409, reason="AlreadyExists")
        pod["metadata"].update(namespace=namespace, uid=str(uuid.uuid4()))
        pod["status"] = {"phase": "Running", "podIP": "127.0.0.1", "containerStatuses": [
            {"name": c["name"], "ready": True, "state": {"running": {}}}
            for c in pod["spec"]["containers"]]}
        if self.watch_lag:
            asyncio.get_running_loop().call_later(self.watch_lag, self.pods.__setitem__, key, pod)
        else:
            self.pods[key] = pod
        return pod

    async def read_namespaced_pod(self, name, namespace, **kwargs):
        try:
            return self.pods[f"{namespace}/{name}"]
        except KeyError:
            raise ApiException(status=404, reason="NotFound") from None

    async def delete_namespaced_pod(self, name, namespace, **kwargs):
        if self.pods.pop(f"{namespace}/{name}", None) is None:
            raise ApiException(status=404, reason="NotFound")

    async def create_namespaced_persistent_volume_claim(self, namespace, body, **kwargs):
        pvc = to_json(body)
        self.created.append(("pvc", copy.deepcopy(pvc)))
        key = f"{namespace}/{pvc['metadata']['name']}"
        if key in self.pvcs:
            raise ApiException(status=409, reason="AlreadyExists")
        self.pvcs[key] = pvc
        return pvc

    async def delete_namespaced_persistent_volume_claim(self, name, namespace, **kwargs):
        if self.pvcs.pop(f"{namespace}/{name}", None) is None:
            raise ApiException(status=404, reason="NotFound")

    async def list_namespaced_persistent_volume_claim(self, namespace, **kwargs):
        listed = {"kind": "PersistentVolumeClaimList",
                  "items": [pvc for key, pvc in self.pvcs.items()
                            if key.startswith(f"{namespace}/")]}
        return RawResponse(listed) if kwargs.get("_preload_content") is False else listed

    async def read_namespaced_persistent_volume_claim(self, name, namespace, **kwargs):
        try:
            return self.pvcs[f"{namespace}/{name}"]
        except KeyError:
            raise ApiException(status=404, reason="NotFound") from None


class _LoadedReflector:
    def __init__(self):
        self.first_load_future = asyncio.get_running_loop().create_future()
        self.first_load_future.set_result(None)

    async def stop(self):
        pass


class _ApiReflector(_LoadedReflector):
    """A watch of what `api` holds in its store `kind`, by "namespace/name"."""
    kind = ""

    def __init__(self, api: FakeCoreV1Api):
        super().__init__()
        self.api = api

    @property
    def resources(self) -> dict:
        return getattr(self.api, self.kind)


class FakePodReflector(_ApiReflector):
    """KubeSpawner's pod watch."""
    kind = "pods"
    pods = _ApiReflector.resources


class FakeClaimReflector(_ApiReflector):
    """The spawner's claim watch."""
    kind = "pvcs"


class UnlistedReflector:
    """A watch whose first list failed (a hub without the right to watch, say)."""

    def __init__(self):
        self.first_load_future = asyncio.get_running_loop().create_future()
        self.first_load_future.set_exception(ApiException(status=403, reason="Forbidden"))
        self.resources = {}

    async def stop(self):
        pass


class FakeEventReflector(_LoadedReflector):
    """KubeSpawner's event watch: no events."""

    resources: ClassVar[dict] = {}
    events: ClassVar[list] = []


class NotebookDouble:
    """The notebook server in a pod: 200 and `{}` to every request, on 127.0.0.1:`port`."""

    class _Any(web.RequestHandler):
        def get(self, *args):
            self.set_header("X-JupyterHub-Version", jupyterhub.__version__)
            self.finish({})

    def __init__(self):
        [sock] = bind_sockets(0, "127.0.0.1")
        self.port = sock.getsockname()[1]
        self._server = HTTPServer(web.Application([(r".*", self._Any)]))
        self._server.add_sockets([sock])

    def stop(self):
        self._server.stop()


class MemoryProxy(Proxy):
    """JupyterHub's proxy with its routing table in a dict; no process to start."""

    should_start = False
    routes = Dict()

    async def add_route(self, routespec, target, data):
        self.routes[routespec] = {"routespec": routespec, "target": target, "data": data}

    async def delete_route(self, routespec):
        self.routes.pop(routespec, None)

    async def get_all_routes(self):
        return copy.deepcopy(self.routes)


# ---- Keycloak ----------------------------------------------------------------------------

class FakeKeycloakAdmin:
    """The Admin REST client over an in-memory realm; tests change the realm as they go."""

    everyone_group = "everyone"

    def __init__(self):
        self.groups: dict[str, Group] = {}
        self.users: dict[str, dict] = {}
        self.calls = 0

    def add_group(self, name: str, roles: Iterable[str] = (), **attributes) -> None:
        self.groups[name] = Group(id=f"gid-{name}", name=name, roles=tuple(roles),
                                  attributes=dict(attributes))

    def add_user(self, name: str, groups: Iterable[str], admin: bool = False,
                 roles: Iterable[str] = (), **attributes) -> None:
        self.users[name] = {"id": f"uid-{name}", "groups": list(groups), "admin": admin,
                            "roles": set(roles), "attributes": dict(attributes)}

    async def user_entitlements(self, username: str) -> UserEntitlements:
        self.calls += 1
        user = self.users.get(username)
        if user is None:
            raise KeycloakError(f"Keycloak has no user {username!r} in realm 'primehub'.")
        return UserEntitlements(
            username=username, user_id=user["id"],
            groups=tuple(self.groups[g] for g in user["groups"]),
            everyone=self.groups.get(self.everyone_group),
            user_attributes=dict(user["attributes"]), is_admin=user["admin"],
            fetched_at=time.time())

    async def user_realm_roles(self, user_id: str) -> set[str]:
        user = next(u for u in self.users.values() if u["id"] == user_id)
        roles = set(user["roles"])
        for name in [*user["groups"], self.everyone_group]:
            if name in self.groups:
                roles |= set(self.groups[name].roles)
        return roles

    async def aclose(self) -> None:
        pass


class DownKeycloakAdmin:
    """The Admin REST client when Keycloak does not answer."""

    async def user_entitlements(self, username: str):
        raise KeycloakUnavailable("Keycloak at http://keycloak.test did not answer "
                                  "GET /admin/realms/primehub/users (ConnectError)")

    user_realm_roles = user_entitlements

    async def aclose(self) -> None:
        pass


class FakeOIDC:
    """The realm's OIDC endpoints on host `keycloak.test`, for `MockAsyncHTTPClient`.

    `authorize(username)` is the user logging in at Keycloak: it returns the code the
    browser brings back. Tokens carry an RS256 ID token signed with the realm key;
    `id_token_claims` (merged into every new ID token) and `signing_key` let a test
    issue a token with a wrong audience, issuer, expiry or signature.
    """

    host = "keycloak.test"
    base = f"http://{host}"
    realm = "primehub"

    def __init__(self, client_id: str = "jupyterhub"):
        self.client_id = client_id
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.signing_key = self.key
        self.kid = "realm-key-1"
        self.id_token_claims: dict = {}
        self._codes: dict[str, str] = {}
        self._access: dict[str, str] = {}
        self._refresh: dict[str, str] = {}
        self.token_requests: list[dict] = []

    @classmethod
    def configure(cls, c, client_id: str = "jupyterhub") -> None:
        """Hub settings making PrimeHubAuthenticator the authenticator, against this realm."""
        from primehub_spawner.authenticator import PrimeHubAuthenticator
        c.JupyterHub.authenticator_class = PrimeHubAuthenticator
        c.PrimeHubAuthenticator.keycloak_url = cls.base
        c.PrimeHubAuthenticator.client_id = client_id
        c.PrimeHubAuthenticator.client_secret = "jupyterhub-test-secret"

    @property
    def issuer(self) -> str:
        return f"{self.base}/realms/{self.realm}"

    def authorize(self, username: str) -> str:
        code = uuid.uuid4().hex
        self._codes[code] = username
        return code

    def expire_access_tokens(self) -> None:
        """Every access token given so far stops working (refresh tokens still work)."""
        self._access.clear()

    def id_token(self, username: str) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.client_id, "azp": self.client_id,
                  "sub": f"uid-{username}", "iat": now, "exp": now + 300,
                  "jti": uuid.uuid4().hex, "preferred_username": username,
                  **self.id_token_claims}
        return jwt.encode(claims, self.signing_key, algorithm="RS256",
                          headers={"kid": self.kid})

    def client(self) -> MockAsyncHTTPClient:
        client = MockAsyncHTTPClient(force_instance=True)
        oidc = f"/realms/{self.realm}/protocol/openid-connect"
        client.add_host(self.host, [
            (f"/realms/{self.realm}/.well-known/openid-configuration", self._discovery),
            (f"{oidc}/certs", self._certs),
            (f"{oidc}/token", self._token),
            (f"{oidc}/userinfo", self._userinfo),
        ])
        return client

    # -- endpoints --

    def _discovery(self, request):
        oidc = f"{self.issuer}/protocol/openid-connect"
        return {"issuer": self.issuer, "authorization_endpoint": f"{oidc}/auth",
                "token_endpoint": f"{oidc}/token", "userinfo_endpoint": f"{oidc}/userinfo",
                "jwks_uri": f"{oidc}/certs", "end_session_endpoint": f"{oidc}/logout"}

    def _certs(self, request):
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(kid=self.kid, alg="RS256", use="sig")
        return {"keys": [jwk]}

    def _token(self, request):
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        self.token_requests.append(form)
        if form.get("grant_type") == "authorization_code":
            username = self._codes.pop(form.get("code", ""), None)
            if username is None or not form.get("code_verifier"):
                return HTTPResponse(request=request, code=400, reason="invalid_grant")
        elif form.get("grant_type") == "refresh_token":
            username = self._refresh.get(form.get("refresh_token", ""))
            if username is None:
                return HTTPResponse(request=request, code=400, reason="invalid_grant")
        else:
            return HTTPResponse(request=request, code=400, reason="unsupported_grant_type")
        access, refresh = uuid.uuid4().hex, uuid.uuid4().hex
        self._access[access] = username
        self._refresh[refresh] = username
        return {"access_token": access, "refresh_token": refresh, "token_type": "Bearer",
                "expires_in": 300, "scope": "openid profile email",
                "id_token": self.id_token(username)}

    def _userinfo(self, request):
        token = (request.headers.get("Authorization") or " ").split(None, 1)[-1]
        username = self._access.get(token)
        if username is None:
            return HTTPResponse(request=request, code=401, reason="invalid_token")
        return {"sub": f"uid-{username}", "preferred_username": username,
                "email": f"{username}@example.org"}


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}
