"""The `primehub-spawner` command: tools for the operator of a PrimeHub-style hub.

    primehub-spawner keycloak-setup --keycloak-url URL --hub-url URL [--check]
    primehub-spawner check --keycloak-url URL [--namespace hub] [--kubeconfig FILE]
    primehub-spawner explain USER [--group G] --keycloak-url URL [--namespace hub]

Each subcommand is one `_add_<name>` function that registers its parser and sets `run`;
a new subcommand adds one more.

Admin credentials come from the environment only (KEYCLOAK_ADMIN_USER,
KEYCLOAK_ADMIN_PASSWORD): a password on the command line ends up in shell histories and in
the process list. Neither they nor the client secret are ever printed.

`check` and `explain` read the custom resources with kubernetes_asyncio (a kubeconfig, or
the pod's service account) and the realm with the hub's own Admin REST reader
(keycloak.py), logged in as that admin; the pure modules check.py and explain.py decide.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from urllib.parse import quote

from . import check, explain
from .catalog import GROUP, PLURALS, VERSION
from .keycloak import KeycloakAdmin, KeycloakError, KeycloakUnavailable
from .names import LABEL_GROUP, role_prefix_problem

ADMIN_USER_ENV = "KEYCLOAK_ADMIN_USER"
ADMIN_PASSWORD_ENV = "KEYCLOAK_ADMIN_PASSWORD"
# Bound on each call to the API server or Keycloak (seconds).
TIMEOUT = 30


class UsageError(Exception):
    """A problem the operator must fix before the command can run, or a cluster or Keycloak
    that cannot be read (exit status 2)."""


def _url(value: str) -> str:
    value = value.rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"{value!r} must start with http:// or https://")
    return value


def _keycloak_url(value: str) -> str:
    value = _url(value)
    if "/realms/" in value:
        raise argparse.ArgumentTypeError(f"{value!r} is a realm's URL; give Keycloak's base URL "
                                         "and the realm with --realm")
    return value


def _add_keycloak_options(parser: argparse.ArgumentParser) -> None:
    env_url = os.environ.get("KEYCLOAK_URL")
    parser.add_argument("--keycloak-url", type=_keycloak_url, default=env_url,
                        required=env_url is None,
                        help="Keycloak's base URL, e.g. https://id.example.org "
                             "(default: $KEYCLOAK_URL)")
    parser.add_argument("--realm", default="primehub", help="the hub's realm (default: primehub)")
    parser.add_argument("--admin-realm", default="master",
                        help=f"realm of the admin user in ${ADMIN_USER_ENV} (default: master)")


def _add_keycloak_setup(commands) -> None:
    parser = commands.add_parser(
        "keycloak-setup", help="create or check the hub's client, service account and group",
        description="Create, or with --check only check, what the hub needs in the realm: the "
                    "confidential OIDC client (standard flow, PKCE S256, the hub's redirect "
                    "and post-logout redirect URIs), its service account with exactly "
                    "view-users and view-clients of realm-management, and the everyone group "
                    "as a default group. Prints what it changed; extra roles are reported, "
                    f"never removed. Admin credentials are read from ${ADMIN_USER_ENV} and "
                    f"${ADMIN_PASSWORD_ENV}.")
    _add_keycloak_options(parser)
    parser.add_argument("--client-id", default="jupyterhub",
                        help="the hub's OIDC client (default: jupyterhub)")
    parser.add_argument("--hub-url", type=_url, required=True,
                        help="the hub as browsers reach it, with any base-URL prefix, e.g. "
                             "https://hub.example.org")
    parser.add_argument("--everyone-group", default="everyone",
                        help="the group every user joins (default: everyone)")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; print only what is wrong, exit 1 if anything is")
    parser.add_argument("--secret-file", type=Path,
                        help="write the client's secret to this file (mode 600), for a "
                             "Kubernetes Secret; it is never printed")
    parser.set_defaults(run=run_keycloak_setup)


def _role_prefix(value: str) -> str:
    problem = role_prefix_problem(value)  # the rule of PrimeHubSpawner.role_prefix
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return value


def _add_cluster_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--namespace", default=os.environ.get("PRIMEHUB_NAMESPACE", "hub"),
                        help="namespace of the InstanceType, Image and Dataset objects and of "
                             "the servers' pods (default: $PRIMEHUB_NAMESPACE, else hub)")
    parser.add_argument("--kubeconfig", type=Path,
                        help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config, "
                             "else the service account of the pod this runs in)")
    parser.add_argument("--role-prefix", type=_role_prefix, default="",
                        help="the hub's PrimeHubSpawner.role_prefix, when it has one")


def _add_check(commands) -> None:
    parser = commands.add_parser(
        "check", help="list the custom resources the hub rejects and the roles naming nothing",
        description="Read every InstanceType, Image and Dataset in the namespace and every realm "
                    "role, and print one line for each custom resource the hub leaves out of "
                    "its menus (with the reason) and each access role (it:, img:, ds:, "
                    "ds:rw:) that names no resource. Exit status 1 when anything is wrong, 0 "
                    "when nothing is, 2 when the cluster or Keycloak cannot be read. Admin "
                    f"credentials are read from ${ADMIN_USER_ENV} and ${ADMIN_PASSWORD_ENV}.")
    _add_cluster_options(parser)
    _add_keycloak_options(parser)
    parser.set_defaults(run=run_check)


def _add_explain(commands) -> None:
    parser = commands.add_parser(
        "explain", help="why a user can or cannot launch each instance type, image and dataset",
        description="For each of the user's groups (or only --group), every instance type, "
                    "image and dataset: available, blocked, not granted, granted but missing, "
                    "or malformed, why, and which group grants it through which role; with "
                    "the group's quota and the use of its running servers. The same decisions "
                    "as the hub's Server Options menu. Admin credentials are read from "
                    f"${ADMIN_USER_ENV} and ${ADMIN_PASSWORD_ENV}.")
    parser.add_argument("user", help="the user's Keycloak username")
    parser.add_argument("--group", help="only this launch group (its name, or its path)")
    parser.add_argument("--everyone-group", default="everyone",
                        help="the group every user joins (default: everyone)")
    _add_cluster_options(parser)
    _add_keycloak_options(parser)
    parser.set_defaults(run=run_explain)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="primehub-spawner",
        description="Tools for the operator of a hub running primehub_spawner.")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_keycloak_setup(commands)
    _add_check(commands)
    _add_explain(commands)
    return top


def admin_credentials(environ=os.environ) -> tuple[str, str]:
    user, password = environ.get(ADMIN_USER_ENV), environ.get(ADMIN_PASSWORD_ENV)
    if not user or not password:
        raise UsageError(f"Set {ADMIN_USER_ENV} and {ADMIN_PASSWORD_ENV} to a Keycloak admin's "
                         "name and password (they are not taken on the command line).")
    return user, password


def connect(args: argparse.Namespace, environ=os.environ):
    """A python-keycloak admin client bound to the hub's realm."""
    user, password = admin_credentials(environ)
    try:
        from keycloak import KeycloakAdmin
    except ImportError:
        raise UsageError("This command needs python-keycloak: "
                         "pip install 'primehub-spawner[cli]'") from None
    return KeycloakAdmin(server_url=f"{args.keycloak_url}/", username=user, password=password,
                         realm_name=args.realm, user_realm_name=args.admin_realm, timeout=30)


