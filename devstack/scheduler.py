"""The devstack's kube-scheduler: the real one, built with kube-apiserver by build-kube.sh.

It decides where every pod goes; the local kubelet only runs what it bound. Its
configuration is devstack/kube-scheduler.yaml plus the path of its credential; it serves
its health endpoints on 127.0.0.1:SECURE_PORT with a certificate it makes itself.
"""
from __future__ import annotations

import ssl
import urllib.request
from pathlib import Path

import yaml

from devstack import proc

NAME = "kube-scheduler"
SECURE_PORT = 12259
SHIPPED_CONFIG = proc.ROOT / "devstack" / "kube-scheduler.yaml"


def make_config(kubeconfig: Path) -> dict:
    """The shipped configuration, talking to the API server with `kubeconfig`."""
    config = yaml.safe_load(SHIPPED_CONFIG.read_text())
    config["clientConnection"] = {"kubeconfig": str(kubeconfig)}
    return config


def argv(binary: Path, config: Path, cert_dir: Path) -> list[str]:
    # No delegated authentication or authorization of its own endpoints: nothing here reads
    # its metrics, and /healthz, /readyz and /livez are open to anyone without them.
    return [
        str(binary),
        f"--config={config}",
        "--bind-address=127.0.0.1",
        f"--secure-port={SECURE_PORT}",
        f"--cert-dir={cert_dir}",
        "--v=0",
    ]


def ready() -> bool:
    """/readyz answers 200 once the scheduler's informers have synced. The certificate is
    the scheduler's own self-signed one and nothing secret is sent, so it is not checked."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    url = f"https://127.0.0.1:{SECURE_PORT}/readyz"
    with urllib.request.urlopen(url, timeout=3, context=context) as response:
        return response.status == 200


def spawn(binary: Path, state: Path, kubeconfig: Path) -> int:
    """Write the configuration under `state` and start the scheduler (not waiting)."""
    config = state / "kube-scheduler.yaml"
    config.write_text(yaml.safe_dump(make_config(kubeconfig), sort_keys=False))
    return proc.spawn(NAME, argv(binary, config, state / "scheduler-certs"))
