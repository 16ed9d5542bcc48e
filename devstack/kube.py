"""The devstack's Kubernetes: etcd, kube-apiserver, kube-scheduler and the local kubelet,
without Docker.

    python -m devstack.kube prepare     # build the binaries (once) and the credentials (once)
    python -m devstack.kube start       # etcd + kube-apiserver + CRDs/RBAC + kube-scheduler
                                        # + local kubelet
    python -m devstack.kube demo-data   # apply devstack/demo-data.yaml
    python -m devstack.kube status      # pids, memory, readiness
    python -m devstack.kube stop

The binaries come from devstack/build-kube.sh (into <proc.CACHE>/kube/bin, kept across runs
and clones).
Everything else lives under .devstack/kube/:

    ca.crt, ca.key                  the cluster CA (also the client CA)
    apiserver.crt, apiserver.key    serving certificate for 127.0.0.1 / localhost
    sa.key, sa.pub                  service-account token signing key pair
    tokens.csv                      static bearer tokens (--token-auth-file)
    admin.kubeconfig                user devstack-admin, group system:masters
    hub.kubeconfig                  user primehub-hub, no group: only what crds/rbac.yaml grants
    kubelet.kubeconfig              user devstack-kubelet, groups system:nodes and
                                    system:masters (no Node authorizer runs here)
    scheduler.kubeconfig            user system:kube-scheduler: the API server's built-in
                                    RBAC gives it exactly a scheduler's rights
    kube-scheduler.yaml             devstack/kube-scheduler.yaml with that credential's path
    etcd/                           etcd's data

Flags follow controller-runtime's envtest: loopback bind and advertise address, static
credentials, RBAC, no ServiceAccount admission plugin; there is no controller-manager.
The kube-scheduler places pods on the kubelet's two nodes (devstack/kubelet/nodes.py).
"""
from __future__ import annotations

import argparse
import base64
import datetime
import ipaddress
import json
import os
import secrets
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from devstack import proc, scheduler
from devstack.kubelet.nodes import NODES

KUBE = proc.STATE / "kube"
BIN = proc.CACHE / "kube" / "bin"
BUILD_SCRIPT = proc.ROOT / "devstack" / "build-kube.sh"
CRDS = proc.ROOT / "crds"
DEMO_DATA = proc.ROOT / "devstack" / "demo-data.yaml"

ETCD_CLIENT_PORT = 12379
ETCD_PEER_PORT = 12380
APISERVER_PORT = 16443
SERVER = f"https://127.0.0.1:{APISERVER_PORT}"
NAMESPACE = "hub"

CA_CERT = KUBE / "ca.crt"
ADMIN_KUBECONFIG = KUBE / "admin.kubeconfig"
HUB_KUBECONFIG = KUBE / "hub.kubeconfig"
KUBELET_KUBECONFIG = KUBE / "kubelet.kubeconfig"
SCHEDULER_KUBECONFIG = KUBE / "scheduler.kubeconfig"
TOKENS = KUBE / "tokens.csv"

# name in tokens.csv / kubeconfig -> (user, groups)
CREDENTIALS = {
    "admin": ("devstack-admin", ["system:masters"]),
    "hub": ("primehub-hub", []),
    "kubelet": ("devstack-kubelet", ["system:nodes", "system:masters"]),
    "scheduler": ("system:kube-scheduler", []),
}
KUBECONFIGS = {"admin": ADMIN_KUBECONFIG, "hub": HUB_KUBECONFIG,
               "kubelet": KUBELET_KUBECONFIG, "scheduler": SCHEDULER_KUBECONFIG}
BINARIES = ("etcd", "kube-apiserver", scheduler.NAME)
PARTS = ("kubelet", scheduler.NAME, "kube-apiserver", "etcd")  # stop order


# ---------------------------------------------------------------- prepare

def binaries_present() -> bool:
    return all((BIN / name).is_file() and os.access(BIN / name, os.X_OK)
               for name in BINARIES)


