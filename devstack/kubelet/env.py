"""A container's environment and command line, as Kubernetes would give them (pure).

The Secrets and ConfigMaps a container reads are fetched first (`sources`), then
`make_env` builds the environment from the pod and what was fetched.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from primehub_spawner.quantities import parse_quantity

from .nodes import HOST_IP, NodeShape

WILDCARDS = ("0.0.0.0", "::", "[::]", "*")
HOST_VARIABLES = ("LANG", "LC_ALL", "TZ", "TERM")


class ConfigError(Exception):
    """The container cannot be configured (missing secret, unsupported field, ...)."""


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: known names replaced, $$ escapes, the rest kept."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("$(", i):
            end = text.find(")", i + 2)
            name = text[i + 2:end] if end != -1 else None
            if name is not None and name in env:
                out.append(env[name])
                i = end + 1
            else:
                out.append(text[i:end + 1] if end != -1 else text[i:])
                i = end + 1 if end != -1 else len(text)
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _data_refs(container: dict):
    """(kind, name, ref) of every Secret/ConfigMap the container reads."""
    for source in container.get("envFrom") or []:
        if "configMapRef" in source:
            yield "configmap", source["configMapRef"]["name"], source["configMapRef"]
        elif "secretRef" in source:
            yield "secret", source["secretRef"]["name"], source["secretRef"]
    for var in container.get("env") or []:
        source = var.get("valueFrom") or {}
        for key, kind in (("secretKeyRef", "secret"), ("configMapKeyRef", "configmap")):
            if key in source:
                yield kind, source[key]["name"], source[key]


def sources(container: dict) -> set[tuple[str, str]]:
    """The (kind, name) pairs `make_env` needs, kind being "secret" or "configmap"."""
    return {(kind, name) for kind, name, _ in _data_refs(container)}


def _data(fetched: dict, kind: str, ref: dict) -> dict[str, str] | None:
    data = fetched.get((kind, ref["name"]))
    if data is None and not ref.get("optional"):
        raise ConfigError(f'{kind} "{ref["name"]}" not found')
    return data


def field_ref(pod: dict, path: str, ip: str) -> str:
    meta, spec = pod["metadata"], pod["spec"]
    simple = {
        "metadata.name": meta["name"], "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta["uid"], "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": ip, "status.podIPs": ip,
        "status.hostIP": HOST_IP, "status.hostIPs": HOST_IP,
    }
    if path in simple:
        return simple[path]
    match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if match:
        return (meta.get(match.group(1)) or {}).get(match.group(2), "")
    raise ConfigError(f"unsupported fieldRef {path}")


def resource_field(container: dict, ref: dict, node: NodeShape) -> str:
    kind, _, what = ref["resource"].partition(".")
    value = ((container.get("resources") or {}).get(kind) or {}).get(what)
    if value is None:  # an unset limit reads as the node's allocatable
        value = node.capacity.get(what, "0")
    try:
        ratio = parse_quantity(value) / parse_quantity(ref.get("divisor") or "1")
    except (ValueError, ZeroDivisionError) as error:
        raise ConfigError(f"resourceFieldRef {ref['resource']}: {error}") from None
    # The parser gives floats (1009m / 1m is 1009.0000000000001); Kubernetes rounds an exact
    # ratio up, so the float noise below its finest unit (nano) is dropped first.
    return str(math.ceil(round(ratio, 9)))


def make_env(pod: dict, container: dict, ip: str, node: NodeShape,
             fetched: dict[tuple[str, str], dict[str, str] | None]) -> dict[str, str]:
    """The container's own variables; `fetched` maps `sources()` to their data (None: not
    found)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix") or ""
        if "configMapRef" in source:
            data = _data(fetched, "configmap", source["configMapRef"])
        elif "secretRef" in source:
            data = _data(fetched, "secret", source["secretRef"])
        else:
            raise ConfigError(f"unsupported envFrom source {source}")
        env.update({prefix + k: v for k, v in (data or {}).items()})
    for var in container.get("env") or []:
        name = var["name"]
        if "valueFrom" not in var:
            env[name] = expand(var.get("value") or "", env)
            continue
        source = var["valueFrom"]
        if "fieldRef" in source:
            env[name] = field_ref(pod, source["fieldRef"]["fieldPath"], ip)
        elif "resourceFieldRef" in source:
            env[name] = resource_field(container, source["resourceFieldRef"], node)
        elif "secretKeyRef" in source or "configMapKeyRef" in source:
            kind = "secret" if "secretKeyRef" in source else "configmap"
            ref = source["secretKeyRef" if kind == "secret" else "configMapKeyRef"]
            data = _data(fetched, kind, ref)
            if data is None:
                continue
            if ref["key"] not in data:
                if ref.get("optional"):
                    continue
                raise ConfigError(f'couldn\'t find key {ref["key"]} in {kind} '
                                  f'{pod["metadata"].get("namespace", "")}/{ref["name"]} '
                                  f'(env {name})')
            env[name] = data[ref["key"]]
        else:
            raise ConfigError(f"env {name}: unsupported valueFrom {list(source)} "
                              "(the local kubelet supports fieldRef, resourceFieldRef, "
                              "secretKeyRef and configMapKeyRef)")
    return env


def bind_to_pod_ip(env: dict[str, str], argv: list[str], ip: str) -> tuple[dict, list]:
    """Make a server that would listen on every interface listen on the pod's address:
    the host of JUPYTERHUB_SERVICE_URL and any wildcard address in the args."""
    url = env.get("JUPYTERHUB_SERVICE_URL")
    if url:
        parts = urlsplit(url)
        netloc = ip + (f":{parts.port}" if parts.port else "")
        env = {**env, "JUPYTERHUB_SERVICE_URL": urlunsplit(parts._replace(netloc=netloc))}
    out = []
    for arg in argv:
        if arg in WILDCARDS:
            arg = ip
        else:
            name, eq, value = arg.partition("=")
            if eq and name.startswith("-") and value in WILDCARDS:
                arg = f"{name}={ip}"
        out.append(arg)
    return env, out


def command_line(container: dict, env: dict[str, str]) -> list[str]:
    """`command` + `args`, with $(VAR) expanded from the container's env."""
    return [expand(a, env) for a in (container.get("command") or [])
            + (container.get("args") or [])]


def process_env(env: dict[str, str], pod_name: str, home: Path, host_env: dict[str, str],
                python_bin: str, jupyter_config: Path | None) -> dict[str, str]:
    """The process's whole environment: a few of the host's variables, what a pod finds in
    a cluster, the container's env, and HOME in the pod's directory."""
    full = {key: host_env[key] for key in HOST_VARIABLES if key in host_env}
    full.update({
        "PATH": python_bin + ":" + host_env.get("PATH", ""), "HOSTNAME": pod_name,
        "KUBERNETES_SERVICE_HOST": HOST_IP, "KUBERNETES_SERVICE_PORT": "16443",
    })
    if jupyter_config is not None:
        full["JUPYTER_CONFIG_PATH"] = str(jupyter_config)
    full.update(env)
    full["HOME"] = str(home)
    return full
