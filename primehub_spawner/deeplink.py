"""Deep links to the Server Options page, and the page they open once the server is up.

    /hub/spawn?group=research&instancetype=gpu-small&image=pytorch&autolaunch=1
              &path=lab/tree/notebooks/intro.ipynb

Pure. The spawner hands over the query arguments of a GET of the spawn page; what comes
back preselects the form (it never starts anything), and says in sentences what the link
asked for that is not used. Every value is untrusted: names are only compared with the
user's menu, and the path is checked to stay inside the user's own server.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from .names import shown

# JupyterHub's own arguments: it reads them itself (`next`, `display_name`), or they are its
# form token (`_xsrf`). Neither preselected nor reported as unknown.
HUB_ARGUMENTS = frozenset({"next", "display_name", "_xsrf"})
# Deep-link argument -> preselection key (PrimeHub links say `instancetype`).
_PRESELECT = {"group": "group", "instancetype": "instance_type",
              "instance_type": "instance_type", "image": "image"}
DEEP_LINK_ARGUMENTS = frozenset({*_PRESELECT, "autolaunch", "path"})

MAX_PATH = 1024
# How many unknown argument names a notice repeats.
_MAX_UNKNOWN_SHOWN = 5
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


@dataclass(frozen=True)
class DeepLink:
    """What a link asks of the form: the preselection, whether to ask once and start, the
    page to open in the server (checked; empty for none), and notices about the rest."""
    preselect: dict = field(default_factory=dict)
    autolaunch: bool = False
    path: str = ""
    notices: tuple[str, ...] = ()


def path_problem(path: str) -> str | None:
    """Why `path` cannot be a page of the user's server, or None when it can: it must be
    relative, without `..` steps, empty steps (`//`), backslashes, a scheme or control
    characters, and at most MAX_PATH characters."""
    if len(path) > MAX_PATH:
        return f"it is longer than {MAX_PATH} characters"
    if path.startswith("/"):
        return "it must be relative to your server, like lab/tree/notebook.ipynb"
    if "\\" in path:
        return "it contains a backslash"
    if any(unicodedata.category(c).startswith("C") for c in path):
        return "it contains control characters"
    if _SCHEME.match(path):
        return "it names a scheme, not a page of your server"
    steps = path.split("/")
    if "" in steps[:-1]:  # a trailing slash is fine; `a//b` is not
        return "it contains an empty step (//)"
    if ".." in steps:
        return "it steps out of your server with '..'"
    return None


def read_deep_link(arguments: Mapping[str, Sequence[str]]) -> DeepLink:
    """The deep link in the query `arguments` of the spawn page (name -> values, as
    decoded text). The last non-empty value of an argument counts; unknown arguments and a
    path that fails `path_problem` are left out, each with a notice."""
    def value(name: str) -> str | None:
        return next((v for v in reversed(arguments.get(name) or ()) if v), None)

    preselect: dict = {}
    for name, key in _PRESELECT.items():
        preselect[key] = preselect.get(key) or value(name)
    notices = []
    unknown = sorted(k for k in arguments if k not in DEEP_LINK_ARGUMENTS | HUB_ARGUMENTS)
    if unknown:
        names = ", ".join(shown(k) for k in unknown[:_MAX_UNKNOWN_SHOWN])
        more = (f" and {len(unknown) - _MAX_UNKNOWN_SHOWN} more"
                if len(unknown) > _MAX_UNKNOWN_SHOWN else "")
        one = len(unknown) == 1
        notices.append(f"The link's argument{'' if one else 's'} {names}{more} "
                       f"{'is' if one else 'are'} not known here and "
                       f"{'was' if one else 'were'} ignored.")
    path = value("path") or ""
    if path:
        problem = path_problem(path)
        if problem is None and value("next"):
            problem = "the link also says where to go next"
        if problem:
            notices.append(f"The link's path {shown(path)} is not used: {problem}. Your "
                           "server opens at its start page.")
            path = ""
    return DeepLink(preselect=preselect, autolaunch=value("autolaunch") == "1", path=path,
                    notices=tuple(notices))


def page_url(server_url: str, path: str) -> str:
    """The URL of `path` (checked by `path_problem`) in the server at `server_url`; every
    character but letters, digits, `/` and `_.-~` percent-encoded, so that `?`, `#` and `%`
    stay part of the path."""
    return f"{server_url.rstrip('/')}/{quote(path, safe='/')}"
