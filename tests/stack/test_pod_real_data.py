"""PrimeHub's own data on the real stack (issue 7): an NFS and a hostPath Dataset in the
nested shapes PrimeHub's console writes (`spec.nfs.server/path`, `spec.hostPath.path`),
granted through Keycloak, mounted in a server started through the REST API, and the pod read
back from the API server with PrimeHub's labels, usage record and home claim.
"""
from __future__ import annotations

import asyncio
import json

import escapism
import pytest

from devstack import kube

from .hub_client import (
    PAST_GROUP_CACHE,
    POD,
    KeycloakAdmin,
    api,
    kube_get,
    login,
    pod,
    stop_server,
    user_token,
    wait_server,
)
from .test_hub_stack import delete_if_present

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("stack")]

A = "dataset.primehub.io/"


def dataset(name: str, spec: dict, annotations: dict | None = None) -> dict:
    metadata = {"name": name, "namespace": "hub", "annotations": annotations or {}}
    return {"apiVersion": "primehub.io/v1alpha1", "kind": "Dataset", "metadata": metadata,
            "spec": {"displayName": name, **spec}}


NFS = dataset("real-nfs", {"type": "nfs",
                           "nfs": {"server": "10.0.0.77", "path": "/exports/real"}})
HOST = dataset("real-host", {"type": "hostPath", "hostPath": {"path": "/srv/real-host"}},
               {A + "homeSymlink": "true"})
# read-write through research for the NFS export, read-only for the host directory
GRANTS = ("ds:rw:real-nfs", "ds:real-host")


async def test_nfs_and_host_path_datasets_in_primehubs_shape_mount_in_a_real_pod():
    async with KeycloakAdmin() as realm:
        try:
            for obj in (NFS, HOST):
                await asyncio.to_thread(kube.apply, obj)
            for role in GRANTS:
                await realm.map_role("research", role, mapped=True)
            await asyncio.sleep(PAST_GROUP_CACHE)
            await login("alice")
            token = await user_token("alice")
            response = await api("POST", "/users/alice/server", token=token,
                                 json={"group": "research", "instance_type": "cpu-1"})
            assert response.status_code in (201, 202), response.text
            try:
                await wait_server("alice")
                manifest = await pod(POD.format("alice"))
                check_primehub_names(manifest)
                check_datasets(manifest)
                claim = await kube_get("/api/v1/namespaces/hub/persistentvolumeclaims/claim-alice")
                assert claim["metadata"]["name"] == "claim-alice"
            finally:
                await stop_server("alice")
        finally:
            for role in GRANTS:
                await realm.map_role("research", role, mapped=False)
            for obj in (NFS, HOST):
                await delete_if_present(obj)


def check_primehub_names(manifest: dict) -> None:
    meta = manifest["metadata"]
    labels = meta["labels"]
    assert labels["primehub.io/user"] == "escaped-alice"
    assert labels["primehub.io/group"] == "escaped-research"
    # PrimeHub's tools read them back with escapism's unescape of the part after `escaped-`.
    for key, name in (("primehub.io/user", "alice"), ("primehub.io/group", "research")):
        assert escapism.unescape(labels[key][len("escaped-"):], escape_char="-") == name
    assert labels["project"] == "research"
    usage = json.loads(meta["annotations"]["primehub.io/usage"])
    assert {k: usage.get(k) for k in ("component", "component_name", "user", "group",
                                      "instance_type")} == {
        "component": "jupyter", "component_name": "jupyter-alice", "user": "alice",
        "group": "research", "instance_type": "cpu-1"}
    assert usage["image"]
    volumes = {v["name"]: v for v in manifest["spec"]["volumes"]}
    assert volumes["home"]["persistentVolumeClaim"]["claimName"] == "claim-alice"


def check_datasets(manifest: dict) -> None:
    volumes = {v["name"]: v for v in manifest["spec"]["volumes"]}
    container = next(c for c in manifest["spec"]["containers"] if c["name"] == "notebook")
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert volumes["dataset-real-nfs"]["nfs"] == {"server": "10.0.0.77", "path": "/exports/real"}
    assert mounts["dataset-real-nfs"]["mountPath"] == "/datasets/real-nfs"
    assert not mounts["dataset-real-nfs"].get("readOnly")  # ds:rw: through the launch group
    assert volumes["dataset-real-host"]["hostPath"]["path"] == "/srv/real-host"
    assert mounts["dataset-real-host"] == {"name": "dataset-real-host",
                                           "mountPath": "/datasets/real-host", "readOnly": True}
    script = container["lifecycle"]["postStart"]["exec"]["command"][2]
    assert "ln -sfn /datasets /home/jovyan/datasets;" in script
    assert "ln -sfn /datasets/real-host /home/jovyan/real-host;" in script
