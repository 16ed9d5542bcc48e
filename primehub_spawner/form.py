"""The Server Options form as data: the menu of one group, and what the page says besides.

Pure. The spawner passes the cached entitlements and catalog, a usage function backed by
the shared pod watch, and the preselection (a deep link or a refused choice); the menu
(`menu.py`) decides what is offered, blocked and chosen, and the template
`templates/form.html` only displays the result.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .catalog import Catalog
from .entitlements import Group, UserEntitlements
from .menu import Menu, build_menu
from .quota import Usage


@dataclass(frozen=True)
class FormView:
    # The chosen group's menu, the other groups by name (None: nothing to show).
    menu: Menu | None = None
    # Instead of a form: no launch group, or entitlements not known.
    problem: str | None = None
    # What a deep link asked for and did not get, and why.
    notices: tuple[str, ...] = ()
    autolaunch: str | None = None  # the "You are about to start ..." sentence
    # The radio buttons checked: the menu's choice, or a refused choice kept as it was.
    checked_instance_type: str | None = None
    checked_image: str | None = None
    safe_mode: bool = False
    env: tuple[tuple[str, str], ...] = ()


def make_form_view(entitlements: UserEntitlements, catalog: Catalog, *, prefix: str = "",
                   usage: Callable[[Group], tuple[Usage, Usage]] | None = None,
                   preselect: object = None, autolaunch: bool = False,
                   explain: bool = True) -> FormView:
    """The form's data, for any `preselect` (untrusted: a query or refused user_options).

    With `explain` (a deep link, the no-JavaScript group switch among them), what the
    preselection names and the menu did not choose gets a notice. Without it (a refused
    start, whose error line already says why), the preselection is silent. Either way an
    image it names stays checked on an instance type it does not fit (the notice or the
    error line says why), so that the person changes one of the two rather than pick the
    image again; the page's script, where it runs, swaps in a fitting one.
    """
    preselect = preselect if isinstance(preselect, Mapping) else {}
    menu = build_menu(entitlements, catalog, preselect, prefix=prefix, usage=usage)
    if not menu.groups:
        return FormView(problem=menu.problem.reason)
    notices = [note.reason for note in menu.notes] if explain else []
    named = preselect.get("image")
    kept = next((r.image.name for r in menu.images if r.image.name == named and not r.blocked),
                None)
    sentence = None
    if autolaunch and menu.refusal is None:
        sentence = (f"You are about to start a server in group {menu.group.display_name} with "
                    f"instance type {menu.instance_type.display_name} and image "
                    f"{menu.image.display_name}.")
    elif autolaunch:
        notices.append("The link asked to start a server at once, but what it names is not "
                       "available; choose below.")
    env = preselect.get("env")
    return FormView(
        menu=menu, notices=tuple(notices), autolaunch=sentence,
        checked_instance_type=menu.instance_type.name if menu.instance_type else None,
        checked_image=kept or (menu.image.name if menu.image else None),
        safe_mode=preselect.get("safe_mode") is True,
        env=tuple((str(k), str(v)) for k, v in env.items()) if isinstance(env, Mapping) else ())
