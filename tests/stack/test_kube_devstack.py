"""The devstack's Kubernetes part, end to end: etcd + kube-apiserver + CRDs + RBAC + demo
data + kube-scheduler + the local kubelet (where pods go: test_scheduling.py).

The hub's own credential (.devstack/kube/hub.kubeconfig, user primehub-hub) gets its rights
only from crds/rbac.yaml, so what it can and cannot do here is what the shipped RBAC grants.
These tests fail (never skip) when a part of the stack cannot start.
"""
from __future__ import annotations

import asyncio
import json
import os
import urllib.request

import pytest

from devstack import kube

from .kube_client import (
    ADMIN,
    HUB,
    NS,
    POD_IP_ENV,
    SERVE_POD_IP,
    call,
    create_pod,
    delete_pod,
    events_for,
    get_pod,
    is_ready,
    make_pod,
    status_of,
    unique,
    wait_for,
)

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("stack")]


# The whole stack comes from the session fixture `stack` in conftest.py.


# ---------------------------------------------------------------- the API server

def test_apiserver_serves_a_release():
    version = call("GET", "/version", kubeconfig=ADMIN)
    assert version["gitVersion"].startswith("v1.")
    assert int(version["minor"]) >= 30


def test_crds_are_established():
    for plural in ("instancetypes", "images", "datasets"):
        crd = call("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                          f"{plural}.primehub.io", kubeconfig=ADMIN)
        conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert conditions["Established"] == "True"
        assert crd["spec"]["scope"] == "Namespaced"


def test_hub_reads_the_demo_data():
    def names(plural):
        listing = call("GET", f"/apis/primehub.io/v1alpha1/namespaces/{NS}/{plural}")
        return {item["metadata"]["name"]: item for item in listing["items"]}

    its = names("instancetypes")
    assert {"cpu-1", "cpu-2", "gpu-small", "legacy-gpu"} <= set(its)
    gpu = its["gpu-small"]["spec"]
    assert gpu["limits.gpu"] == 1 and gpu["gpuResourceName"] == "nvidia.com/gpu"
    assert gpu["nodeSelector"] == {"hardware": "gpu"}
    assert its["legacy-gpu"]["spec"]["limits.nvidia.com/gpu"] == 1
    assert its["cpu-2"]["spec"]["requests.cpu"] == 0.5
    images = names("images")
    assert {"base-notebook", "pytorch", "tf-gpu", "research-image", "private-image",
            "building-image"} <= set(images)
    assert images["building-image"]["spec"]["url"] == ""
    assert images["private-image"]["spec"]["pullSecret"] == "private-registry"
    datasets = names("datasets")
    assert {"team-data", "shared-nfs", "host-data", "git-repo", "public-env",
            "class-only"} <= set(datasets)
    assert datasets["shared-nfs"]["spec"]["nfs"]["server"] == "10.0.0.50"
    assert datasets["public-env"]["spec"]["variables"] == {"REGION": "tw", "BUCKET": "demo"}
    assert datasets["class-only"]["metadata"]["annotations"][
        "dataset.primehub.io/launchGroupOnly"] == "true"


def test_malformed_specs_are_stored_as_written():
    name = unique("malformed")
    body = {"apiVersion": "primehub.io/v1alpha1", "kind": "InstanceType",
            "metadata": {"name": name, "namespace": NS},
            # Of the right types (the CRD has PrimeHub's schema), but values only the spawner
            # refuses; crds/ and tests/stack/test_crds_real_shapes.py cover the schema.
            "spec": {"limits.cpu": -1, "limits.memory": "lots",
                     "tolerations": [{"unknownKey": {"x": 1}}]}}
    call("POST", f"/apis/primehub.io/v1alpha1/namespaces/{NS}/instancetypes", body,
         kubeconfig=ADMIN)
    try:
        got = call("GET", f"/apis/primehub.io/v1alpha1/namespaces/{NS}/instancetypes/{name}")
        assert got["spec"] == body["spec"]
    finally:
        call("DELETE", f"/apis/primehub.io/v1alpha1/namespaces/{NS}/instancetypes/{name}",
             kubeconfig=ADMIN)


def test_the_hub_kubeconfig_works_with_kubernetes_asyncio():
    from kubernetes_asyncio import client, config

    async def list_images():
        api = await config.new_client_from_config(config_file=str(HUB))
        async with api:
            objects = client.CustomObjectsApi(api)
            listing = await objects.list_namespaced_custom_object(
                "primehub.io", "v1alpha1", NS, "images")
            return {item["metadata"]["name"] for item in listing["items"]}

    assert "base-notebook" in asyncio.run(list_images())


# ---------------------------------------------------------------- RBAC: crds/rbac.yaml only

@pytest.mark.parametrize("path", [
    f"/apis/primehub.io/v1alpha1/namespaces/{NS}/instancetypes",
    f"/apis/primehub.io/v1alpha1/namespaces/{NS}/images",
    f"/apis/primehub.io/v1alpha1/namespaces/{NS}/datasets",
    f"/api/v1/namespaces/{NS}/pods",
    f"/api/v1/namespaces/{NS}/events",
    f"/api/v1/namespaces/{NS}/persistentvolumeclaims",
])
def test_hub_may_list_in_its_namespace(path):
    assert status_of("GET", path) == 200


@pytest.mark.parametrize("method,path", [
    ("GET", "/api/v1/namespaces/kube-system/pods"),
    ("GET", "/api/v1/pods"),
    ("GET", f"/api/v1/namespaces/{NS}/secrets"),
    ("GET", f"/api/v1/namespaces/{NS}/secrets/private-registry"),
    ("GET", "/api/v1/nodes"),
    ("GET", "/apis/primehub.io/v1alpha1/namespaces/default/instancetypes"),
    ("POST", f"/apis/primehub.io/v1alpha1/namespaces/{NS}/images"),
    ("DELETE", f"/apis/primehub.io/v1alpha1/namespaces/{NS}/datasets/team-data"),
    ("POST", "/api/v1/namespaces"),
])
def test_hub_may_not(method, path):
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}} \
        if method == "POST" else None
    assert status_of(method, path, body) == 403


