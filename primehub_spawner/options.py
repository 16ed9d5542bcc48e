"""`user_options`: the contract of DESIGN §4, checked against current entitlements.

Pure. `options_from_form` only translates form fields; `validate_user_options` checks the
shape, then refuses (`OptionsRefused`: an HTTP status and a sentence) whatever the menu of
`menu.py` did not choose, so that a start launches what the form preselects.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .catalog import Catalog, Image, InstanceType
from .entitlements import Group, GroupMenu, UserEntitlements
from .menu import NO_GROUP, build_menu, quota_problem
from .names import MAX_ECHO, MAX_ENV_NAME, is_env_name, is_reserved_env, shown
from .quota import Usage

# NO_GROUP and quota_problem are the menu's, named here too where callers have known them.
__all__ = ["KEYS", "NO_GROUP", "Choice", "OptionsRefused", "options_from_form",
           "quota_problem", "reserved_env", "validate_user_options"]

KEYS = ("group", "instance_type", "image", "safe_mode", "env")
MAX_ENV = 64
MAX_ENV_VALUE = 16 * 1024
# Group names, group paths and resource names: a Kubernetes object name is at most 253.
MAX_NAME = 253
# Unknown keys named in a refusal; the rest are counted.
MAX_UNKNOWN_SHOWN = 5


class OptionsRefused(Exception):
    """A start we will not do: `status` (400/403) and a sentence for the user."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Choice:
    menu: GroupMenu
    instance_type: InstanceType
    image: Image
    safe_mode: bool = False
    env: Mapping[str, str] = field(default_factory=dict)

    def summary(self) -> dict:
        """What the home page and the spawner state remember of this choice."""
        return {"group": self.menu.group.name, "group_display_name": self.menu.group.display_name,
                "instance_type": self.instance_type.name,
                "instance_type_display_name": self.instance_type.display_name,
                "image": self.image.name, "image_display_name": self.image.display_name}


def options_from_form(formdata: Mapping[str, list[str]]) -> dict:
    """Form fields -> user_options. Unknown fields are left out; nothing is checked here."""
    def first(key: str) -> str | None:
        values = formdata.get(key) or []
        return values[0] if values else None

    options: dict = {}
    for key in ("group", "instance_type", "image"):
        value = first(key)
        if value:
            options[key] = value
    options["safe_mode"] = first("safe_mode") in ("on", "true", "1")
    names = formdata.get("env_name") or []
    values = formdata.get("env_value") or []
    env = {}
    for index, name in enumerate(names):
        value = values[index] if index < len(values) else ""
        name = name.strip()
        if name or value:
            env[name] = value
    if env:
        options["env"] = env
    return options


def validate_user_options(user_options: object, entitlements: UserEntitlements,
                          catalog: Catalog, *, prefix: str = "",
                          usage: Callable[[Group], tuple[Usage, Usage]] | None = None) -> Choice:
    """Check untrusted `user_options`; return the Choice to start, or raise OptionsRefused.

    `usage(group)` gives (this user's use in the group, the whole group's use) for the
    quota check; without it quotas are not checked.
    """
    if user_options is None:
        user_options = {}
    if not isinstance(user_options, Mapping):
        raise OptionsRefused(400, "Server options must be a JSON object.")
    unknown = sorted((k for k in user_options if k not in KEYS), key=str)
    if unknown:
        named = ", ".join(shown(k) for k in unknown[:MAX_UNKNOWN_SHOWN])
        more = len(unknown) - MAX_UNKNOWN_SHOWN
        raise OptionsRefused(400, f"Unknown server option {named}"
                                  f"{f' and {more} more' if more > 0 else ''}. "
                                  f"Known options are: {', '.join(KEYS)}.")
    for key in ("group", "instance_type", "image"):
        value = user_options.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise OptionsRefused(400, f"Server option {key!r} must be a non-empty string.")
        if value is not None and len(value) > MAX_NAME:
            raise OptionsRefused(400, f"Server option {key!r} is longer than {MAX_NAME} "
                                      "characters, so it names nothing.")
    safe_mode = user_options.get("safe_mode", False)
    if not isinstance(safe_mode, bool):
        raise OptionsRefused(400, "Server option 'safe_mode' must be true or false.")

    menu = build_menu(entitlements, catalog, user_options, prefix=prefix, usage=usage)
    refused = menu.refusal
    if refused:
        raise OptionsRefused(refused.status, refused.reason)
    env = _check_env(user_options.get("env", {}), menu.resolved)
    return Choice(menu=menu.resolved, instance_type=menu.instance_type, image=menu.image,
                  safe_mode=safe_mode, env=env)


def reserved_env(menu: GroupMenu) -> set[str]:
    """Names this launch sets besides the hub's own: env datasets' and the group's MLflow
    variables."""
    names = {name for name, _ in menu.settings.mlflow_env}
    for mounted in menu.datasets:
        if mounted.dataset.type == "env":
            names |= set(mounted.dataset.environment)
    return names


def _named(name: str) -> str:
    """A variable name that passed the name rules, bare in a sentence unless it is long."""
    return name if len(name) <= MAX_ECHO else shown(name)


def _check_env(env: object, menu: GroupMenu) -> dict[str, str]:
    if not isinstance(env, Mapping):
        raise OptionsRefused(400, "Server option 'env' must be an object of names to strings.")
    if len(env) > MAX_ENV:
        raise OptionsRefused(400, f"At most {MAX_ENV} environment variables may be set.")
    reserved = reserved_env(menu)
    clean = {}
    for name, value in env.items():
        if isinstance(name, str) and len(name) > MAX_ENV_NAME:
            raise OptionsRefused(400, f"Environment variable name {shown(name)} is longer than "
                                      f"{MAX_ENV_NAME} characters.")
        if not is_env_name(name):
            raise OptionsRefused(400, f"Environment variable name {shown(name)} is not valid: "
                                      "use letters, digits and '_', not starting with a digit.")
        if name in reserved or is_reserved_env(name):
            raise OptionsRefused(400, f"Environment variable {_named(name)} is set by the hub "
                                      "and cannot be changed.")
        if not isinstance(value, str):
            raise OptionsRefused(400, f"Environment variable {_named(name)} must be a string.")
        if len(value) > MAX_ENV_VALUE or "\x00" in value:
            raise OptionsRefused(400, f"Environment variable {_named(name)} is too long or has "
                                      "a NUL byte.")
        clean[name] = value
    return clean
