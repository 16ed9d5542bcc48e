"""The local kubelet's pod and node statuses (devstack/kubelet/status.py, nodes.py)."""
import pytest

from devstack.kubelet.nodes import (
    CPU_NODE,
    GPU_NODE,
    node_conditions,
    node_metadata,
    node_spec,
    node_status,
)
from devstack.kubelet.status import (
    Process,
    exit_code_of,
    exited_status,
    failed_status,
    has_run,
    pick_container,
    probe_port,
    running_status,
    started_times,
)

T = "2026-01-01T00:00:00Z"
PROCESS = Process(ip="127.0.2.1", pid=42, started_at="2026-01-01T00:00:00Z")


def pod(containers=("notebook",), init=()) -> dict:
    return {"metadata": {"name": "p", "uid": "u-1"},
            "spec": {"containers": [{"name": n, "image": f"img-{n}"} for n in containers],
                     "initContainers": [{"name": n} for n in init]}}


PICKS = [
    pytest.param(("sidecar", "notebook"), "notebook", id="notebook-wins"),
    pytest.param(("web", "sidecar"), "web", id="else-the-first"),
    pytest.param((), None, id="none"),
]


@pytest.mark.parametrize("names, picked", PICKS)
def test_the_container_run_is_the_notebook(names, picked):
    chosen = pick_container(pod(names))
    assert (chosen or {}).get("name") == picked


PORTS = [
    pytest.param({"ports": [{"containerPort": 8888}]}, 8888, id="first-port"),
    pytest.param({"ports": [{"containerPort": 1}], "readinessProbe": {"tcpSocket": {"port": 2}}},
                 2, id="tcp-probe-wins"),
    pytest.param({"ports": [{"containerPort": 1}, {"containerPort": 3, "name": "web"}],
                  "readinessProbe": {"httpGet": {"port": "web"}}}, 3, id="named-probe-port"),
    pytest.param({"readinessProbe": {"httpGet": {"port": "8080"}}}, 8080, id="digits"),
    pytest.param({}, None, id="no-port"),
]


@pytest.mark.parametrize("spec, port", PORTS)
def test_the_ready_port(spec, port):
    assert probe_port(spec) == port


def conditions(status: dict) -> dict:
    return {c["type"]: c["status"] for c in status["conditions"]}


@pytest.mark.parametrize("ready", [True, False])
def test_running_reports_the_address_the_process_and_readiness(ready):
    status = running_status(pod(("notebook", "sidecar"), init=("setup",)), PROCESS, ready, T)
    assert status["phase"] == "Running" and status["podIP"] == "127.0.2.1"
    assert status["hostIP"] == "127.0.0.1"
    flag = "True" if ready else "False"
    assert conditions(status)["Ready"] == flag and conditions(status)["PodScheduled"] == "True"
    assert [c["ready"] for c in status["containerStatuses"]] == [ready, ready]
    state = status["containerStatuses"][0]["state"]
    assert state["running"] == {"startedAt": PROCESS.started_at} and state["terminated"] is None
    assert status["containerStatuses"][0]["containerID"] == "local://u-1/42"
    assert status["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 0


EXITS = [
    pytest.param(0, "Succeeded", 0, "Completed", None, id="success"),
    pytest.param(3, "Failed", 3, "Error", None, id="failure"),
    pytest.param(-9, "Failed", 137, "Error", 9, id="killed"),
]


@pytest.mark.parametrize("returncode, phase, code, reason, signal", EXITS)
def test_an_exit_is_reported_with_its_code(returncode, phase, code, reason, signal):
    status = exited_status(pod(), PROCESS, returncode, T)
    terminated = status["containerStatuses"][0]["state"]["terminated"]
    assert status["phase"] == phase and exit_code_of(returncode) == code
    assert terminated["exitCode"] == code and terminated["reason"] == reason
    assert terminated.get("signal") == signal
    assert terminated["startedAt"] == PROCESS.started_at and terminated["finishedAt"] == T
    assert conditions(status)["Ready"] == "False"


def test_a_failure_before_the_process_carries_reason_and_message():
    status = failed_status(pod(), None, "CreateContainerConfigError", 'secret "s" not found',
                           128, T)
    assert status["phase"] == "Failed" and status["reason"] == "CreateContainerConfigError"
    assert "podIP" not in status
    terminated = status["containerStatuses"][0]["state"]["terminated"]
    assert terminated["message"] == 'secret "s" not found' and "startedAt" not in terminated


def test_an_orphan_keeps_when_its_container_started():
    ran = pod()
    ran["status"] = {"containerStatuses": [
        {"name": "notebook", "state": {"running": {"startedAt": "then"}}}]}
    assert has_run(ran) and not has_run(pod())
    status = failed_status(ran, None, "LocalKubeletRestarted", "gone", 137, T,
                           started=started_times(ran))
    assert status["containerStatuses"][0]["state"]["terminated"]["startedAt"] == "then"


NODES = [
    pytest.param(CPU_NODE, "cpu", None, id="cpu-node"),
    pytest.param(GPU_NODE, "gpu", "2", id="gpu-node"),
]


@pytest.mark.parametrize("shape, hardware, gpus", NODES)
def test_node_shapes(shape, hardware, gpus):
    meta = node_metadata(shape)
    assert meta["labels"]["hardware"] == hardware
    assert meta["labels"]["kubernetes.io/hostname"] == shape.name
    status = node_status(shape, T)
    assert status["capacity"] == status["allocatable"]
    assert status["capacity"]["cpu"] == "8" and status["capacity"]["memory"] == "32Gi"
    assert status["capacity"].get("nvidia.com/gpu") == gpus


def test_only_the_gpu_node_is_tainted_and_registration_replaces_the_taints():
    assert node_spec(GPU_NODE) == {"taints": [
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]}
    assert node_spec(CPU_NODE) == {"taints": None}  # lifts the API server's not-ready taint


def test_a_heartbeat_reports_ready_and_no_pressure():
    beat = {c["type"]: c for c in node_conditions(T)}
    assert beat["Ready"]["status"] == "True" and beat["Ready"]["lastHeartbeatTime"] == T
    assert {beat[k]["status"] for k in ("MemoryPressure", "DiskPressure", "PIDPressure")} \
        == {"False"}
    assert "lastTransitionTime" not in beat["Ready"]
