"""PrimeHub's shapes in a real API server that has our CRDs (crds/, applied by the stack at
start): stored nested as written, refused where PrimeHub's schema or the API server itself
refuses, and read by the watch cache (kubernetes_asyncio, the stack's admin kubeconfig)
into the same entries as the pure parsers give (tests/primehub_shapes.py; issue 7).

These tests fail (never skip) when a part of the stack cannot start.
"""
from __future__ import annotations

import asyncio
import logging
import time

import pytest
from kubernetes_asyncio import client, config

from devstack import kube
from primehub_spawner.catalog import PARSERS, PLURALS
from primehub_spawner.crd_cache import CatalogCache
from tests.primehub_shapes import API_SERVER_REFUSES, shape, shapes

NS = kube.NAMESPACE
ADMIN = kube.ADMIN_KUBECONFIG

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("stack")]


def collection(kind: str) -> str:
    return f"/apis/primehub.io/v1alpha1/namespaces/{NS}/{PLURALS[kind]}"


def create(obj: dict) -> dict:
    return kube.request("POST", collection(obj["kind"]), obj, kubeconfig=ADMIN)


def status_of_create(obj: dict) -> tuple[int, str]:
    try:
        create(obj)
    except kube.ApiError as error:
        return error.status, error.body
    delete(obj)
    return 201, ""


def delete(obj: dict) -> None:
    try:
        kube.request("DELETE", f"{collection(obj['kind'])}/{obj['metadata']['name']}",
                     kubeconfig=ADMIN)
    except kube.ApiError as error:
        assert error.status == 404, error


def storable() -> list[dict]:
    return [o for o in shapes() if o["metadata"]["name"] not in API_SERVER_REFUSES]


@pytest.fixture(scope="module")
def stored():
    """Every storable shape, created in namespace `hub` and deleted afterwards."""
    objects = storable()
    for obj in objects:
        delete(obj)  # left over from an interrupted run
    try:
        for obj in objects:
            create(obj)
        yield objects
    finally:
        for obj in objects:
            delete(obj)


def declared(spec: dict) -> dict:
    # A null in a field the schema declares (and does not make nullable) is dropped on write,
    # which is what "null means absent" reads anyway.
    return {key: value for key, value in spec.items() if value is not None}


def test_stored_nested_as_written(stored):
    for obj in stored:
        name = obj["metadata"]["name"]
        got = kube.request("GET", f"{collection(obj['kind'])}/{name}")
        assert got["spec"] == declared(obj["spec"]), name
        assert got["metadata"].get("annotations") == obj["metadata"].get("annotations"), name
    nfs = kube.request("GET", f"{collection('Dataset')}/real-nfs")["spec"]
    assert nfs["nfs"] == {"server": "192.168.10.20", "path": "/"}
    tolerations = kube.request("GET", f"{collection('InstanceType')}/real-console-amd")[
        "spec"]["tolerations"]
    assert tolerations[1] == {"effect": None, "key": None, "operator": "Exists", "value": None}


@pytest.mark.parametrize("name, status, says", [
    pytest.param("real_global", 422, "metadata.name", id="underscore-pv-name"),
    pytest.param("real_project", 422, "metadata.name", id="underscore-env-name"),
    pytest.param("real-hub-git", 400, "annotations", id="boolean-annotation"),
])
def test_what_the_api_server_refuses(name, status, says):
    got, body = status_of_create(shape(name))
    assert (got, says in body) == (status, True), body[:300]


def test_no_api_server_serves_the_controller_samples_kind():
    sample = shape("real-image-sample")
    served = kube.request("GET", "/apis/primehub.io/v1alpha1")["resources"]
    assert "XDXImage" not in {resource["kind"] for resource in served}
    try:  # even posted where Images live, it is not stored
        kube.request("POST", collection("Image"), sample, kubeconfig=ADMIN)
    except kube.ApiError as error:
        assert 400 <= error.status < 500, error
    else:
        delete({**sample, "kind": "Image"})
        raise AssertionError("the API server stored kind XDXImage as an Image")


def with_spec(kind: str, name: str, spec: dict) -> dict:
    return {"apiVersion": "primehub.io/v1alpha1", "kind": kind, "metadata": {"name": name},
            "spec": spec}