def can_i(verb: str, resource: str, namespace: str, group: str = "") -> bool:
    review = call("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": verb, "resource": resource, "group": group,
                                        "namespace": namespace}}})
    return review["status"]["allowed"]


def test_hub_access_review_matches_the_shipped_role():
    for verb in ("create", "delete", "get", "list", "watch"):
        assert can_i(verb, "pods", NS)
    for verb in ("get", "list", "watch"):
        assert can_i(verb, "events", NS)
        for plural in ("instancetypes", "images", "datasets"):
            assert can_i(verb, plural, NS, "primehub.io")
    for verb in ("get", "list", "create", "delete"):
        assert can_i(verb, "persistentvolumeclaims", NS)
    assert not can_i("update", "instancetypes", NS, "primehub.io")
    assert not can_i("list", "pods", "kube-system")
    assert not can_i("get", "secrets", NS)
    assert not can_i("create", "pods", "default")


# ---------------------------------------------------------------- the local kubelet

def node(name: str) -> dict:
    return call("GET", f"/api/v1/nodes/{name}", kubeconfig=ADMIN)


def test_a_cpu_node_and_a_gpu_node_are_registered_and_ready():
    nodes = call("GET", "/api/v1/nodes", kubeconfig=ADMIN)["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == ["cpu-node", "gpu-node"]
    for item in nodes:
        conditions = {c["type"]: c["status"] for c in item["status"]["conditions"]}
        assert conditions["Ready"] == "True"
        assert item["status"]["allocatable"]["cpu"] == "8"
        assert item["status"]["allocatable"]["memory"] == "32Gi"


def test_the_gpu_node_is_labelled_tainted_and_has_two_gpus():
    gpu = node("gpu-node")
    assert gpu["metadata"]["labels"]["hardware"] == "gpu"
    assert gpu["spec"]["taints"] == [
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
    assert gpu["status"]["capacity"]["nvidia.com/gpu"] == "2"


def test_the_cpu_node_has_no_gpu_and_no_taint():
    cpu = node("cpu-node")
    assert cpu["metadata"]["labels"]["hardware"] == "cpu"
    assert not cpu["spec"].get("taints")
    assert "nvidia.com/gpu" not in cpu["status"]["capacity"]


def test_both_nodes_renew_their_leases():
    for name in ("cpu-node", "gpu-node"):
        lease = call("GET", f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/"
                            f"leases/{name}", kubeconfig=ADMIN)
        assert lease["spec"]["holderIdentity"] == name


def test_pod_runs_becomes_ready_and_is_deleted():
    name = unique("serve")
    create_pod(make_pod(name, SERVE_POD_IP, env=POD_IP_ENV))
    try:
        pod = wait_for(lambda: (p := get_pod(name)) and is_ready(p) and p, 30, "Ready pod")
        ip = pod["status"]["podIP"]
        a, b, x, _y = map(int, ip.split("."))
        assert (a, b) == (127, 0) and x >= 1, ip
        assert pod["spec"]["nodeName"] == "cpu-node"  # no toleration: not the GPU node
        assert pod["status"]["hostIP"] == "127.0.0.1"
        state = pod["status"]["containerStatuses"][0]["state"]
        assert "running" in state
        with urllib.request.urlopen(f"http://{ip}:8888/", timeout=5) as response:
            assert response.status == 200
        reasons = [e["reason"] for e in events_for(name)]
        for reason in ("Scheduled", "Pulling", "Pulled", "Created", "Started"):
            assert reason in reasons, reasons
        pulled = next(e for e in events_for(name) if e["reason"] == "Pulled")
        assert "not pulled: local kubelet" in pulled["message"]
        assert (kube.proc.LOGS / f"pod-{name}.log").exists()
    finally:
        delete_pod(name)
    wait_for(lambda: get_pod(name) is None, 30, "pod gone")
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://{ip}:8888/", timeout=2)
    assert "Killing" in [e["reason"] for e in events_for(name)]


def test_two_pods_get_different_addresses_on_the_same_port():
    names = [unique("twin"), unique("twin")]
    for name in names:
        create_pod(make_pod(name, SERVE_POD_IP, env=POD_IP_ENV))
    try:
        pods = [wait_for(lambda n=n: (p := get_pod(n)) and is_ready(p) and p, 30, "Ready")
                for n in names]
        ips = {p["status"]["podIP"] for p in pods}
        assert len(ips) == 2
    finally:
        for name in names:
            delete_pod(name, grace=1)
    for name in names:
        wait_for(lambda n=name: get_pod(n) is None, 30, "pod gone")


def test_jupyterhub_service_url_is_bound_to_the_pod_address():
    # KubeSpawner (ip 0.0.0.0) sets JUPYTERHUB_SERVICE_URL=http://0.0.0.0:8888/...;
    # jupyterhub-singleuser binds its host. Here a tiny server does the same.
    script = ("import os, http.server, urllib.parse as u;"
              "p = u.urlsplit(os.environ['JUPYTERHUB_SERVICE_URL']);"
              "http.server.HTTPServer((p.hostname, p.port), "
              "http.server.SimpleHTTPRequestHandler).serve_forever()")
    name = unique("jhub")
    env = [{"name": "JUPYTERHUB_SERVICE_URL", "value": "http://0.0.0.0:8888/user/alice/"}]
    create_pod(make_pod(name, ["-c", script], env=env))
    try:
        pod = wait_for(lambda: (p := get_pod(name)) and is_ready(p) and p, 30, "Ready pod")
        ip = pod["status"]["podIP"]
        with urllib.request.urlopen(f"http://{ip}:8888/", timeout=5) as response:
            assert response.status == 200
    finally:
        delete_pod(name, grace=1)
    wait_for(lambda: get_pod(name) is None, 30, "pod gone")


@pytest.mark.parametrize("code,phase", [(0, "Succeeded"), (3, "Failed")])
def test_process_exit_is_reported(code, phase):
    name = unique(f"exit{code}")
    create_pod(make_pod(name, ["-c", f"import sys; print('bye'); sys.exit({code})"]))
    try:
        pod = wait_for(lambda: (p := get_pod(name)) and p["status"].get("phase") == phase
                       and p, 30, f"phase {phase}")
        terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
        assert terminated["exitCode"] == code
        assert "bye" in (kube.proc.LOGS / f"pod-{name}.log").read_text()
    finally:
        delete_pod(name)
    wait_for(lambda: get_pod(name) is None, 30, "pod gone")


def test_env_from_fields_and_secrets():
    name = unique("env")
    script = ("import json, os; print('ENV=' + json.dumps({k: os.environ.get(k) for k in "
              "['MY_NAME', 'MY_NS', 'DOCKER', 'PLAIN', 'EXPANDED', 'HOME']}))")
    env = [
        {"name": "MY_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "MY_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "DOCKER", "valueFrom": {"secretKeyRef": {"name": "private-registry",
                                                          "key": ".dockerconfigjson"}}},
        {"name": "PLAIN", "value": "x"},
        {"name": "EXPANDED", "value": "$(PLAIN)-$(MY_NAME)"},
    ]
    create_pod(make_pod(name, ["-c", script], env=env))
    try:
        wait_for(lambda: (p := get_pod(name)) and p["status"].get("phase") == "Succeeded",
                 30, "Succeeded")
        line = [l for l in (kube.proc.LOGS / f"pod-{name}.log").read_text().splitlines()
                if l.startswith("ENV=")][-1]
        seen = json.loads(line[4:])
        assert seen["MY_NAME"] == name and seen["MY_NS"] == NS
        assert json.loads(seen["DOCKER"])["auths"]
        assert seen["EXPANDED"] == f"x-{name}"
        assert seen["HOME"].endswith(f"/.devstack/pods/{name}")
    finally:
        delete_pod(name)
    wait_for(lambda: get_pod(name) is None, 30, "pod gone")


def test_missing_secret_fails_the_pod_with_a_clear_message():
    name = unique("nosecret")
    env = [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "no-such-secret",
                                                        "key": "k"}}}]
    create_pod(make_pod(name, ["-c", "pass"], env=env))
    try:
        pod = wait_for(lambda: (p := get_pod(name)) and p["status"].get("phase") == "Failed"
                       and p, 30, "Failed")
        assert "no-such-secret" in pod["status"]["message"]
        terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
        assert terminated["reason"] == "CreateContainerConfigError"
        assert any(e["type"] == "Warning" and "no-such-secret" in e["message"]
                   for e in events_for(name))
    finally:
        delete_pod(name)
    wait_for(lambda: get_pod(name) is None, 30, "pod gone")


