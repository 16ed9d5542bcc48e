"""PrimeHubSpawner: KubeSpawner with a Server Options menu granted by Keycloak roles.

Glue only. The authenticator leaves the user's entitlements in `auth_state`; the catalog of
InstanceTypes, Images and Datasets comes from a shared watch (`crd_cache.py`); the pure
modules decide what the menu shows (`entitlements.py`), whether a start is allowed
(`options.py`) and what it does to the pod (`podspec.py`).
"""
from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import aiohttp
import jinja2
from jupyterhub.handlers.pages import SpawnHandler
from kubernetes_asyncio.client import ApiException
from kubespawner import KubeSpawner
from kubespawner.clients import shared_client
from kubespawner.reflector import ResourceReflector
from markupsafe import Markup
from tornado import web
from traitlets import Bool, Float, Unicode, default, validate

from .crd_cache import shared_catalog_cache
from .deeplink import DeepLink, page_url, read_deep_link
from .entitlements import UserEntitlements
from .errors import refusal
from .form import FormView, make_form_view
from .labels import escape_label
from .names import AUTH_STATE_KEY, is_safe_path, role_prefix_problem, shown
from .options import OptionsRefused, options_from_form, validate_user_options
from .pending import (
    StartFacts,
    explain,
    left_out_notice,
    pending_cause,
    start_facts,
    timeout_sentence,
)
from .podspec import (
    PodSettings,
    home_size,
    make_pod_overrides,
    merge_overrides,
    post_start_conflict,
    volume_claims,
)
from .quantities import format_memory, parse_size_attribute
from .quota import Usage, group_usage, usage_of
from .reservations import Reservations

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
_jinja = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                            undefined=jinja2.StrictUndefined)
_jinja.filters["memory"] = format_memory
# The form is injected into JupyterHub's spawn page, where no route of ours serves files:
# its style and script are inlined, read once here. They are our own files, so Markup.
_jinja.globals["form_css"] = Markup((STATIC / "form.css").read_text(encoding="utf-8"))
_jinja.globals["form_js"] = Markup((STATIC / "form.js").read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=16384)
def _dataset_row(display_name: str, description: str, writable: bool) -> Markup:
    """One dataset's line of the form, escaped once per distinct dataset rather than at
    every render: a launch may mount every dataset of the user's groups, thousands of lines
    whose text changes only when the catalog does. Keyed by the text itself, so a changed
    dataset is a new line."""
    badge = ("<span class=\"ph-badge ph-badge-rw\">read-write</span>" if writable
             else "<span class=\"ph-badge\">read-only</span>")
    about = Markup(' <span class="ph-meta">{}</span>').format(description) if description else ""
    return Markup('<li><span class="ph-title">{}</span>\n        {}{}</li>').format(
        display_name, Markup(badge), about)


def _dataset_rows(datasets) -> Markup:
    """The lines of the form's dataset list, joined as the safe strings they are (one
    escape check for the list, not one per line)."""
    return Markup("\n      ".join(
        _dataset_row(m.dataset.display_name, m.dataset.description or "", m.writable)
        for m in datasets))


_jinja.filters["dataset_rows"] = _dataset_rows


@functools.lru_cache(maxsize=8)
def _form_template(source: str) -> jinja2.Template:
    """The form template: the built-in one for "", else `source` compiled (once)."""
    return _jinja.from_string(source) if source else _jinja.get_template("form.html")


# A start checks up to this many dataset and group claims by name, in parallel; one that
# mounts more lists the namespace's claims once instead of making a read per claim.
MAX_CLAIM_READS = 8


class ClaimReflector(ResourceReflector):
    """The namespace's PersistentVolumeClaims, listed and watched once for the hub (as
    KubeSpawner watches its pods), so that a start finds its dataset and group claims here
    rather than asking the API server for each."""
    kind = "persistentvolumeclaims"
    list_method_name = "list_namespaced_persistent_volume_claim"