def _write_secret(path: Path, secret: str) -> None:
    # Mode 600 before anything is written: a new file is created so, an existing one (whose
    # mode open() keeps) is narrowed first.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(secret)


def _require_realm(admin, args: argparse.Namespace) -> None:
    from keycloak.exceptions import KeycloakGetError

    try:
        admin.get_realm(args.realm)
    except KeycloakGetError as e:
        if e.response_code == 404:
            raise UsageError(f"Realm {args.realm} does not exist in {args.keycloak_url}.") \
                from None
        raise


def run_keycloak_setup(args: argparse.Namespace) -> int:
    from . import keycloak_setup

    if args.check and args.secret_file:
        raise UsageError("--check changes nothing and writes nothing; drop --secret-file.")
    admin = connect(args)
    spec = keycloak_setup.ClientSpec(client_id=args.client_id, hub_url=args.hub_url)
    _require_realm(admin, args)
    outcome = keycloak_setup.run(admin, spec, everyone=args.everyone_group, check=args.check,
                                 say=print)
    if args.check:
        return 1 if outcome.findings else 0
    if not outcome.findings:
        print(f"Nothing to change: client {args.client_id}, its service account and group "
              f"{args.everyone_group} are as the hub needs them in realm {args.realm}.")
    if args.secret_file:
        _write_secret(args.secret_file, keycloak_setup.client_secret(admin, outcome.client_uuid))
        print(f"Wrote the secret of client {args.client_id} to {args.secret_file}.")
    return 1 if outcome.left_wrong else 0


