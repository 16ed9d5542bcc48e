"""The hub's admin page /hub/primehub/explain?user=NAME[&group=G]: `primehub-spawner explain`
for one user, from what the hub already holds.

Glue. The user's entitlements come from their auth_state, as stored at their last login or
refresh (Keycloak is not called to render the page); the catalog and the objects it
rejected from the spawner's shared watch; quota use from KubeSpawner's shared pod watch.
`explain.py` decides; `templates/explain.html` (autoescaped) shows it.

PrimeHubAuthenticator registers it (its `get_handlers`, under the hub's prefix) unless
`PrimeHubAuthenticator.explain_page` is False; no hub setting is needed. It does not import
the spawner (the authenticator must not): the user's spawner is recognised by the
`primehub_menu` marker PrimeHubSpawner sets.
"""
from __future__ import annotations

import datetime
import functools
from pathlib import Path

import jinja2
from jupyterhub.handlers import BaseHandler
from jupyterhub.scopes import needs_scope
from tornado import web

from .entitlements import UserEntitlements
from .errors import refusal
from .explain import (
    AVAILABLE,
    BLOCKED,
    MALFORMED,
    NO_RESOURCE,
    NOT_GRANTED,
    explain,
    usage_from_pods,
)
from .names import AUTH_STATE_KEY, shown

TEMPLATES = Path(__file__).parent / "templates"
PATH = "/primehub/explain"
# Bootstrap's badge colour for each state.
BADGES = {AVAILABLE: "success", BLOCKED: "warning", NOT_GRANTED: "secondary",
          NO_RESOURCE: "danger", MALFORMED: "danger"}


@functools.lru_cache(maxsize=4)
def _environment(hub_environment: jinja2.Environment) -> jinja2.Environment:
    """The hub's own Jinja environment (so that explain.html extends the hub's page.html,
    from the operator's template_paths too) with our template folder first, autoescaped.
    `jinja2_env` is the hub's tornado setting, the one its own handlers render with."""
    loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(TEMPLATES), hub_environment.loader])
    return hub_environment.overlay(loader=loader, autoescape=True)


class ExplainHandler(BaseHandler):
    """What a user may launch in each group and why, for the hub's admins."""

    @web.authenticated
    @needs_scope("admin:users")
    async def get(self):
        name = self.get_argument("user", "").strip()
        group = self.get_argument("group", "").strip() or None
        # A missing or unknown user is said on this page, with its form, rather than on the
        # hub's error page (whose 404 shows no sentence on JupyterHub 5.5).
        if not name:
            return await self._render(400, name, group, problem="Name the user to explain.")
        user = self.find_user(name)
        if user is None:
            return await self._render(404, name, group,
                                      problem=f"The hub has no user {shown(name)}.")
        spawner = user.spawner
        # PrimeHubSpawner's marker, rather than an isinstance check: this module is imported
        # by the authenticator, which must not import the spawner. The page uses the
        # spawner's _catalog(), _catalog_cache(), enforce_quota, pod_reflector,
        # _start_watching_pods(), _watched_pods() and role_prefix.
        if not getattr(spawner, "primehub_menu", False):
            raise refusal(500, "The hub's spawner is not PrimeHubSpawner, whose menu this "
                               "page explains.")
        auth_state = await user.get_auth_state() or {}
        entitlements, problem = _entitlements(name, auth_state.get(AUTH_STATE_KEY))
        if entitlements is None:
            return await self._render(200, name, group, problem=problem)
        catalog = await spawner._catalog()  # 503 with a sentence until the first list
        usage = None
        notes = []
        if spawner.enforce_quota:
            if spawner.pod_reflector is None:
                await spawner._start_watching_pods()
            if _listed(spawner.pod_reflector):
                usage = usage_from_pods(spawner._watched_pods().values(), name, catalog)
            else:
                notes.append("The hub's pod watch has not listed the running servers yet, so "
                             "quota use is not shown; reload in a moment.")
        explanation = explain(entitlements, catalog, spawner._catalog_cache().rejected, usage,
                              group=group, prefix=spawner.role_prefix)
        fetched = ""
        if entitlements.fetched_at:
            fetched = datetime.datetime.fromtimestamp(entitlements.fetched_at, datetime.UTC) \
                .strftime("%Y-%m-%d %H:%M:%S UTC")
        await self._render(200, name, group, explanation=explanation, notes=notes,
                           fetched=fetched)

    async def _render(self, status: int, name: str, group: str | None, *, explanation=None,
                      problem: str | None = None, notes=(), fetched: str = "") -> None:
        template = _environment(self.settings["jinja2_env"]).get_template("explain.html")
        namespace = {**self.template_namespace, "xsrf_token": self.xsrf_token.decode("ascii")}
        self.set_status(status)
        self.write(await template.render_async(
            **namespace, explained_user=name, group=group or "", explanation=explanation,
            problem=problem, notes=notes, badges=BADGES, fetched=fetched))


def _entitlements(name: str, data: object) -> tuple[UserEntitlements | None, str | None]:
    if data is None:
        return None, (f"The hub holds no entitlements for {name}: they are stored when the "
                      "user logs in through Keycloak.")
    try:
        return UserEntitlements.from_json(data), None
    except (KeyError, TypeError, ValueError, AttributeError):
        return None, (f"The entitlements the hub holds for {name} cannot be read; they are "
                      "stored again at the user's next login.")


def _listed(reflector) -> bool:
    """Whether KubeSpawner's pod watch has its first list (its first_load_future, which the
    spawner's quota check waits for too)."""
    loaded = getattr(reflector, "first_load_future", None)
    return loaded is not None and loaded.done() and not loaded.cancelled() \
        and loaded.exception() is None

