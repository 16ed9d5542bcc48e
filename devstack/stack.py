"""The whole dev stack: `python -m devstack.stack up|down|demo|status`.

up     builds and downloads what is missing (cached under .cache/), starts etcd,
       kube-apiserver, kube-scheduler, the local kubelet, Keycloak and JupyterHub in the
       background, and writes .devstack/env. Running it again with everything up does
       nothing.
down   stops every part and every notebook process they started.
demo   up, then waits in the foreground; Ctrl-C runs down.
"""
from __future__ import annotations

import argparse
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from . import hub, keycloak, kube, proc

ENV_FILE = proc.STATE / "env"
LOGINS = (("alice", "alice-pass", "groups Research Lab and Class 101"),
          ("bob", "bob-pass", "group Class 101"),
          ("carol", "carol-pass", "no group: may log in, cannot start"),
          ("phadmin", "phadmin-pass", "hub admin, group Research Lab"))


def prepare() -> None:
    started = time.monotonic()
    with ThreadPoolExecutor(3) as pool:
        for future in [pool.submit(kube.prepare), pool.submit(keycloak.prepare),
                       pool.submit(hub.prepare)]:
            future.result()
    proc.say(f"set-up done in {time.monotonic() - started:.0f}s")


def up() -> None:
    prepare()
    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        # Keycloak takes longest; the Kubernetes side and then the hub come up beside it
        # (the hub needs the API server when it starts, Keycloak only at the first login).
        kc = pool.submit(keycloak.start)
        kube.start()
        kube.apply_demo_data()
        kube.start_kubelet()
        hub.start(str(kube.HUB_KUBECONFIG))
        kc.result()
    write_env()
    proc.say(f"stack up in {time.monotonic() - started:.0f}s")


def write_env() -> None:
    ENV_FILE.write_text("".join(f"export {k}={v}\n" for k, v in {
        "KUBECONFIG": kube.ADMIN_KUBECONFIG,
        "PRIMEHUB_NAMESPACE": "hub",
        "KEYCLOAK_URL": keycloak.URL,
        "KEYCLOAK_REALM": "primehub",
        "KEYCLOAK_ADMIN_USER": "admin",
        "KEYCLOAK_ADMIN_PASSWORD": "admin",
        "JUPYTERHUB_URL": hub.HUB_URL,
        "JUPYTERHUB_API_TOKEN": hub.api_token(),
    }.items()))


def down() -> None:
    hub.stop()
    kube.stop_kubelet()
    keycloak.stop()
    kube.stop()
    # Anything else we started (notebook processes of a kubelet that died, say).
    for pidfile in proc.PIDS.glob("*.pid") if proc.PIDS.exists() else []:
        proc.stop(pidfile.stem)
    proc.say("stack down")


def banner() -> None:
    print(f"""
  JupyterHub:  {hub.HUB_URL}/hub/
  Keycloak:    {keycloak.URL}/admin/  (admin / admin; realm primehub)
  Logins:""")
    for user, password, what in LOGINS:
        print(f"    {user:8} {password:14} {what}")
    print(f"""  Logs:        {proc.LOGS}/
  Shell:       source {ENV_FILE}   (KUBECONFIG, JUPYTERHUB_API_TOKEN, ...)
""", flush=True)


def demo() -> None:
    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        up()
        banner()
        proc.say("press Ctrl-C to stop everything")
        while not stopping:
            time.sleep(0.5)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        down()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up", "down", "demo", "status", "prepare"])
    command = parser.parse_args().command
    try:
        if command == "up":
            up()
            banner()
        elif command == "down":
            down()
        elif command == "demo":
            demo()
        elif command == "prepare":
            prepare()
        else:
            for name in ("etcd", "kube-apiserver", "kube-scheduler", "kubelet", "keycloak",
                         "jupyterhub"):
                pid = proc.pid_of(name)
                print(f"{name:15} {f'running, pid {pid}' if pid else 'stopped'}")
    except proc.PartFailed as e:
        print(f"[devstack] {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