IT = {"limits.cpu": 1, "limits.memory": "1G"}


@pytest.mark.parametrize("obj, says", [
    pytest.param(with_spec("InstanceType", "real-bad", {**IT, "limits.cpu": "lots"}),
                 "limits.cpu", id="cpu-not-a-number"),
    pytest.param(with_spec("InstanceType", "real-bad", {"limits.cpu": 1}), "limits.memory",
                 id="memory-required"),
    pytest.param(with_spec("InstanceType", "real-bad", {**IT, "limits.gpu": "²"}), "limits.gpu",
                 id="gpu-superscript"),
    pytest.param(with_spec("InstanceType", "real-bad", {**IT, "limits.gpu": 1.5}), "limits.gpu",
                 id="gpu-fraction"),
    pytest.param(with_spec("InstanceType", "real-bad", {**IT, "tolerations": [1]}),
                 "tolerations", id="toleration-not-an-object"),
    pytest.param(with_spec("Dataset", "real-bad", {"type": "s3"}), "spec.type",
                 id="dataset-type-pattern"),
    pytest.param(with_spec("Dataset", "real-bad", {"type": "nfs", "nfs": {"path": "/"}}),
                 "server", id="nfs-server-required"),
    pytest.param(with_spec("Dataset", "real-bad", {"type": "hostPath", "hostPath": {}}),
                 "path", id="host-path-required"),
    pytest.param(with_spec("Dataset", "real-bad", {"type": "pv", "pv": {"provisioning": "x"}}),
                 "provisioning", id="pv-provisioning-pattern"),
    pytest.param(with_spec("Image", "real-bad", {"url": 5}), "spec.url", id="image-url-type"),
    pytest.param(with_spec("Image", "real-bad", {"imageSpec": {"cancel": True}}), "baseImage",
                 id="image-spec-base-image-required"),
])
def test_primehubs_schema_is_enforced(obj, says):
    got, body = status_of_create(obj)
    assert (got, says in body) == (422, True), body[:300]


def test_unknown_spec_keys_are_pruned_as_in_primehub():
    flat = with_spec("Dataset", "real-flat-nfs", {"type": "nfs", "nfs.server": "10.0.0.1"})
    delete(flat)
    try:
        assert create(flat)["spec"] == {"type": "nfs"}
    finally:
        delete(flat)


async def test_the_watch_cache_reads_them_and_follows_changes(stored):
    api_client = await config.new_client_from_config(config_file=str(ADMIN))
    cache = CatalogCache(client.CustomObjectsApi(api_client), NS,
                         log=logging.getLogger("test-crds-real-shapes"))
    bad = with_spec("InstanceType", "real-bad-memory", {**IT, "limits.memory": "9" * 400})
    await asyncio.to_thread(delete, bad)
    cache.start()
    try:
        assert await cache.wait_loaded(30)
        catalog = cache.catalog
        kinds = {"InstanceType": catalog.instance_types, "Image": catalog.images,
                 "Dataset": catalog.datasets}
        for obj in stored:
            name = obj["metadata"]["name"]
            assert kinds[obj["kind"]][name] == PARSERS[obj["kind"]](obj), name
        # Changes arrive through the watch, in order: a bad object is left out, then a
        # console-style merge-patch is read; the rest stays.
        await asyncio.to_thread(create, bad)
        await asyncio.to_thread(
            kube.request, "PATCH", f"{collection('InstanceType')}/real-console-amd",
            {"spec": {"displayName": "AMD GPU, renamed"}}, kubeconfig=ADMIN,
            content_type="application/merge-patch+json")
        deadline = time.monotonic() + 15
        while cache.catalog.instance_types["real-console-amd"].display_name != "AMD GPU, renamed":
            assert time.monotonic() < deadline, "the change never reached the cache"
            await asyncio.sleep(0.2)
        assert "real-bad-memory" not in cache.catalog.instance_types
        assert set(kinds["InstanceType"]) <= set(cache.catalog.instance_types)
    finally:
        await cache.stop()
        await api_client.close()
        await asyncio.to_thread(delete, bad)
