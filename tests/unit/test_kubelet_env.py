"""The local kubelet's container environment and command line (devstack/kubelet/env.py)."""
from pathlib import Path

import pytest

from devstack.kubelet.env import (
    ConfigError,
    bind_to_pod_ip,
    command_line,
    make_env,
    process_env,
    sources,
)
from devstack.kubelet.nodes import CPU_NODE, GPU_NODE

IP = "127.0.2.7"


def pod(*, labels=None, node="cpu-node") -> dict:
    return {"metadata": {"name": "jupyter-alice", "namespace": "hub", "uid": "u-1",
                         "labels": labels or {}},
            "spec": {"nodeName": node, "serviceAccountName": "default"}}


def container(env=(), env_from=(), resources=None) -> dict:
    return {"name": "notebook", "env": list(env), "envFrom": list(env_from),
            "resources": resources or {}}


def field(path: str) -> dict:
    return {"name": "V", "valueFrom": {"fieldRef": {"fieldPath": path}}}


def resource(name: str, divisor: str | None = None) -> dict:
    ref = {"resource": name}
    if divisor:
        ref["divisor"] = divisor
    return {"name": "V", "valueFrom": {"resourceFieldRef": ref}}


VALUES = [
    pytest.param([{"name": "V", "value": "plain"}], "plain", id="value"),
    pytest.param([{"name": "A", "value": "x"}, {"name": "V", "value": "$(A)-$(B)"}], "x-$(B)",
                 id="expands-known-keeps-unknown"),
    pytest.param([{"name": "V", "value": "$$(A)"}], "$(A)", id="double-dollar-escapes"),
    pytest.param([{"name": "V", "value": "$(A"}], "$(A", id="unclosed-kept"),
    pytest.param([{"name": "V"}], "", id="no-value-is-empty"),
    pytest.param([field("metadata.name")], "jupyter-alice", id="field-name"),
    pytest.param([field("metadata.namespace")], "hub", id="field-namespace"),
    pytest.param([field("status.podIP")], IP, id="field-pod-ip"),
    pytest.param([field("status.hostIP")], "127.0.0.1", id="field-host-ip"),
    pytest.param([field("spec.nodeName")], "cpu-node", id="field-node"),
    pytest.param([field("metadata.labels['team']")], "ml", id="field-label"),
    pytest.param([field("metadata.annotations['none']")], "", id="field-absent-annotation"),
    pytest.param([resource("limits.cpu")], "2", id="cpu-limit"),
    pytest.param([resource("limits.memory", "1Mi")], "512", id="memory-limit-in-mi"),
    pytest.param([resource("requests.cpu", "1m")], "500", id="cpu-request-in-milli"),
    pytest.param([resource("requests.memory", "1m")], "1009", id="no-float-noise"),
    pytest.param([resource("limits.nvidia.com/gpu")], "0", id="unset-extended-reads-node"),
    pytest.param([resource("requests.ephemeral-storage", "1Gi")], "100",
                 id="unset-reads-allocatable"),
    pytest.param([{"name": "V", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
                 "secret-value", id="secret-key"),
    pytest.param([{"name": "V", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}],
                 "config-value", id="configmap-key"),
]
FETCHED = {("secret", "s"): {"k": "secret-value"}, ("configmap", "c"): {"k": "config-value"},
           ("secret", "missing"): None}
RESOURCES = {"limits": {"cpu": "2", "memory": "512Mi"},
             "requests": {"cpu": "500m", "memory": "1009m"}}


@pytest.mark.parametrize("env, value", VALUES)
def test_a_variable_gets_what_kubernetes_would_give_it(env, value):
    got = make_env(pod(labels={"team": "ml"}), container(env, resources=RESOURCES), IP,
                   CPU_NODE, FETCHED)
    assert got["V"] == value


def test_an_unset_gpu_limit_reads_the_gpu_nodes_allocatable():
    got = make_env(pod(node="gpu-node"), container([resource("limits.nvidia.com/gpu")]), IP,
                   GPU_NODE, {})
    assert got["V"] == "2"


def test_env_from_adds_every_key_with_its_prefix_and_env_wins():
    env_from = [{"configMapRef": {"name": "c"}, "prefix": "CM_"}, {"secretRef": {"name": "s"}}]
    got = make_env(pod(), container([{"name": "k", "value": "own"}], env_from), IP,
                   CPU_NODE, FETCHED)
    assert got == {"CM_k": "config-value", "k": "own"}


REFUSED = [
    pytest.param([{"name": "V", "valueFrom": {"secretKeyRef": {"name": "missing", "key": "k"}}}],
                 'secret "missing" not found', id="missing-secret"),
    pytest.param([{"name": "V", "valueFrom": {"secretKeyRef": {"name": "s", "key": "nope"}}}],
                 "couldn't find key nope in secret hub/s", id="missing-key"),
    pytest.param([field("spec.hostname")], "unsupported fieldRef spec.hostname",
                 id="unsupported-field"),
    pytest.param([{"name": "V", "valueFrom": {"fileKeyRef": {}}}], "unsupported valueFrom",
                 id="unsupported-source"),
    pytest.param([resource("limits.cpu", "lots")], "resourceFieldRef limits.cpu",
                 id="bad-divisor"),
]


@pytest.mark.parametrize("env, sentence", REFUSED)
def test_a_variable_that_cannot_be_set_is_a_config_error(env, sentence):
    with pytest.raises(ConfigError, match=sentence):
        make_env(pod(), container(env), IP, CPU_NODE, FETCHED)


OPTIONAL = [
    pytest.param({"secretKeyRef": {"name": "missing", "key": "k", "optional": True}},
                 id="optional-missing-secret"),
    pytest.param({"secretKeyRef": {"name": "s", "key": "nope", "optional": True}},
                 id="optional-missing-key"),
]


@pytest.mark.parametrize("source", OPTIONAL)
def test_an_optional_reference_that_is_absent_is_left_out(source):
    got = make_env(pod(), container([{"name": "V", "valueFrom": source}]), IP, CPU_NODE,
                   FETCHED)
    assert "V" not in got


def test_sources_lists_every_secret_and_configmap_read():
    env = [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
           {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}},
           field("metadata.name")]
    env_from = [{"secretRef": {"name": "s2"}}, {"configMapRef": {"name": "c"}}]
    assert sources(container(env, env_from)) == {
        ("secret", "s"), ("secret", "s2"), ("configmap", "c")}


BINDS = [
    pytest.param(["--ip=0.0.0.0", "--port=8888"], ["--ip=" + IP, "--port=8888"],
                 id="flag-equals-wildcard"),
    pytest.param(["--bind", "0.0.0.0"], ["--bind", IP], id="separate-wildcard"),
    pytest.param(["--ip=[::]"], ["--ip=" + IP], id="ipv6-wildcard"),
    pytest.param(["--ip=10.0.0.1", "serve"], ["--ip=10.0.0.1", "serve"], id="other-kept"),
]


@pytest.mark.parametrize("argv, bound", BINDS)
def test_a_wildcard_address_becomes_the_pods(argv, bound):
    assert bind_to_pod_ip({}, argv, IP)[1] == bound


def test_the_service_url_is_bound_to_the_pods_address_keeping_port_and_path():
    env, _ = bind_to_pod_ip({"JUPYTERHUB_SERVICE_URL": "http://0.0.0.0:8888/user/alice/"},
                            [], IP)
    assert env["JUPYTERHUB_SERVICE_URL"] == f"http://{IP}:8888/user/alice/"


def test_the_command_line_is_command_then_args_expanded():
    spec = {"command": ["python", "-m"], "args": ["http.server", "$(PORT)"]}
    assert command_line(spec, {"PORT": "8888"}) == ["python", "-m", "http.server", "8888"]


def test_the_process_env_keeps_a_few_host_variables_and_the_pods_home():
    host = {"LANG": "C.UTF-8", "PATH": "/usr/bin", "SECRET_OF_THE_HOST": "x"}
    env = process_env({"HOME": "/elsewhere", "LANG": "de_DE"}, "jupyter-alice",
                      Path("/pods/jupyter-alice"), host, "/venv/bin", None)
    assert env["LANG"] == "de_DE"  # the container's own variable wins
    assert env["PATH"] == "/venv/bin:/usr/bin" and env["HOSTNAME"] == "jupyter-alice"
    assert env["HOME"] == "/pods/jupyter-alice" and "SECRET_OF_THE_HOST" not in env
    assert "JUPYTER_CONFIG_PATH" not in env
