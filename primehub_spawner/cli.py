"""The `primehub-spawner` command: tools for the operator of a PrimeHub-style hub.

    primehub-spawner keycloak-setup --keycloak-url URL --hub-url URL [--check]

Each subcommand is one `_add_<name>` function that registers its parser and sets `run`;
a new subcommand adds one more.

Admin credentials come from the environment only (KEYCLOAK_ADMIN_USER,
KEYCLOAK_ADMIN_PASSWORD): a password on the command line ends up in shell histories and in
the process list. Neither they nor the client secret are ever printed.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ADMIN_USER_ENV = "KEYCLOAK_ADMIN_USER"
ADMIN_PASSWORD_ENV = "KEYCLOAK_ADMIN_PASSWORD"


class UsageError(Exception):
    """A problem the operator must fix before the command can run (exit status 2)."""


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


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="primehub-spawner",
        description="Tools for the operator of a hub running primehub_spawner.")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_keycloak_setup(commands)
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


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        from keycloak.exceptions import KeycloakError
    except ImportError:  # only keycloak-setup needs it; connect() says so
        KeycloakError = ()  # an except clause that matches nothing
    try:
        return args.run(args)
    except UsageError as e:
        print(f"primehub-spawner {args.command}: {e}", file=sys.stderr)
        return 2
    except KeycloakError as e:
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
        return (f"Keycloak at {args.keycloak_url} refused the admin credentials in "
                f"${ADMIN_USER_ENV} and ${ADMIN_PASSWORD_ENV} (realm {args.admin_realm}).")
    if code == 403:
        return (f"The admin in ${ADMIN_USER_ENV} may not manage realm {args.realm} "
                f"(Keycloak answered 403).")
    if code is None:
        return f"Keycloak at {args.keycloak_url} could not be reached: {message}"
    return f"Keycloak at {args.keycloak_url} answered {code}: {message}"


if __name__ == "__main__":
    sys.exit(main())