class PrimeHubSpawner(KubeSpawner):
    # Says "a spawner with PrimeHub's menu" to the admins' page (handlers.py), which cannot
    # import this class to check: it offers the catalog, quota and pod watch the page reads.
    primehub_menu = True
    # A configuration problem said once per hub, not at every start.
    _post_start_conflict_logged = False

    # The quota reservations of the starts in flight, shared by every spawner of the hub as
    # KubeSpawner's pod watch is (reservations.py says why they are needed).
    _reservations = Reservations()
    # A new list of the pods, when the pod watch's first list failed; one for all starts.
    _pod_watch_restart: asyncio.Future | None = None
    # The start of the shared claim watch, once for the hub (see _claim_watch), and whether
    # the API server has said that the hub may not watch claims (then none is started).
    _claim_watch_start: asyncio.Future | None = None
    _claim_watch_refused = False
    # Names the reservation of this spawner's start in flight, if any.
    _ticket: str | None = None

    catalog_namespace = Unicode(
        config=True,
        help="""Namespace of the InstanceType, Image and Dataset custom resources.

        Defaults to the spawner's own `namespace` (PrimeHub keeps both in `hub`).""")

    @default("catalog_namespace")
    def _default_catalog_namespace(self):
        """`namespace`"""
        return self.namespace

    role_prefix = Unicode(
        "", config=True,
        help="""Prefix of the access roles, for several clusters sharing one realm.

        With `c1`, only roles `c1:it:<name>`, `c1:img:<name>`, `c1:ds:<name>` and
        `c1:ds:rw:<name>` count; without a prefix only unprefixed roles count.""")

    @validate("role_prefix")
    def _check_role_prefix(self, proposal):
        problem = role_prefix_problem(proposal.value)
        if problem:
            raise ValueError(f"PrimeHubSpawner.role_prefix {problem}")
        return proposal.value

    dataset_mount_root = Unicode(
        "/datasets", config=True,
        help="Where datasets are mounted when they carry no `dataset.primehub.io/mountRoot` "
             "annotation.")

    project_root = Unicode(
        "/project", config=True,
        help="Where group shared volumes (`project-<group>`) are mounted.")

    home_dir = Unicode(
        "/home/jovyan", config=True,
        help="The user's home directory in the image; safe mode mounts the home volume at "
             "`<home_dir>/user` instead.")

    manage_home_volume = Bool(
        True, config=True,
        help="""Mount the user's home PVC (KubeSpawner's `pvc_name`) at `home_dir`, sized from
        Keycloak. Turn off when `volumes` already handle home.

        The size is the user's `volumeCapacity`, else the everyone group's
        `defaultUserVolumeCapacity`, else `default_home_size`.""")

    default_home_size = Unicode(
        "20G", config=True,
        help="Home volume size when neither the user nor the everyone group sets one "
             "(`G` is GiB, as in PrimeHub).")

    entitlements_max_age_at_start = Float(
        30, config=True,
        help="""Oldest entitlements (seconds) a start may use; a start with older ones is
        refused with 503.

        The authenticator re-reads them from Keycloak just before every start
        (`refresh_pre_spawn`); older ones mean that read failed, and stale grants are not
        trusted.""")

    catalog_wait_timeout = Float(
        5, config=True,
        help="Seconds a menu or start waits for the first list of the custom resources "
             "after the hub starts.")

    enforce_quota = Bool(
        True, config=True,
        help="Refuse starts, and disable instance types in the menu, that would exceed the "
             "group's per-user (`quota-*`) or whole-group (`project-quota-*`) quota.")

    quota_wait_timeout = Float(
        10, config=True,
        help="""Seconds a start waits for the pod watch's list of running servers before it is
        refused with 503.

        Until that list is read (after the hub starts, or when it failed) the quota cannot be
        checked.""")

    grant_sudo = Bool(
        False, config=True,
        help="""PrimeHub's root start with sudo, so that the notebook user may use sudo: it
        hands every user root in their container.

        The image's start script runs as root (`uid` 0) with `GRANT_SUDO=yes` and privilege
        escalation allowed (images built on jupyter/docker-stacks honour it). Users can never
        set `GRANT_SUDO` themselves.""")

    chown_extra = Bool(
        False, config=True,
        help="""PrimeHub's root start for ownership, so that the notebook user owns the
        writable mounts on storage that ignores `fs_gid` (NFS, hostPath).

        The image's start script runs as root (`uid` 0) with `CHOWN_HOME=yes` and
        `CHOWN_EXTRA` listing the writable mounts (read-write datasets, group volumes, the
        home volume in safe mode). Users can never set `CHOWN_HOME` or `CHOWN_EXTRA`
        themselves.""")

    options_form_template = Unicode(
        "", config=True,
        help="""The Server Options form as a Jinja template string, as KubeSpawner's
        `profile_form_template`; empty: the built-in `primehub_spawner/templates/form.html`.

        Rendered with autoescape and these variables: `view` (`form.FormView`: `problem`
        instead of a form, `notices`, `autolaunch`, `checked_instance_type`,
        `checked_image`, `safe_mode`, `env`, and `menu`, a `menu.Menu`: `groups` (each
        `key`, `display_name`), `key` and `group` (the chosen group), `instance_types` (each
        `instance_type`, `blocked` with `code` and `reason`, `default_image`), `images`
        (each `image`, `blocked`, `unfit`, `unfit_reason`), `datasets` (each `dataset`,
        `writable`), `quota_lines`, `group_notes`, `problem`); `get_url` (this page's path,
        for the `?group=` links and the script's fetch); `form_css` and `form_js` (the
        built-in style and script, to inline); the filter `memory` (bytes as `8Gi`).
        `{% include "form.html" %}` renders the built-in form. The page's script swaps in
        the `section.ph-group` of the page fetched for another group.""")

    @validate("options_form_template")
    def _check_options_form_template(self, proposal):
        try:
            _form_template(proposal.value)
        except jinja2.TemplateSyntaxError as e:
            raise ValueError(f"PrimeHubSpawner.options_form_template is not a Jinja template: "
                             f"{e.message} (line {e.lineno}).") from None
        return proposal.value

    @default("slug_scheme")
    def _default_slug_scheme(self):
        """`escape`: PrimeHub's names (`claim-<escaped user>`)"""
        # PrimeHub's hub named pods and home claims with KubeSpawner's escape scheme
        # (`claim-<escaped user>`): keeping it finds every existing home again.
        return "escape"

    @validate("dataset_mount_root", "project_root", "home_dir")
    def _check_path(self, proposal):
        value = proposal.value.rstrip("/") or "/"
        # Paths end up in mounts and in the postStart shell line; keep them plain.
        if not is_safe_path(value):
            raise ValueError(f"PrimeHubSpawner.{proposal.trait.name} {proposal.value!r} must be "
                             "an absolute path of letters, digits, '_', '.', '-' and '/'.")
        return value

    @validate("default_home_size")
    def _check_home_size(self, proposal):
        try:
            parse_size_attribute(proposal.value)
        except ValueError:
            raise ValueError(f"PrimeHubSpawner.default_home_size {proposal.value!r} is not a "
                             "size like '20G' or '10Gi'.") from None
        return proposal.value

    @default("apply_user_options")
    def _default_apply_user_options(self):
        """none needed: the plugin checks and applies them at start"""
        # user_options are checked and applied at start, in load_user_options; this tells
        # JupyterHub they are handled, so that it does not warn "unhandled" at every start.
        return lambda spawner, user_options: None

    @default("storage_pvc_ensure")
    def _default_storage_pvc_ensure(self):
        """`manage_home_volume`"""
        return self.manage_home_volume

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._entitlements: UserEntitlements | None = None
        self._configured: dict = {}
        self.primehub_choice: dict = {}
        self._deep_link = DeepLink()
        # What this start asks for, and the volumes it leaves out (see _missing_claims).
        self._pending_facts = StartFacts()
        self._pending_notices: list[str] = []
        # Start the shared watches now, so that the first menu finds them loaded.
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        self._catalog_cache()

    # ---- inputs -----------------------------------------------------------------------------

    def _catalog_cache(self):
        return shared_catalog_cache(shared_client("CustomObjectsApi"), self.catalog_namespace,
                                    log=self.log, request_timeout=self.k8s_api_request_timeout)

    async def _catalog(self):
        cache = self._catalog_cache()
        if not await cache.wait_loaded(self.catalog_wait_timeout):
            raise refusal(503, "The list of instance types, images and datasets has not been "
                               "read from Kubernetes yet; try again in a minute.")
        return cache.catalog

    async def run_auth_state_hook(self, auth_state):
        """Keep the entitlements the authenticator stored; called before every form and start.
        On the spawn page, also take the deep link off the request (see _take_deep_link)."""
        data = (auth_state or {}).get(AUTH_STATE_KEY)
        self._entitlements = UserEntitlements.from_json(data) if data else None
        self._take_deep_link()
        await super().run_auth_state_hook(auth_state)

    def _take_deep_link(self) -> None:
        """Read a GET of the spawn page's query into `_deep_link`, and empty the request's
        `query_arguments`.

        JupyterHub's SpawnHandler (5.5 to 6.1) calls this hook, then starts a server from
        whatever is left in `request.query_arguments` through `options_from_query`, logging
        anything that raises there as an error. A deep link only preselects the form, so
        nothing is left there: JupyterHub renders the form as for a plain visit. Its own
        arguments (`next`, `display_name`, `_xsrf`) stay in `request.arguments`,
        `request.query` and `request.uri`, where it reads them."""
        handler = getattr(self, "handler", None)
        if not isinstance(handler, SpawnHandler) or handler.request.method != "GET":
            return  # a start keeps the link it came from (a refused start shows it again)
        request = handler.request
        self._deep_link = read_deep_link({
            name: [v.decode("utf-8", "replace") for v in values]
            for name, values in request.query_arguments.items()})
        request.query_arguments = {}

    def _deep_link_next_url(self) -> str:
        """Where JupyterHub sends the browser once the server is up: the link's path in the
        user's server, or "" for JupyterHub's own choice."""
        path = self._deep_link.path
        return page_url(self.user.server_url(self.name), path) if path else ""

    def _current_entitlements(self, max_age: float | None) -> UserEntitlements:
        entitlements = self._entitlements
        if entitlements is None:
            raise refusal(403, "Your permissions are not known to the hub; log out and log in "
                               "again through Keycloak.")
        if max_age is not None and time.time() - entitlements.fetched_at > max_age:
            raise refusal(503, "Your permissions could not be re-read from Keycloak just now, so "
                               "the server was not started. Try again in a minute.")
        return entitlements

    def _watched_pods(self) -> Mapping:
        """The shared pod watch's pods, by "namespace/name"."""
        reflector = self.pod_reflector
        return reflector.resources if reflector else {}

    def _quota_keys(self, group) -> tuple[str, str, str]:
        """(group label, user label, "namespace/pod name"): how pods and reservations are
        told apart by group, user and server."""
        return (escape_label(group.name), escape_label(self.user.name),
                f"{self.namespace}/{self.pod_name}")

    def _usage(self, group) -> tuple[Usage, Usage]:
        """(this user's, the whole group's) use of the group: the pods of the shared pod watch
        and the starts in flight whose pods it does not show yet."""
        pods = self._watched_pods()
        gpu_names = {it.gpu_resource_name for it in self._catalog_cache().catalog.instance_types.values()}
        gpu_names.add("nvidia.com/gpu")
        label, user, mine = self._quota_keys(group)
        starting = self._reservations
        return (group_usage(pods.values(), label, gpu_names, user, self.pod_name)
                + starting.pending(pods, label, user, exclude_pod=mine),
                group_usage(pods.values(), label, gpu_names, exclude_pod=self.pod_name)
                + starting.pending(pods, label, exclude_pod=mine))

    async def _list_running_pods(self) -> None:
        """Wait for the pod watch's first list, so that the running servers count (after a hub
        restart, too). KubeSpawner keeps a watch whose first list failed and hands it out as
        is, empty: that one is replaced, by one new list that every waiting start shares."""
        first = getattr(self.pod_reflector, "first_load_future", None)
        if first is not None and first.done() and not first.cancelled() \
                and first.exception() is None:
            return  # listed already: every start after the first, with no task to make
        cls = PrimeHubSpawner
        try:
            await asyncio.wait_for(asyncio.shield(self._start_watching_pods()),
                                   self.quota_wait_timeout)
            first = self.pod_reflector.first_load_future
            if first.cancelled() or first.exception() is not None:
                if cls._pod_watch_restart is None or cls._pod_watch_restart.done():
                    cls._pod_watch_restart = asyncio.ensure_future(
                        self._start_watching_pods(replace=True))
                await asyncio.wait_for(asyncio.shield(cls._pod_watch_restart),
                                       self.quota_wait_timeout)
        except Exception as e:  # noqa: BLE001 - whatever stops the list, the quota is unknown
            self.log.warning("Refused to start %s: the pod watch has no list of the running "
                             "servers (%s)", self._log_name, type(e).__name__)
            raise refusal(503, "The running servers could not be listed from Kubernetes, so "
                               "the quota cannot be checked and the server was not started. "
                               "Try again in a minute.") from None

    # ---- the form -----------------------------------------------------------------------------

    def options_from_form(self, formdata):
        return options_from_form(formdata)

    def options_from_query(self, query_data):
        # run_auth_state_hook takes every query argument of the spawn page off the request,
        # so JupyterHub finds none to start from; should another path bring some, refuse.
        raise refusal(400, "Query arguments only preselect the Server Options form; start "
                           "the server from the form or the REST API.")

    async def get_options_form(self):
        catalog = await self._catalog()
        template = _form_template(self.options_form_template)
        try:
            entitlements = self._current_entitlements(max_age=None)
        except web.HTTPError as e:
            return template.render(view=FormView(problem=e.jupyterhub_message), get_url="")
        if self.enforce_quota and self.pod_reflector is None:
            await self._start_watching_pods()
        preselect, autolaunch, explain = self._preselection()
        view = make_form_view(entitlements, catalog, prefix=self.role_prefix,
                              usage=self._usage if self.enforce_quota else None,
                              preselect=preselect, autolaunch=autolaunch, explain=explain)
        if explain and self._deep_link.notices:
            view = replace(view, notices=(*self._deep_link.notices, *view.notices))
        handler = getattr(self, "handler", None)
        # The no-JavaScript group switch is a link: it carries the deep link's path along
        # (never the variables, which may be secrets).
        return template.render(view=view, get_url=handler.request.path if handler else "",
                               next_url=self._deep_link_next_url(),
                               link_path=self._deep_link.path)

    def _preselection(self) -> tuple[dict, bool, bool]:
        """(what to preselect, autolaunch, explain what is not available): the refused choice
        being re-rendered, or the deep link (the form's no-JavaScript group switch is one too:
        a link carrying only `?group=`)."""
        handler = getattr(self, "handler", None)
        # JupyterHub clears `handler` when a start fails, before it re-renders the form; its
        # error line says what was wrong, so no notice repeats it.
        if handler is None or handler.request.method == "POST":
            options = self.user_options
            return (dict(options) if isinstance(options, dict) else {}), False, False
        link = self._deep_link
        return dict(link.preselect), link.autolaunch, True

    # ---- the start ----------------------------------------------------------------------------

    def start(self):
        """KubeSpawner's start, holding the quota reservation that its check makes until the
        start ends (by then its pod is in the pod watch, and counts there, or there is none),
        with what Kubernetes refuses said in a sentence, and the home PVC this start created
        removed again when no pod was created."""
        ticket = self._ticket = uuid.uuid4().hex
        future = asyncio.ensure_future(self._start_in_time(self._start_or_undo()))
        future.add_done_callback(lambda _: self._reservations.release(ticket))
        return future

    async def stop(self, now=False):
        try:
            return await super().stop(now)
        finally:
            # A start that was interrupted without being cancelled holds nothing any longer.
            if self._ticket is not None:
                self._reservations.release(self._ticket)

    async def load_user_options(self):
        """Check `user_options` against the entitlements of now, then shape the pod."""
        entitlements = self._current_entitlements(self.entitlements_max_age_at_start)
        catalog = await self._catalog()
        if self.enforce_quota:
            await self._list_running_pods()
        try:
            choice = validate_user_options(
                self.user_options, entitlements, catalog, prefix=self.role_prefix,
                usage=self._usage if self.enforce_quota else None)
        except OptionsRefused as e:
            self.log.info("Refused to start %s: %s", self._log_name, e.message)
            raise refusal(e.status, e.message) from None
        if self.enforce_quota:
            # Still no await since the check: no other start of this hub has counted in
            # between, and from here every check counts this one.
            self._reservations.reserve(self._ticket, *self._quota_keys(choice.menu.group),
                                       usage_of(choice.instance_type), self._watched_pods())
        missing_claims = await self._missing_claims(choice)
        # The operator's hook as configured, not as the previous start left it.
        post_start = self._configured.get("lifecycle_hooks", self.lifecycle_hooks).get("postStart")
        settings = PodSettings(
            home_dir=self.home_dir, home_volume=self.manage_home_volume, pvc_name=self.pvc_name,
            default_home_size=self.default_home_size, project_root=self.project_root,
            dataset_mount_root=self.dataset_mount_root, pod_name=self.pod_name,
            post_start=post_start, grant_sudo=self.grant_sudo, chown_extra=self.chown_extra,
            missing_claims=missing_claims)
        conflict = post_start_conflict(post_start)
        if conflict and not PrimeHubSpawner._post_start_conflict_logged:
            PrimeHubSpawner._post_start_conflict_logged = True
            self.log.warning("PrimeHubSpawner: %s", conflict)
        overrides = make_pod_overrides(choice, entitlements, settings)
        if self.manage_home_volume:
            for problem in home_size(entitlements, self.default_home_size)[1]:
                self.log.warning("Home volume of %s: %s", self._log_name, problem)
        for problem in (*choice.menu.left_out, *choice.menu.settings.problems):
            self.log.warning("Start of %s: %s", self._log_name, problem)
        # Merge over the values as configured, not as left by a previous start.
        for key in overrides:
            # Copied once per spawner: setdefault would deep-copy at every start (a third of
            # a start's own time with many datasets), only to throw the copy away.
            if key not in self._configured:
                self._configured[key] = copy.deepcopy(getattr(self, key))
        for key, value in merge_overrides(self._configured, overrides).items():
            setattr(self, key, value)
        self.primehub_choice = choice.summary()
        self.log.info("Starting %s in group %s with instance type %s and image %s",
                      self._log_name, choice.menu.group.name, choice.instance_type.name,
                      choice.image.name)

    async def _start_or_undo(self):
        # KubeSpawner (7.x) creates the home PVC only while its private `_pvc_exists` is
        # False, and counts a PVC that already existed (409) as its own; ask first, so that
        # only a PVC this start made is ever deleted.
        new_pvc = False
        if self.storage_pvc_ensure and not self._pvc_exists:
            new_pvc = await self._k8s_absent("persistent_volume_claim", self.pvc_name)
        try:
            return await super().start()
        except web.HTTPError:
            raise
        except ApiException as e:
            if new_pvc:
                await self._undo_pvc()
            if e.status >= 500:
                raise self._kube_unreachable(f"HTTP {e.status}") from None
            said = shown(_api_message(e), 300)
            self.log.warning("Kubernetes refused to start %s: HTTP %s %s", self._log_name,
                             e.status, said)
            raise refusal(e.status, "Kubernetes refused to create your server (HTTP "
                                    f"{e.status}): {said}. Nothing was "
                                    "started; ask an administrator if this persists.") from None
        except (aiohttp.ClientError, OSError) as e:
            if new_pvc:
                await self._undo_pvc()
            raise self._kube_unreachable(type(e).__name__) from None

    def _expand_user_properties(self, template, slug_scheme=None):
        # KubeSpawner (7.x) formats every string of the pod's volumes, mounts, labels,
        # annotations and environment with the user's names, working out all of them (and
        # reading the service account's namespace file) for each string; a start with a few
        # dozen datasets formats hundreds. A string without a brace formats to itself, so
        # it is handed back as it is: the same pod, for a fraction of the hub's time.
        if isinstance(template, str) and "{" not in template and "}" not in template:
            return template
        return super()._expand_user_properties(template, slug_scheme)

    # ---- why a server has not started (pending.py) -----------------------------------------

    async def _missing_claims(self, choice) -> frozenset[str]:
        """The dataset and group volume claims of `choice` that do not exist: their volumes
        are left out of the pod, with a notice, rather than holding the whole server in
        Pending. A claim the API server cannot confirm missing is mounted as planned. Also
        remembers what this start asks for, to explain a pod that waits."""
        self._pending_facts = start_facts(choice)
        uses = volume_claims(choice)
        known = self._claim_watch() if uses else None
        if known is not None:
            # Only a claim the watch lacks is asked for: one made a moment ago may not have
            # reached it yet.
            uses = [use for use in uses if f"{self.namespace}/{use.claim}" not in known]
        if not uses:
            missing = []
        elif len(uses) <= MAX_CLAIM_READS:
            absent = await asyncio.gather(*(self._k8s_absent("persistent_volume_claim",
                                                             use.claim) for use in uses))
            missing = [use for use, gone in zip(uses, absent, strict=True) if gone]
        else:
            existing = await self._claim_names()
            missing = [] if existing is None else [u for u in uses if u.claim not in existing]
        self._pending_notices = [left_out_notice(use) for use in missing]
        for use in missing:
            self.log.warning("Start of %s: %s left out, its claim %s does not exist",
                             self._log_name, use.what, use.claim)
        return frozenset(use.claim for use in missing)

    def _claim_watch(self) -> Mapping | None:
        """The claims of the shared claim watch, by "namespace/name"; None until it has
        listed them (it is started then, in the background, once for the hub) or when it
        cannot run."""
        if self.enable_user_namespaces:
            # One watch of every namespace, which KubeSpawner makes halt the hub if it
            # fails: starts read their claims by name instead.
            return None
        reflector = self.reflectors.get(self._get_reflector_key("persistentvolumeclaims"))
        if reflector is None:
            cls = PrimeHubSpawner
            if not cls._claim_watch_refused and (
                    cls._claim_watch_start is None or cls._claim_watch_start.done()):
                cls._claim_watch_start = asyncio.ensure_future(self._start_claim_watch())
            return None
        first = reflector.first_load_future
        if first.done() and not first.cancelled() and first.exception() is None:
            return reflector.resources
        return None

    async def _start_claim_watch(self) -> None:
        """Start the shared claim watch if the hub may list and watch claims. Asked first:
        KubeSpawner's watch, allowed to list but not to watch, would list every claim of
        the namespace again and again. A start after an unanswered question asks again."""
        try:
            for verb in ("list", "watch"):
                if not await self._may(verb, "persistentvolumeclaims"):
                    PrimeHubSpawner._claim_watch_refused = True
                    self.log.warning(
                        "The hub may not %s persistentvolumeclaims in namespace %s, so it "
                        "keeps no watch of them: every start reads its dataset and group "
                        "claims by name. Grant get, list and watch (crds/rbac.yaml) and "
                        "restart the hub.", verb, self.namespace)
                    return
            await self._start_reflector("persistentvolumeclaims", ClaimReflector)
        except Exception as e:  # noqa: BLE001 - no watch this time; starts read by name
            self.log.warning("The PersistentVolumeClaim watch did not start (%s); starts "
                             "read their claims by name until it does.", type(e).__name__)
            # KubeSpawner keeps a watch whose first list failed: dropped, so that the next
            # start tries again.
            failed = self.reflectors.pop(self._get_reflector_key("persistentvolumeclaims"),
                                         None)
            if failed is not None:
                first = failed.first_load_future
                if first.done() and not first.cancelled():
                    first.exception()  # said above; not again when it is collected
                with contextlib.suppress(Exception):
                    await failed.stop()

    async def _may(self, verb: str, resource: str) -> bool:
        """Whether the hub's own credential may `verb` `resource` (core API group) in its
        namespace, as the API server answers a SelfSubjectAccessReview."""
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                  "spec": {"resourceAttributes": {"namespace": self.namespace, "verb": verb,
                                                  "resource": resource}}}
        answer = await shared_client("AuthorizationV1Api").create_self_subject_access_review(
            review, _request_timeout=self.k8s_api_request_timeout)
        return bool(answer.status.allowed)

    async def _claim_names(self) -> set[str] | None:
        """The names of the namespace's claims, in one list call; None when the API server
        cannot answer (then nothing counts as missing)."""
        async def names() -> set[str]:
            # The raw body: only the names are needed, not a model object per claim.
            response = await self.api.list_namespaced_persistent_volume_claim(
                self.namespace, _preload_content=False)
            body = await response.read()  # read whole, so the connection is released
            # Unparsed, the client does not turn an error status into an ApiException.
            if not 200 <= response.status < 300:
                raise ApiException(status=response.status)
            listed = json.loads(body)
            return {item["metadata"]["name"] for item in listed.get("items") or ()}

        try:
            return await asyncio.wait_for(names(), self.k8s_api_request_timeout)
        except Exception:  # noqa: BLE001 - unsure: mount as planned
            return None

    def _start_facts(self) -> StartFacts:
        """What this start asks of the cluster, with the image and pull secrets of the pod."""
        secrets = self.image_pull_secrets
        names = [secrets] if isinstance(secrets, str) else [
            s.get("name", "") if isinstance(s, dict) else str(s) for s in secrets or []]
        return replace(self._pending_facts, image=self.image,
                       pull_secrets=tuple(n for n in names if n))

    async def progress(self):
        """KubeSpawner's progress from the pod's events, with the events that say why the
        pod waits (no node fits, the image cannot be pulled, a volume is missing) told in
        a sentence naming what this start asked for, and the volumes left out said as soon
        as they are known (not only when the next event comes)."""
        events = super().progress()
        said = 0
        upcoming = asyncio.ensure_future(events.__anext__())
        try:
            while True:
                await asyncio.wait({upcoming}, timeout=1)
                notices = self._pending_notices
                for notice in notices[said:]:
                    yield {"message": notice}
                said = len(notices)
                if not upcoming.done():
                    continue
                try:
                    event = upcoming.result()
                except StopAsyncIteration:
                    return
                raw = event.get("raw_event")
                sentence = explain(raw, self._start_facts()) if isinstance(raw, dict) else None
                yield {**event, "message": sentence} if sentence else event
                upcoming = asyncio.ensure_future(events.__anext__())
        finally:
            if not upcoming.done():
                upcoming.cancel()
                await asyncio.wait({upcoming})  # KubeSpawner's generator is not running
            await events.aclose()

    async def _start_in_time(self, starting):
        """Await `starting`; shortly before JupyterHub's `start_timeout` ends it, end it
        with the reason its pod waits, when the pod's events tell one: JupyterHub's own
        timeout says nothing the user can act on."""
        # Nothing of a previous start is said about this one.
        self._pending_facts, self._pending_notices = StartFacts(), []
        task = asyncio.ensure_future(starting)
        margin = min(2.0, self.start_timeout / 10)
        try:
            await asyncio.wait({task}, timeout=max(self.start_timeout - margin, 0))
            cause = None if task.done() else pending_cause(self.events, self._start_facts())
            if cause is None:
                return await task
        except asyncio.CancelledError:
            task.cancel()
            raise
        task.cancel()
        # Let the start's own clean-up (the home PVC it made) finish before saying so.
        await asyncio.wait({task})
        self.log.warning("Start of %s gave up after %ss: %s", self._log_name,
                         self.start_timeout, cause)
        raise refusal(503, timeout_sentence(cause, self.start_timeout))

    async def _make_create_pod_request(self, pod, request_timeout):
        """KubeSpawner's pod create, without the ERROR line it writes when the API server
        refuses the pod (anything but 409): that line is the whole pod, the server's API
        token and the user's variables included. start() says the refusal instead."""
        try:
            await asyncio.wait_for(self.api.create_namespaced_pod(self.namespace, pod),
                                   request_timeout)
            return True
        except TimeoutError:
            return False
        except ApiException as e:
            if e.status != 409:
                raise
        # A pod of that name exists: KubeSpawner's own handling (stop it, try again).
        return await super()._make_create_pod_request(pod, request_timeout)

    def _kube_unreachable(self, why: str) -> web.HTTPError:
        self.log.warning("Kubernetes unreachable while starting %s (%s)", self._log_name, why)
        return refusal(503, "Kubernetes could not be reached, so your server was not "
                            "started. Try again in a minute.")

    async def _k8s_absent(self, kind: str, name: str) -> bool:
        """True only when the API server says there is no such object (False when unsure)."""
        read = getattr(self.api, f"read_namespaced_{kind}")
        try:
            await asyncio.wait_for(read(name, self.namespace), self.k8s_api_request_timeout)
        except ApiException as e:
            return e.status == 404
        except Exception:  # noqa: BLE001 - unreachable: unsure, so never delete
            return False
        return False

    async def _undo_pvc(self) -> None:
        """Delete the home PVC this start created, unless a pod of this server exists."""
        if not await self._k8s_absent("pod", self.pod_name):
            return
        try:
            await asyncio.wait_for(
                self.api.delete_namespaced_persistent_volume_claim(self.pvc_name, self.namespace),
                self.k8s_api_request_timeout)
        except ApiException as e:
            if e.status != 404:  # 404: the start failed before making it
                self.log.warning("Could not delete PVC %s after a failed start of %s: HTTP %s",
                                 self.pvc_name, self._log_name, e.status)
                return
        except Exception as e:  # noqa: BLE001 - best effort, said in the log
            self.log.warning("Could not delete PVC %s after a failed start of %s: %r",
                             self.pvc_name, self._log_name, e)
            return
        self._pvc_exists = False
        self.log.info("Deleted PVC %s, created by a start of %s that failed", self.pvc_name,
                      self._log_name)

    def get_state(self):
        state = super().get_state()
        if self.primehub_choice:
            state["primehub_choice"] = self.primehub_choice
        return state

    def load_state(self, state):
        super().load_state(state)
        self.primehub_choice = dict(state.get("primehub_choice") or {})

    def clear_state(self):
        super().clear_state()
        self.primehub_choice = {}


def _api_message(error: ApiException) -> str:
    """The API server's own sentence from an error body (a Status object), else its reason."""
    try:
        return str(json.loads(error.body)["message"])
    except (TypeError, ValueError, KeyError):
        return str(error.reason or "")
