"""`primehub-spawner check` and `explain`, and the admins' page /hub/primehub/explain, on the
real stack: the commands run as an operator runs them (a process, with the hub's restricted
kubeconfig and the Keycloak admin's credentials in the environment) against the real
kube-apiserver and Keycloak; the page is read through the proxy after logging in through
Keycloak's own login page.
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from devstack import keycloak, kube

from .hub_client import KeycloakAdmin, get, login

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("stack")]

REPO = Path(__file__).resolve().parents[2]
SUFFIX = uuid.uuid4().hex[:6]
BROKEN = f"check-broken-{SUFFIX}"
GHOST = f"it:check-ghost-{SUFFIX}"
# Storable (the CRD takes any string) but not a quantity the hub can read.
BROKEN_CR = {"apiVersion": "primehub.io/v1alpha1", "kind": "InstanceType",
             "metadata": {"name": BROKEN, "namespace": kube.NAMESPACE},
             "spec": {"limits.cpu": 1, "limits.memory": "9" * 400}}
CR_PATH = f"/apis/primehub.io/v1alpha1/namespaces/{kube.NAMESPACE}/instancetypes"


def command(*argv: str) -> subprocess.CompletedProcess:
    """The command as an operator runs it, with the hub's own restricted credential."""
    env = {**os.environ, "KEYCLOAK_ADMIN_USER": keycloak.ADMIN[0],
           "KEYCLOAK_ADMIN_PASSWORD": keycloak.ADMIN[1]}
    env.pop("KUBECONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "primehub_spawner.cli", *argv, "--keycloak-url", keycloak.URL,
         "--realm", keycloak.REALM, "--kubeconfig", str(kube.HUB_KUBECONFIG),
         "--namespace", kube.NAMESPACE],
        check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def delete_broken() -> None:
    try:
        kube.request("DELETE", f"{CR_PATH}/{BROKEN}")
    except kube.ApiError as error:
        assert error.status == 404, error


@pytest.fixture(scope="module")
def broken_things():
    """A malformed InstanceType, and role GHOST (naming nothing) mapped onto research."""
    async def realm(mapped: bool):
        async with KeycloakAdmin() as admin:
            await admin.map_role("research", GHOST, mapped)
            if not mapped:  # gone with the unmapping when this run created it
                response = await admin.client.delete(f"/roles/{GHOST}")
                assert response.status_code in (204, 404), response.text

    delete_broken()
    kube.request("POST", CR_PATH, BROKEN_CR)
    asyncio.run(realm(True))
    try:
        yield
    finally:
        delete_broken()
        asyncio.run(realm(False))


def test_the_demo_data_passes_the_check():
    result = command("check")
    assert (result.returncode, result.stderr) == (0, ""), result.stdout
    assert result.stdout.startswith("Nothing wrong: ")


def test_check_lists_the_malformed_resource_and_the_role_naming_nothing(broken_things):
    result = command("check")
    assert (result.returncode, result.stderr) == (1, "")
    lines = result.stdout.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"InstanceType {BROKEN} is left out of every menu: "
                               "limits.memory: '9999")
    assert lines[0].endswith("is not a quantity like '2G', '512Mi' or '1.5'")
    assert lines[1] == (f"role {GHOST} names no InstanceType: there is no InstanceType "
                        f"{GHOST[3:]} in namespace {kube.NAMESPACE}")


def test_explain_prints_the_grants_with_provenance(broken_things):
    result = command("explain", "alice", "--group", "research")
    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert lines[:3] == ["User alice", "", "Group research (Research Lab)"]

    def row(name):
        return " ".join(next(line for line in lines if line.startswith(f"  {name} ")).split())

    assert row("cpu-1").startswith("cpu-1 (CPU 1) available everyone (it:cpu-1) Granted by "
                                   "everyone through it:cpu-1.")
    assert row("cpu-2").startswith("cpu-2 (CPU 2) available research (it:cpu-2)")
    assert row("legacy-gpu").startswith("legacy-gpu (Legacy GPU) not granted class-101 "
                                        "(it:legacy-gpu, another group)")
    assert row(GHOST[3:]) == (f"{GHOST[3:]} no resource research ({GHOST}) Granted by research "
                              f"through {GHOST}, but there is no InstanceType {GHOST[3:]}.")
    assert row(BROKEN).startswith(f"{BROKEN} malformed - InstanceType {BROKEN} is malformed")
    assert row("team-data").startswith("team-data (Team Data) available research "
                                       "(ds:rw:team-data), class-101 (ds:team-data, another "
                                       "group) Mounted read-write")


def test_explain_of_an_unknown_user_is_a_sentence():
    result = command("explain", "nobody-at-all")
    assert result.returncode == 2
    assert result.stderr == ("primehub-spawner explain: Keycloak has no user 'nobody-at-all' in "
                             f"realm '{keycloak.REALM}'.\n")


async def test_the_admin_page_shows_it_and_refuses_others(broken_things):
    alice = await login("alice")  # stores her entitlements in the hub
    admin = await login("phadmin")
    deadline = time.monotonic() + 30
    while True:  # the hub's watch and its group cache follow within seconds
        response = await get(admin, "/hub/primehub/explain?user=alice&group=research")
        assert response.status_code == 200, response.text[:2000]
        soup = BeautifulSoup(response.text, "html.parser")
        rows = {(r["data-kind"], r["data-name"]): [" ".join(td.get_text(" ").split())
                                                    for td in r.select("td")]
                for r in soup.select("tr.ph-explain-item")}
        if ("InstanceType", BROKEN) in rows or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)
    assert [s["data-group"] for s in soup.select("section.ph-explain-group")] == ["research"]
    assert rows["InstanceType", "cpu-2"][:3] == ["cpu-2 CPU 2", "available", "research (it:cpu-2)"]
    assert rows["InstanceType", BROKEN][1] == "malformed"
    assert rows["Dataset", "class-only"][1] == "blocked"

    refused = await get(alice, "/hub/primehub/explain?user=alice")
    assert refused.status_code == 403
