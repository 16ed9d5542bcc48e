"""What `primehub-spawner keycloak-setup` makes of a realm, and how it finds out.

The realm needs three things for the hub (README, "Install"): the OIDC client, its service
account holding exactly `view-users` and `view-clients` of `realm-management`, and the
`everyone` group as a default group.

The top half is pure: given the representations Keycloak returns, it lists `Finding`s, each
a sentence saying what is wrong and, when keycloak-setup puts it right, what it does. The
bottom half (`run`) reads and writes the realm through python-keycloak, a synchronous client
that suits a command-line tool (the hub itself uses its own async client, keycloak.py).
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

REALM_MANAGEMENT = "realm-management"
# What the hub's service account reads (keycloak.py): users, their groups and roles, the
# realm-management client's roles (hub admins). view-* bring the query-* roles they need.
SERVICE_ACCOUNT_ROLES = frozenset({"view-users", "view-clients"})
PKCE = "pkce.code.challenge.method"
POST_LOGOUT = "post.logout.redirect.uris"


@dataclass(frozen=True)
class Finding:
    wrong: str                # what `--check` prints
    fix: str | None = None    # what keycloak-setup prints when it has put it right;
    #                           None: keycloak-setup reports it and leaves it to the operator


@dataclass(frozen=True)
class ClientSpec:
    client_id: str
    hub_url: str              # the hub as browsers reach it, with any base-URL prefix

    @property
    def redirect_uri(self) -> str:
        return f"{self.hub_url.rstrip('/')}/hub/oauth_callback"

    @property
    def post_logout_uri(self) -> str:
        # The logout handler sends the browser back to the hub's base URL.
        return f"{self.hub_url.rstrip('/')}/hub/"


# Top-level fields of the client: (field, wanted value, what is wrong, what setup did).
_CLIENT_FIELDS = (
    ("enabled", True, "is disabled", "enabled it"),
    ("publicClient", False, "is public; the hub needs a confidential client with a secret",
     "made it confidential"),
    ("clientAuthenticatorType", "client-secret",
     "does not authenticate with a client secret", "set it to authenticate with a client secret"),
    ("standardFlowEnabled", True, "has the standard flow (authorization code) off",
     "turned the standard flow on"),
    ("serviceAccountsEnabled", True,
     "has service accounts off; the hub reads groups and roles through its service account",
     "turned service accounts on"),
)


def covers(registered: str, uri: str) -> bool:
    """Whether a redirect URI registered in Keycloak accepts `uri` (a trailing `*` is a
    prefix match there, as in Keycloak's own check)."""
    if registered.endswith("*"):
        return uri.startswith(registered[:-1])
    return registered == uri


def _post_logout_uris(client: dict) -> list[str]:
    value = (client.get("attributes") or {}).get(POST_LOGOUT) or ""
    return [uri for uri in value.split("##") if uri]


def _post_logout_accepts(client: dict, uri: str) -> bool:
    registered = _post_logout_uris(client)
    if "+" in registered:  # Keycloak: "+" means the valid redirect URIs
        registered = [*registered, *(client.get("redirectUris") or [])]
    return any(covers(r, uri) for r in registered if r != "+")


def new_client(spec: ClientSpec) -> dict:
    """The representation keycloak-setup creates."""
    client = {"clientId": spec.client_id, "name": "JupyterHub", "protocol": "openid-connect",
              "implicitFlowEnabled": False, "directAccessGrantsEnabled": False,
              "redirectUris": [spec.redirect_uri],
              "attributes": {PKCE: "S256", POST_LOGOUT: spec.post_logout_uri}}
    client.update({name: wanted for name, wanted, _, _ in _CLIENT_FIELDS})
    return client


def plan_client(current: dict | None, spec: ClientSpec) -> tuple[list[Finding], dict | None]:
    """(findings, the representation to create or to PUT, or None when nothing changes)."""
    name = f"client {spec.client_id}"
    if current is None:
        wanted = new_client(spec)
        return [Finding(f"{name} does not exist",
                        f"created {name}: confidential, standard flow, PKCE S256, service "
                        f"account, redirect URI {spec.redirect_uri}, post-logout redirect URI "
                        f"{spec.post_logout_uri}")], wanted
    updated = copy.deepcopy(current)
    attributes = updated["attributes"] = dict(current.get("attributes") or {})
    findings = []
    for key, wanted, wrong, fix in _CLIENT_FIELDS:
        if current.get(key) != wanted:
            updated[key] = wanted
            findings.append(Finding(f"{name} {wrong}", f"{name}: {fix}"))
    if attributes.get(PKCE) != "S256":
        findings.append(Finding(
            f"{name} does not require PKCE with S256 ({PKCE} is "
            f"{attributes.get(PKCE) or 'unset'})", f"{name}: required PKCE with S256"))
        attributes[PKCE] = "S256"
    if not any(covers(r, spec.redirect_uri) for r in current.get("redirectUris") or []):
        findings.append(Finding(f"{name} does not accept the redirect URI {spec.redirect_uri}",
                                f"{name}: added the redirect URI {spec.redirect_uri}"))
        updated["redirectUris"] = [*(current.get("redirectUris") or []), spec.redirect_uri]
    if not _post_logout_accepts(current, spec.post_logout_uri):
        findings.append(Finding(
            f"{name} does not accept the post-logout redirect URI {spec.post_logout_uri}",
            f"{name}: added the post-logout redirect URI {spec.post_logout_uri}"))
        attributes[POST_LOGOUT] = "##".join([*_post_logout_uris(current), spec.post_logout_uri])
    return findings, (updated if findings else None)


def plan_service_account(client_id: str, direct: Iterable[str], effective: Iterable[str],
                         implied: Iterable[str]) -> tuple[list[Finding], list[str]]:
    """(findings, the realm-management roles to grant).

    direct: the service account's own realm-management roles; effective: those it holds in
    all (through composites, groups, realm roles); implied: the composites of the wanted roles.
    Extra roles are reported, never taken away: the client may serve someone else too.
    """
    direct, effective = set(direct), set(effective)
    who = f"the service account of client {client_id}"
    findings = []
    missing = sorted(SERVICE_ACCOUNT_ROLES - direct)
    if missing:
        roles = " and ".join(missing)
        findings.append(Finding(f"{who} lacks {roles} of {REALM_MANAGEMENT}",
                                f"{who}: granted {roles} of {REALM_MANAGEMENT}"))
    for role in sorted(direct - SERVICE_ACCOUNT_ROLES):
        findings.append(Finding(f"{who} holds {role} of {REALM_MANAGEMENT}, which the hub does "
                                f"not need; remove it in Keycloak"))
    for role in sorted(effective - direct - SERVICE_ACCOUNT_ROLES - set(implied)):
        findings.append(Finding(f"{who} holds {role} of {REALM_MANAGEMENT} through a group or "
                                f"a composite role, which the hub does not need; remove it in "
                                f"Keycloak"))
    return findings, missing


def plan_everyone(name: str, group: dict | None,
                  default_group_paths: Iterable[str]) -> tuple[list[Finding], bool, bool]:
    """(findings, create the group, make it a default group)."""
    if group is None:
        return [Finding(f"group {name} does not exist",
                        f"created group {name} as a default group (users created from now on "
                        f"join it; add the existing ones in Keycloak)")], True, True
    if group.get("path", f"/{name}") not in set(default_group_paths):
        return [Finding(f"group {name} is not a default group, so new users do not join it",
                        f"made {name} a default group (users created from now on join it; add "
                        f"the existing ones in Keycloak)")], False, True
    return [], False, False


# ---- talking to Keycloak (python-keycloak, synchronous) --------------------------------------

@dataclass
class Outcome:
    findings: list[Finding] = field(default_factory=list)
    client_uuid: str | None = None

    @property
    def left_wrong(self) -> list[Finding]:
        return [f for f in self.findings if f.fix is None]


def _one_group(admin, name: str) -> dict | None:
    # An exact search also finds subgroups of that name: only the top-level one counts.
    matches = admin.get_groups(query={"search": name, "exact": "true"})
    return next((g for g in matches if g.get("path") == f"/{name}"), None)


def _default_group_paths(admin) -> list[str]:
    # python-keycloak has no call for a realm's default groups; its connection makes the
    # request with the same token and error handling.
    from keycloak.exceptions import KeycloakGetError, raise_error_from_response

    response = admin.connection.raw_get(
        f"admin/realms/{admin.connection.realm_name}/default-groups")
    return [g["path"] for g in raise_error_from_response(response, KeycloakGetError)]


def _make_default_group(admin, group_id: str) -> None:
    from keycloak.exceptions import KeycloakPutError, raise_error_from_response

    response = admin.connection.raw_put(
        f"admin/realms/{admin.connection.realm_name}/default-groups/{group_id}", data="{}")
    raise_error_from_response(response, KeycloakPutError, expected_codes=[204])


def run(admin, spec: ClientSpec, everyone: str, check: bool,
        say: Callable[[str], None]) -> Outcome:
    """Check the realm and, unless `check`, put right what keycloak-setup may put right.

    `admin` is a python-keycloak KeycloakAdmin bound to the realm. `say` gets one sentence
    per finding: its fix once done, or what is wrong when it stays so (or when checking).
    """
    outcome = Outcome()

    def report(findings: list[Finding], act: Callable[[], None] | None = None) -> None:
        outcome.findings.extend(findings)
        if not check and act and any(f.fix for f in findings):
            act()
        for finding in findings:
            say(finding.wrong if check or finding.fix is None else finding.fix)

    client_uuid = admin.get_client_id(spec.client_id)
    current = admin.get_client(client_uuid) if client_uuid else None
    findings, representation = plan_client(current, spec)

    def write_client():
        nonlocal client_uuid
        if client_uuid is None:
            client_uuid = admin.create_client(representation)
        else:
            admin.update_client(client_uuid, representation)
    report(findings, write_client)
    outcome.client_uuid = client_uuid

    # Without the client, or with its service account off, there is no account to check:
    # the client's findings already say so.
    if client_uuid and (not check or (current or {}).get("serviceAccountsEnabled")):
        user_id = admin.get_client_service_account_user(client_uuid)["id"]
        management = admin.get_client_id(REALM_MANAGEMENT)
        direct = [r["name"] for r in admin.get_client_roles_of_user(user_id, management)]
        effective = [r["name"] for r in
                     admin.get_composite_client_roles_of_user(user_id, management)]
        implied = {r["name"] for role in SERVICE_ACCOUNT_ROLES
                   for r in admin.get_composite_client_roles_of_role(management, role)}
        findings, grant = plan_service_account(spec.client_id, direct, effective, implied)
        report(findings, lambda: admin.assign_client_role(
            user_id, management, [admin.get_client_role(management, r) for r in grant]))

    group = _one_group(admin, everyone)
    findings, create, make_default = plan_everyone(everyone, group, _default_group_paths(admin))

    def write_group():
        group_id = group["id"] if group else admin.create_group({"name": everyone})
        if make_default:
            _make_default_group(admin, group_id)
    report(findings, write_group if (create or make_default) else None)
    return outcome


def client_secret(admin, client_uuid: str) -> str:
    return admin.get_client_secrets(client_uuid)["value"]