def build() -> None:
    """Run build-kube.sh (a no-op when the stamped versions are already built)."""
    proc.say(f"building {', '.join(BINARIES)} with {BUILD_SCRIPT} (cold: several minutes)")
    result = subprocess.run(["bash", str(BUILD_SCRIPT)], cwd=proc.ROOT,
                            env={**os.environ, "PRIMEHUB_DEVSTACK_CACHE": str(proc.CACHE)},
                            check=False)
    if result.returncode != 0 or not binaries_present():
        raise proc.PartFailed(f"{BUILD_SCRIPT} failed (exit {result.returncode})")


def _write(path: Path, data: bytes, private: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    if private:
        tmp.chmod(0o600)
    tmp.replace(path)


def _generate_pki() -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def key_pem(key) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM,
                                 serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    later = now + datetime.timedelta(days=3650)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "devstack-ca")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(later)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    srv_key = ec.generate_private_key(ec.SECP256R1())
    names = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
             "kubernetes.default.svc.cluster.local"]
    ips = ["127.0.0.1", "::1", "10.0.0.1"]
    srv_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(srv_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(later)
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName(n) for n in names]
            + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    sa_key = ec.generate_private_key(ec.SECP256R1())

    _write(KUBE / "ca.key", key_pem(ca_key), private=True)
    _write(CA_CERT, ca_cert.public_bytes(serialization.Encoding.PEM))
    _write(KUBE / "apiserver.key", key_pem(srv_key), private=True)
    _write(KUBE / "apiserver.crt", srv_cert.public_bytes(serialization.Encoding.PEM))
    _write(KUBE / "sa.key", key_pem(sa_key), private=True)
    _write(KUBE / "sa.pub", sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def _kubeconfig(user: str, token: str, namespace: str) -> bytes:
    ca = base64.b64encode(CA_CERT.read_bytes()).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "devstack",
                      "cluster": {"server": SERVER, "certificate-authority-data": ca}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "devstack",
                      "context": {"cluster": "devstack", "user": user, "namespace": namespace}}],
        "current-context": "devstack",
    }
    return yaml.safe_dump(config, sort_keys=False).encode()


def _credentials_present() -> bool:
    files = [CA_CERT, KUBE / "ca.key", KUBE / "apiserver.crt", KUBE / "apiserver.key",
             KUBE / "sa.key", KUBE / "sa.pub", TOKENS,
             *KUBECONFIGS.values()]
    return all(f.is_file() for f in files)


def prepare() -> None:
    """Build the binaries if missing; generate the PKI and credentials once."""
    if not binaries_present():
        build()
    if _credentials_present():
        return
    proc.say(f"generating the CA, serving certificate, service-account keys and "
             f"credentials under {KUBE}")
    KUBE.mkdir(parents=True, exist_ok=True)
    _generate_pki()
    lines, tokens = [], {}
    for name, (user, groups) in CREDENTIALS.items():
        tokens[name] = secrets.token_urlsafe(32)
        line = f"{tokens[name]},{user},{user}"
        if groups:
            line += ',"' + ",".join(groups) + '"'
        lines.append(line)
    _write(TOKENS, ("\n".join(lines) + "\n").encode(), private=True)
    for name, path in KUBECONFIGS.items():
        _write(path, _kubeconfig(CREDENTIALS[name][0], tokens[name], NAMESPACE), private=True)


def token(kubeconfig: Path = ADMIN_KUBECONFIG) -> str:
    config = yaml.safe_load(kubeconfig.read_text())
    return config["users"][0]["user"]["token"]


# ---------------------------------------------------------------- a tiny HTTP client