# ---- check and explain ------------------------------------------------------------------------

def run_check(args: argparse.Namespace) -> int:
    return asyncio.run(_check(args))


async def _check(args: argparse.Namespace) -> int:
    objects, _ = await read_cluster(args)
    async with OperatorKeycloak(args) as keycloak:
        roles = await keycloak.realm_roles()
    catalog, rejected = check.read_catalog(objects)
    problems = check.check(catalog, rejected, roles, args.role_prefix, args.namespace)
    for problem in problems:
        print(explain.printable(problem.line))
    if not problems:
        print(f"Nothing wrong: {len(catalog.instance_types)} instance types, "
              f"{len(catalog.images)} images and {len(catalog.datasets)} datasets in namespace "
              f"{args.namespace}; every access role of realm {args.realm} names one of them.")
    return 1 if problems else 0


def run_explain(args: argparse.Namespace) -> int:
    return asyncio.run(_explain(args))


async def _explain(args: argparse.Namespace) -> int:
    objects, pods = await read_cluster(args, pods=True)
    async with OperatorKeycloak(args) as keycloak:
        entitlements = await keycloak.user_entitlements(args.user)
    catalog, rejected = check.read_catalog(objects)
    result = explain.explain(entitlements, catalog, rejected,
                             explain.usage_from_pods(pods, entitlements.username, catalog),
                             group=args.group, prefix=args.role_prefix)
    print(explain.render_text(result), end="")
    return 1 if result.problem else 0


async def read_cluster(args: argparse.Namespace, pods: bool = False) -> tuple[dict, list]:
    """The three kinds' objects in the namespace, and with `pods` the pods carrying the
    group label (one list call), as the API server returns them."""
    from aiohttp import ClientError
    from kubernetes_asyncio import client
    from kubernetes_asyncio.client import ApiException

    configuration = await _kube_configuration(args)
    what = "the custom resources"
    try:
        async with client.ApiClient(configuration) as api:
            custom = client.CustomObjectsApi(api)
            objects = {}
            for kind, plural in PLURALS.items():
                what = plural
                listed = await custom.list_namespaced_custom_object(
                    GROUP, VERSION, args.namespace, plural, _request_timeout=TIMEOUT)
                objects[kind] = listed.get("items") or []
            listed_pods = []
            if pods:
                what = "pods"
                # As the JSON the API server sends: quota.py reads pods as dicts.
                response = await client.CoreV1Api(api).list_namespaced_pod(
                    args.namespace, label_selector=LABEL_GROUP, _preload_content=False,
                    _request_timeout=TIMEOUT)
                listed_pods = json.loads(await response.read()).get("items") or []
    except ApiException as e:
        hint = {403: "; the credential needs list on it (crds/rbac.yaml)",
                404: "; are the CRDs installed (kubectl apply -f crds/)?"}.get(e.status, "")
        raise UsageError(f"Kubernetes answered {e.status} {e.reason} to listing {what} in "
                         f"namespace {args.namespace}{hint}") from None
    except (ClientError, OSError, TimeoutError) as e:
        raise UsageError(f"Kubernetes at {configuration.host} could not be reached "
                         f"({type(e).__name__}: {e}).") from None
    return objects, listed_pods