def test_stack_memory_is_modest():
    for name, limit_mb in (("etcd", 400), ("kube-apiserver", 1200), ("kube-scheduler", 300),
                           ("kubelet", 300)):
        peak = kube.memory(name).get("VmHWM")
        assert peak, f"{name} is not running"
        assert peak / 1024 < limit_mb, f"{name} peaked at {peak / 1024:.0f} MB"


KUBESPAWNER_SCRIPT = r'''
import asyncio, json, sys
from kubespawner import KubeSpawner

async def main(name):
    spawner = KubeSpawner(
        _mock=True, namespace="hub", cmd=["python", "-m", "http.server"],
        args=["8888", "--bind", "0.0.0.0"], start_timeout=60, http_timeout=30,
        storage_pvc_ensure=True, storage_capacity="1Gi", pod_name_template=name,
        pvc_name_template="claim-" + name,
        volumes=[{"name": "home", "persistentVolumeClaim": {"claimName": "claim-" + name}}],
        volume_mounts=[{"name": "home", "mountPath": "/home/jovyan"}])
    spawner.api_token = "not-a-real-token"
    url = await spawner.start()
    report = {"url": url, "poll_running": await spawner.poll(),
              "events": [e["reason"] for e in spawner.events]}
    await spawner.stop()
    report["poll_stopped"] = await spawner.poll()
    await spawner.delete_forever()
    print("REPORT=" + json.dumps(report))

asyncio.run(main(sys.argv[1]))
'''


def test_kubespawner_starts_and_stops_a_server_with_the_hub_credential():
    """KubeSpawner itself, with only the shipped RBAC: PVC, pod, reflectors, events."""
    import subprocess
    import sys

    name = unique("jupyter-ks")
    # A separate process: kubespawner loads its client configuration once per process.
    result = subprocess.run([sys.executable, "-c", KUBESPAWNER_SCRIPT, name],
                            env={**os.environ, "KUBECONFIG": str(HUB)},
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads([line for line in result.stdout.splitlines()
                         if line.startswith("REPORT=")][-1][7:])
    assert report["url"].startswith("http://127.0.") and report["url"].endswith(":8888")
    assert report["poll_running"] is None and report["poll_stopped"] is not None
    assert {"Scheduled", "Started"} <= set(report["events"])
    assert get_pod(name) is None
    assert status_of("GET", f"/api/v1/namespaces/{NS}/persistentvolumeclaims/claim-{name}") == 404