class ApiError(RuntimeError):
    def __init__(self, status: int, body: str, what: str):
        super().__init__(f"{what}: HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


def request(method: str, path: str, body=None, *, kubeconfig: Path = ADMIN_KUBECONFIG,
            content_type: str = "application/json", timeout: float = 15):
    """Call the API server; return the decoded JSON body; raise ApiError on >= 400."""
    context = ssl.create_default_context(cafile=str(CA_CERT))
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(SERVER + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token(kubeconfig)}")
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as response:
            raw = response.read()
    except urllib.error.HTTPError as error:
        raise ApiError(error.code, error.read().decode(errors="replace"),
                       f"{method} {path}") from None
    return json.loads(raw) if raw else None


_discovery: dict[str, dict[str, tuple[str, bool]]] = {}


def _resource(api_version: str, kind: str, timeout: float = 30) -> tuple[str, bool]:
    """(plural, namespaced) for a kind, from discovery; waits for a new CRD to be served."""
    deadline = time.monotonic() + timeout
    while True:
        found = _discovery.get(api_version, {}).get(kind)
        if found:
            return found
        path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        try:
            listing = request("GET", path)
            _discovery[api_version] = {
                r["kind"]: (r["name"], r["namespaced"])
                for r in listing["resources"] if "/" not in r["name"]}
        except ApiError as error:
            if error.status != 404:
                raise
        if kind in _discovery.get(api_version, {}):
            continue
        if time.monotonic() > deadline:
            raise RuntimeError(f"the API server does not serve {kind} in {api_version}")
        time.sleep(0.5)


def object_path(obj: dict) -> str:
    api_version, kind = obj["apiVersion"], obj["kind"]
    plural, namespaced = _resource(api_version, kind)
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    meta = obj["metadata"]
    if namespaced:
        base += f"/namespaces/{meta.get('namespace') or NAMESPACE}"
    return f"{base}/{plural}/{meta['name']}"


def apply(obj: dict, kubeconfig: Path = ADMIN_KUBECONFIG) -> dict:
    """Server-side apply (idempotent create-or-update)."""
    return request("PATCH", object_path(obj) + "?fieldManager=devstack&force=true", obj,
                   kubeconfig=kubeconfig, content_type="application/apply-patch+yaml")


def apply_file(path: Path) -> list[dict]:
    applied = []
    for doc in yaml.safe_load_all(path.read_text()):
        if doc:
            applied.append(apply(doc))
    return applied


def wait_established(names: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    pending = list(names)
    while pending:
        name = pending[0]
        crd = request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
        conditions = {c["type"]: c["status"] for c in crd.get("status", {}).get("conditions", [])}
        if conditions.get("Established") == "True":
            pending.pop(0)
            continue
        if time.monotonic() > deadline:
            raise proc.PartFailed(f"CRD {name} not Established after {timeout:.0f}s: {conditions}")
        time.sleep(0.3)


# ---------------------------------------------------------------- start / stop

def _etcd_argv() -> list[str]:
    client = f"http://127.0.0.1:{ETCD_CLIENT_PORT}"
    peer = f"http://127.0.0.1:{ETCD_PEER_PORT}"
    return [
        str(BIN / "etcd"),
        "--name=devstack",
        f"--data-dir={KUBE / 'etcd'}",
        f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=devstack={peer}",
        "--listen-metrics-urls=",
        # A test cluster: small backend quota, compact history, keep fewer raft entries in
        # memory, and no fsync (as envtest does: losing the last writes on a crash is fine).
        "--quota-backend-bytes=536870912",
        "--auto-compaction-mode=revision", "--auto-compaction-retention=1000",
        "--snapshot-count=5000",
        "--unsafe-no-fsync=true",
        "--log-level=warn",
    ]


def _apiserver_argv() -> list[str]:
    return [
        str(BIN / "kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{ETCD_CLIENT_PORT}",
        "--advertise-address=127.0.0.1",
        "--bind-address=127.0.0.1",
        f"--secure-port={APISERVER_PORT}",
        f"--cert-dir={KUBE / 'apiserver-certs'}",
        f"--tls-cert-file={KUBE / 'apiserver.crt'}",
        f"--tls-private-key-file={KUBE / 'apiserver.key'}",
        f"--client-ca-file={CA_CERT}",
        f"--token-auth-file={TOKENS}",
        "--authorization-mode=RBAC",
        f"--service-account-issuer={SERVER}",
        f"--service-account-key-file={KUBE / 'sa.pub'}",
        f"--service-account-signing-key-file={KUBE / 'sa.key'}",
        "--service-cluster-ip-range=10.0.0.0/24",
        "--allow-privileged=true",
        # No controller-manager runs here: without it ServiceAccount admission would reject
        # pods (no default ServiceAccount), and StorageObjectInUseProtection's finalizer would
        # keep every deleted PVC Terminating forever.
        "--disable-admission-plugins=ServiceAccount,StorageObjectInUseProtection",
        # Smaller and quieter for one user on two cores.
        "--enable-priority-and-fairness=false",
        "--profiling=false",
        "--endpoint-reconciler-type=none",
        "--event-ttl=1h",
        "--v=0",
    ]


def _etcd_healthy() -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{ETCD_CLIENT_PORT}/health", timeout=3) as r:
        return json.loads(r.read()).get("health") == "true"


def apiserver_ready() -> bool:
    return proc.http_ok(f"{SERVER}/readyz", ca=CA_CERT, token=token())


def _reaping(pid: int, ready):
    """`ready`, after reaping `pid` if it is our exited child: a zombie still answers
    kill(pid, 0), and proc.wait_until would then wait its whole timeout for a dead part."""
    def check() -> bool:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        return ready()
    return check


def start(timeout: float = 120) -> None:
    """Start etcd and kube-apiserver; apply namespace `hub`, the CRDs and the RBAC; start
    the kube-scheduler."""
    prepare()
    started = time.monotonic()
    pid = proc.spawn("etcd", _etcd_argv())
    proc.wait_until("etcd", _reaping(pid, _etcd_healthy), timeout, "healthy etcd")
    pid = proc.spawn("kube-apiserver", _apiserver_argv())
    proc.wait_until("kube-apiserver", _reaping(pid, apiserver_ready), timeout, "ready /readyz")
    # The scheduler syncs its caches while the CRDs are applied.
    scheduler_pid = scheduler.spawn(BIN / scheduler.NAME, KUBE, SCHEDULER_KUBECONFIG)
    apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    crd_names = []
    for path in sorted(CRDS.glob("*.yaml")):
        if path.name == "rbac.yaml":
            continue
        crd_names += [obj["metadata"]["name"] for obj in apply_file(path)
                      if obj.get("kind") == "CustomResourceDefinition"]
    apply_file(CRDS / "rbac.yaml")
    wait_established(crd_names)
    for name in crd_names:  # wait until each kind is served, too
        _plural, group = name.split(".", 1)
        _resource(f"{group}/v1alpha1", request(
            "GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
        )["spec"]["names"]["kind"])
    proc.wait_until(scheduler.NAME, _reaping(scheduler_pid, scheduler.ready), timeout,
                    "ready /readyz")
    proc.say(f"kube-apiserver and kube-scheduler ready at {SERVER} in "
             f"{time.monotonic() - started:.1f}s (CRDs: {', '.join(crd_names)})")


def apply_demo_data() -> None:
    """Apply devstack/demo-data.yaml (InstanceTypes, Images, Datasets, pull Secret)."""
    objects = apply_file(DEMO_DATA)
    proc.say(f"applied {len(objects)} demo objects from {DEMO_DATA.name}")


def _node_heartbeat(node: dict) -> float | None:
    for condition in node.get("status", {}).get("conditions", []):
        if condition["type"] == "Ready" and condition["status"] == "True":
            stamp = condition.get("lastHeartbeatTime")
            return datetime.datetime.fromisoformat(stamp).timestamp()
    return None


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def start_kubelet(timeout: float = 60) -> int:
    """Start the local kubelet (devstack/kubelet/) and wait until its Nodes are Ready."""
    running = proc.pid_of("kubelet")
    if running and _zombie(running):  # killed, not yet reaped by its new parent
        (proc.PIDS / "kubelet.pid").unlink(missing_ok=True)
        running = None
    since = time.time() - 2
    pid = proc.spawn("kubelet", [
        sys.executable, "-m", "devstack.kubelet",
        "--kubeconfig", str(KUBELET_KUBECONFIG), "--namespace", NAMESPACE,
    ], cwd=proc.ROOT, env={"PYTHONUNBUFFERED": "1"})
    if running:
        since = 0

    def ready() -> bool:
        beats = [_node_heartbeat(request("GET", f"/api/v1/nodes/{name}")) for name in NODES]
        return all(beat is not None and beat >= since for beat in beats)

    proc.wait_until("kubelet", _reaping(pid, ready), timeout,
                    f"Ready nodes {', '.join(NODES)}")
    return pid


def stop_kubelet() -> None:
    """Stop the local kubelet (it stops its pod processes), then any pod process left over
    by a kubelet that died (recorded in .devstack/pods/<pod>.json)."""
    proc.stop("kubelet")
    pods = proc.STATE / "pods"
    for record in pods.glob("*.json") if pods.exists() else []:
        try:
            pid = json.loads(record.read_text()).get("pid")
            # Only a process still running in that pod's directory is the pod's.
            if pid and Path(os.readlink(f"/proc/{pid}/cwd")).is_relative_to(pods):
                os.killpg(pid, 9)
                proc.say(f"killed leftover pod process {pid} ({record.stem})")
        except (OSError, ValueError):
            pass


def stop() -> None:
    """Stop the kubelet (and its pod processes), kube-scheduler, kube-apiserver and etcd."""
    stop_kubelet()
    for name in PARTS:
        proc.stop(name)


def memory(name: str) -> dict[str, int]:
    """Current and peak resident memory (kB) of a running part, from /proc."""
    pid = proc.pid_of(name)
    if pid is None:
        return {}
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


def status() -> dict[str, dict]:
    report = {}
    for name in reversed(PARTS):
        report[name] = {"pid": proc.pid_of(name), **memory(name)}
    try:
        report["kube-apiserver"]["ready"] = apiserver_ready()
    except Exception as error:  # noqa: BLE001 - report, do not fail
        report["kube-apiserver"]["ready"] = f"no ({error})"
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.kube", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="run build-kube.sh (skips what is already built)")
    sub.add_parser("prepare", help="build if needed, generate credentials once")
    start_parser = sub.add_parser(
        "start", help="etcd, kube-apiserver, CRDs, RBAC, kube-scheduler, kubelet")
    start_parser.add_argument("--no-kubelet", action="store_true")
    start_parser.add_argument("--demo-data", action="store_true", help="also apply demo data")
    sub.add_parser("kubelet", help="start the local kubelet only")
    sub.add_parser("demo-data", help="apply devstack/demo-data.yaml")
    sub.add_parser("stop", help="stop the kubelet, kube-scheduler, kube-apiserver and etcd")
    sub.add_parser("status", help="pids, memory (kB), readiness")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            build()
        elif args.command == "prepare":
            prepare()
            proc.say(f"binaries in {BIN}, credentials in {KUBE}")
        elif args.command == "start":
            begin = time.monotonic()
            start()
            if args.demo_data:
                apply_demo_data()
            if not args.no_kubelet:
                start_kubelet()
            proc.say(f"up in {time.monotonic() - begin:.1f}s; "
                     f"KUBECONFIG={ADMIN_KUBECONFIG} (admin), {HUB_KUBECONFIG} (hub)")
        elif args.command == "kubelet":
            start_kubelet()
        elif args.command == "demo-data":
            apply_demo_data()
        elif args.command == "stop":
            stop()
        elif args.command == "status":
            print(json.dumps(status(), indent=2))
    except proc.PartFailed as error:
        print(f"[devstack] {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
