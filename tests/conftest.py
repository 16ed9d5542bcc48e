"""Fixtures shared by the tiers that need the real stack (tests/stack, tests/browser).

The `stack` fixture starts whatever is not running (as `make up` does) and stops at the end
what it started. A part that cannot start fails the tests that need it, with the tail of
that part's log: these tests never skip. Only the tests that ask for it start anything.
"""
from __future__ import annotations

import pytest

from devstack import proc
from devstack import stack as devstack


@pytest.fixture(scope="session")
def stack():
    names = ("etcd", "kube-apiserver", "kube-scheduler", "kubelet", "keycloak", "jupyterhub")
    already = all(proc.pid_of(n) for n in names)
    try:
        devstack.up()
    except proc.PartFailed as e:
        if not already:
            devstack.down()
        pytest.fail(f"The real stack did not start: {e}", pytrace=False)
    except BaseException:
        # Whatever stopped `up` half-way (bad demo data, an API error): leave no part
        # running to hold the fixed ports for the next run.
        if not already:
            devstack.down()
        raise
    yield devstack
    if not already:
        devstack.down()
