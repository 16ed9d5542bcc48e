"""Name rules and shared constants: the one place every other module takes them from.

Pure, and imported by every layer, so it imports nothing of the package. Every check is a
full match: `re.match` with `$` lets a trailing newline through (`"X\\n"`), and the API
server then refuses with 422 what we had accepted.
"""
from __future__ import annotations

import re

# Where the authenticator leaves the user's entitlements in auth_state, for the spawner.
AUTH_STATE_KEY = "primehub"

# PrimeHub's pod labels and usage annotation (its admission, usage and controller read them).
LABEL_USER = "primehub.io/user"
LABEL_GROUP = "primehub.io/group"
LABEL_PROJECT = "project"
USAGE_ANNOTATION = "primehub.io/usage"

_DNS_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?")
# A resource name such as `nvidia.com/gpu`: an optional DNS-subdomain prefix and a name part.
_QUALIFIED_NAME = re.compile(
    r"(?:[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# What the API server takes as a container variable name: dataset names may bring dots.
_KUBE_ENV_NAME = re.compile(r"[-._A-Za-z][-._A-Za-z0-9]*")
# Paths end up in mounts and in the postStart shell line; keep them to plain characters.
_SAFE_PATH = re.compile(r"/[A-Za-z0-9_./-]*")
_LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")

MAX_ENV_NAME = 256
# The longest piece of untrusted input repeated in a refusal or a log line.
MAX_ECHO = 60


def is_dns_label(name: object) -> bool:
    """A DNS-1123 label (pod volume names, PVC names we build): at most 63 characters."""
    return isinstance(name, str) and _DNS_LABEL.fullmatch(name) is not None


def is_dns_subdomain(name: object) -> bool:
    """A DNS-1123 subdomain (object names, Secret names): at most 253 characters."""
    return isinstance(name, str) and _DNS_SUBDOMAIN.fullmatch(name) is not None


def is_qualified_name(name: object) -> bool:
    """A Kubernetes qualified name such as a label key or resource name `vendor.com/gpu`."""
    return isinstance(name, str) and len(name) <= 316 and _QUALIFIED_NAME.fullmatch(name) is not None


def is_label_value(value: object) -> bool:
    """A Kubernetes label value: empty, or up to 63 characters of `[A-Za-z0-9._-]`."""
    return isinstance(value, str) and _LABEL_VALUE.fullmatch(value) is not None


def is_env_name(name: object) -> bool:
    """A POSIX shell variable name, which every image's shell can export."""
    return (isinstance(name, str) and len(name) <= MAX_ENV_NAME
            and _ENV_NAME.fullmatch(name) is not None)


def is_kube_env_name(name: object) -> bool:
    """A container variable name the API server accepts (`DB.CONF_HOST`, `MY-DATA_KEY`)."""
    return (isinstance(name, str) and len(name) <= MAX_ENV_NAME
            and _KUBE_ENV_NAME.fullmatch(name) is not None)


def is_safe_path(path: object) -> bool:
    """An absolute path of plain characters with no `..` step."""
    return (isinstance(path, str) and _SAFE_PATH.fullmatch(path) is not None
            and "/../" not in f"{path}/")


def shown(value: object, limit: int = MAX_ECHO) -> str:
    """`repr(value)` cut to `limit` characters, for echoing untrusted input back."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


# ---- environment variables nobody but the hub may set -------------------------------------

# Variables this plugin sets (DESIGN §5) or KubeSpawner sets.
PLUGIN_ENV = frozenset({
    "PRIMEHUB_USER", "PRIMEHUB_GROUP", "GROUP_ID", "GROUP_NAME", "INSTANCE_TYPE",
    "IMAGE_NAME", "TZ", "NVIDIA_VISIBLE_DEVICES", "MLFLOW_TRACKING_URI", "MLFLOW_UI_URL",
    "PRIMEHUB_SAFE_MODE_ENABLED", "JUPYTER_IMAGE", "JUPYTER_IMAGE_SPEC", "CPU_LIMIT",
    "MEM_LIMIT", "CPU_GUARANTEE", "MEM_GUARANTEE", "GRANT_SUDO", "CHOWN_EXTRA",
    "CHOWN_HOME", "NB_UID", "NB_GID", "NB_USER",
})
RESERVED_PREFIXES = ("JUPYTERHUB_", "JPY_", "PRIMEHUB_")
# What a Dataset writer could use to run code in every user's server: refused in datasets.
LOADER_ENV = frozenset({
    "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "PATH", "PYTHONPATH", "PYTHONSTARTUP",
    "PYTHONHOME", "PYTHONUSERBASE", "BASH_ENV", "ENV", "PROMPT_COMMAND", "HOME", "SHELL",
    "JUPYTER_CONFIG_DIR", "JUPYTER_PATH", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR",
    "IPYTHONDIR",
})


def is_reserved_env(name: str) -> bool:
    """A variable the hub sets, so neither a user nor a dataset may set it."""
    return name in PLUGIN_ENV or name.startswith(RESERVED_PREFIXES)


def is_reserved_dataset_env(name: str) -> bool:
    """A variable a Dataset may not export: the hub's own, and the loader's and shell's."""
    return is_reserved_env(name) or name in LOADER_ENV


def role_prefix_problem(prefix: str) -> str | None:
    """Why `prefix` cannot be a role prefix (`c1` in `c1:it:cpu-1`), or None."""
    if ":" in prefix or prefix != prefix.strip():
        return (f"{prefix!r} must not contain ':' or spaces; write 'c1' for roles like "
                "'c1:it:cpu-1'.")
    return None