async def _kube_configuration(args: argparse.Namespace):
    from kubernetes_asyncio import client, config

    configuration = client.Configuration()
    default = Path("~/.kube/config").expanduser()
    path = args.kubeconfig or os.environ.get("KUBECONFIG") or (default if default.exists()
                                                               else None)
    try:
        if path:
            await config.load_kube_config(config_file=str(path),
                                          client_configuration=configuration)
        else:
            config.load_incluster_config(client_configuration=configuration)
    except (config.ConfigException, OSError, ValueError) as e:
        where = f"kubeconfig {path}" if path else "the pod's service account (no kubeconfig)"
        raise UsageError(f"Could not read Kubernetes credentials from {where}: {e}") from None
    return configuration


class OperatorKeycloak(KeycloakAdmin):
    """The hub's own Admin REST reader, logged in as the operator's Keycloak admin instead of
    the hub's service account: a user's groups and roles are read exactly as at login."""

    def __init__(self, args: argparse.Namespace, environ=os.environ, transport=None):
        self._login = (args.admin_realm, *admin_credentials(environ))
        super().__init__(url=args.keycloak_url, realm=args.realm, client_id="admin-cli",
                         client_secret="", timeout=TIMEOUT, retries=1, transport=transport,
                         everyone_group=getattr(args, "everyone_group", "everyone"))
        self._refused = _refused_credentials(args)
        self._admin_token: str | None = None

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.aclose()

    async def _service_token(self, renew: bool = False) -> str:
        # The admin's password grant on admin-cli replaces the service account's client
        # credentials; the reads that use the token are the hub's own.
        if self._admin_token and not renew:
            return self._admin_token
        realm, user, password = self._login
        response = await self._send(
            "POST", f"{self.base}/realms/{quote(realm)}/protocol/openid-connect/token",
            data={"grant_type": "password", "client_id": "admin-cli", "username": user,
                  "password": password})
        if response.status_code in (400, 401):
            raise KeycloakError(self._refused)
        token = None
        if response.status_code == 200:
            try:
                token = response.json().get("access_token")
            except (ValueError, AttributeError):
                token = None
        if not isinstance(token, str) or not token:
            raise KeycloakError(f"Keycloak at {self.base} answered the admin login with HTTP "
                                f"{response.status_code} and no token.")
        self._admin_token = token
        return token

    async def realm_roles(self) -> list[str]:
        roles = await self._get("/roles")
        if roles is None:
            raise KeycloakError(f"Realm {self.realm} does not exist in {self.base}.")
        if not isinstance(roles, list) or not all(
                isinstance(r, dict) and isinstance(r.get("name"), str) for r in roles):
            raise KeycloakUnavailable(f"Keycloak at {self.base} answered the realm's roles in "
                                      "a shape the Admin API does not have.")
        return [r["name"] for r in roles]


def _refused_credentials(args: argparse.Namespace) -> str:
    return (f"Keycloak at {args.keycloak_url} refused the admin credentials in "
            f"${ADMIN_USER_ENV} and ${ADMIN_PASSWORD_ENV} (realm {args.admin_realm}).")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        from keycloak.exceptions import KeycloakError as PythonKeycloakError
    except ImportError:  # only keycloak-setup needs it; connect() says so
        PythonKeycloakError = ()  # an except clause that matches nothing
    try:
        return args.run(args)
    except (UsageError, KeycloakError, KeycloakUnavailable) as e:  # sentences already
        print(f"primehub-spawner {args.command}: {e}", file=sys.stderr)
        return 2
    except PythonKeycloakError as e:
        print(f"primehub-spawner {args.command}: {keycloak_failure(e, args)}", file=sys.stderr)
        return 2


def keycloak_failure(error, args: argparse.Namespace) -> str:
    """A sentence for a failed Keycloak call; Keycloak's answers carry no secrets."""
    code = getattr(error, "response_code", None)
    message = getattr(error, "error_message", error)
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    # Keycloak refuses a wrong password with 401, or since 26.x with 400 invalid_grant.
    if code == 401 or (code == 400 and "invalid_grant" in str(message)):
        return _refused_credentials(args)
    if code == 403:
        return (f"The admin in ${ADMIN_USER_ENV} may not manage realm {args.realm} "
                f"(Keycloak answered 403).")
    if code is None:
        return f"Keycloak at {args.keycloak_url} could not be reached: {message}"
    return f"Keycloak at {args.keycloak_url} answered {code}: {message}"


if __name__ == "__main__":
    sys.exit(main())
