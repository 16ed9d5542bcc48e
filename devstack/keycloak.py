"""Keycloak for the devstack: the Quarkus distribution from Maven Central, no Docker.

    python -m devstack.keycloak prepare        # download, verify, unpack (once)
    python -m devstack.keycloak start [--keep] # http://127.0.0.1:18080, realm `primehub`
    python -m devstack.keycloak stop|status

How it runs, and why (timings on the 2-core dev machine):

- The distribution is unpacked once into the machine-wide cache (proc.CACHE/keycloak);
  each clone runs it from `.devstack/keycloak/home`, links to the cache plus a `data`
  folder of its own (see _home_for_this_clone).
- `kc.sh start-dev` with `--db=dev-file` (H2 in `.devstack/keycloak/home/data/h2`). The
  first run of a configuration "augments" the distribution (~30 s, kept in the cache);
  later runs skip that, so `start --optimized` after `kc.sh build` is no faster (measured:
  the same within noise), and start-dev re-augments by itself whenever the build options
  change. `DEVSTACK_KEYCLOAK_MODE=optimized` selects `kc.sh build` + `start --optimized`.
- Every start is *fresh*: the realm file is imported once into an empty database, which is
  then kept as a seed (`seed-*.mv.db` in the cache, keyed by the Keycloak version, the
  options and the realm file); each start copies the seed over the database. A start then
  takes ~4-5 s, where a schema creation and import take ~20-30 s, and no test sees what an
  earlier run left behind. `start(fresh=False)` (`--keep`) keeps the database instead.
- The JVM runs with the C1 compiler only and an automatically created class-data archive
  (`.devstack/keycloak/keycloak-<version>.jsa`); together they cut the start time by
  two thirds.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

from devstack import proc

VERSION = os.environ.get("DEVSTACK_KEYCLOAK_VERSION", "26.7.3")
MAVEN = "https://repo1.maven.org/maven2/org/keycloak/keycloak-quarkus-dist"
JAVA_HOME = Path(os.environ.get("DEVSTACK_KEYCLOAK_JAVA_HOME",
                                "/usr/lib/jvm/temurin-25-jdk-amd64"))
MODE = os.environ.get("DEVSTACK_KEYCLOAK_MODE", "start-dev")  # or "optimized"

NAME = "keycloak"
PORT = 18080
MANAGEMENT_PORT = 18090
URL = f"http://127.0.0.1:{PORT}"
REALM = "primehub"
REALM_FILE = Path(__file__).resolve().parent / "keycloak" / "realm-primehub.json"
ISSUER = f"{URL}/realms/{REALM}"
DISCOVERY = f"{ISSUER}/.well-known/openid-configuration"
ADMIN = ("admin", "admin")
CLIENT_ID = "jupyterhub"
CLIENT_SECRET = "jupyterhub-demo-secret"

CACHE = proc.CACHE / "keycloak"   # shared by every clone on this machine
DATA = proc.STATE / "keycloak"    # this clone's: Keycloak's home of links, its data
DATABASE = DATA / "home" / "data" / "h2" / "keycloakdb.mv.db"

# Build-time options: given to `kc.sh build` (optimized) or on every `start-dev`.
BUILD_OPTIONS = ["--db=dev-file", "--health-enabled=true"]
RUN_OPTIONS = [
    "--cache=local",
    "--http-enabled=true", "--http-host=127.0.0.1", f"--http-port={PORT}",
    "--http-management-host=127.0.0.1", f"--http-management-port={MANAGEMENT_PORT}",
    "--hostname-strict=false",
    "--import-realm",
]
# -Xmx512m is also kc.sh's own default outside containers; peak RSS stays near 400-450 MiB.
HEAP = os.environ.get("DEVSTACK_KEYCLOAK_HEAP", "-Xms64m -Xmx512m")


def home(version: str = VERSION) -> Path:
    return CACHE / f"keycloak-{version}"


def _fetch(url: str, dest: Path) -> None:
    """Download url to dest (through a .part file), printing progress."""
    part = dest.with_name(f"{dest.name}.part-{os.getpid()}")
    started = time.monotonic()
    with urllib.request.urlopen(url, timeout=60) as response, open(part, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0)
        done, shown = 0, -1
        while chunk := response.read(1 << 20):
            out.write(chunk)
            done += len(chunk)
            percent = done * 100 // total if total else 0
            if percent // 10 != shown:
                shown = percent // 10
                proc.say(f"keycloak: {done >> 20} of {total >> 20} MiB ({percent}%)")
    part.rename(dest)
    proc.say(f"keycloak: downloaded {done >> 20} MiB in {time.monotonic() - started:.1f}s")


def _sha1(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as data:
        while chunk := data.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# Per clone: the archive records the class path, which runs through this clone's home.
CDS_ARCHIVE = DATA / f"keycloak-{VERSION}.jsa"


def _env() -> dict[str, str]:
    return {
        "JAVA_HOME": str(JAVA_HOME),
        "PATH": f"{JAVA_HOME / 'bin'}:{os.environ.get('PATH', '')}",
        "JAVA_OPTS_KC_HEAP": HEAP,
        # C1 only: a short-lived test server never profits from C2, and on two cores its
        # compiler threads slow the start. The class-data archive is written at the first
        # exit and rewritten by the JVM whenever the class path changes; its (many, harmless)
        # log lines are silenced.
        "JAVA_OPTS_APPEND": (f"-XX:TieredStopAtLevel=1 -XX:+AutoCreateSharedArchive "
                             f"-XX:SharedArchiveFile={CDS_ARCHIVE} -Xlog:cds*=off,aot*=off"),
        "KC_BOOTSTRAP_ADMIN_USERNAME": ADMIN[0],
        "KC_BOOTSTRAP_ADMIN_PASSWORD": ADMIN[1],
    }


def _build_stamp(dist: Path) -> Path:
    return dist / "lib" / ".devstack-build"


def _build(dist: Path) -> None:
    """`kc.sh build` once per set of build options (only for the optimized mode)."""
    stamp = _build_stamp(dist)
    wanted = " ".join(BUILD_OPTIONS)
    if stamp.exists() and stamp.read_text() == wanted:
        return
    proc.say(f"keycloak: kc.sh build {wanted} (once, ~30 s)")
    started = time.monotonic()
    result = subprocess.run([str(dist / "bin" / "kc.sh"), "build", *BUILD_OPTIONS],
                            env={**os.environ, **_env()}, cwd=dist,
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise proc.PartFailed(f"keycloak: kc.sh build failed:\n{result.stdout[-3000:]}"
                              f"{result.stderr[-3000:]}")
    stamp.write_text(wanted)
    proc.say(f"keycloak: built in {time.monotonic() - started:.0f}s")


def prepare(version: str = VERSION) -> Path:
    """Download, verify and unpack the distribution once; return its home folder."""
    if not (JAVA_HOME / "bin" / "java").exists():
        raise proc.PartFailed(f"keycloak: no JDK at {JAVA_HOME} (set DEVSTACK_KEYCLOAK_JAVA_HOME)")
    target = home(version)
    if not (target / "bin" / "kc.sh").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        name = f"keycloak-quarkus-dist-{version}.zip"
        archive = CACHE / name
        url = f"{MAVEN}/{version}/{name}"
        with urllib.request.urlopen(url + ".sha1", timeout=30) as response:
            expected = response.read().decode().split()[0].strip().lower()
        if not archive.exists():
            proc.say(f"keycloak: downloading {url}")
            _fetch(url, archive)
        actual = _sha1(archive)
        if actual != expected:
            archive.unlink()
            raise proc.PartFailed(f"keycloak: {name} has sha1 {actual}, Maven Central says "
                                  f"{expected}; deleted it, run prepare again")
        proc.say(f"keycloak: sha1 verified; unpacking {name}")
        scratch = CACHE / f".unpack-{version}-{os.getpid()}"
        shutil.rmtree(scratch, ignore_errors=True)
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(scratch)
        (inner,) = scratch.iterdir()
        for script in (inner / "bin").glob("*.sh"):
            script.chmod(0o755)
        try:
            inner.rename(target)
        except OSError:  # another clone unpacked it meanwhile
            if not (target / "bin" / "kc.sh").exists():
                raise
        shutil.rmtree(scratch, ignore_errors=True)
    if MODE == "optimized":
        _build(target)
    return target


def _home_for_this_clone(dist: Path) -> Path:
    """The Keycloak home this clone runs: .devstack/keycloak/home.

    Keycloak keeps its data (import folder, H2 database, transaction logs) in <home>/data,
    with no option to move it, and kc.sh takes <home> from its own real path. So the home
    is a folder of links to the shared distribution in the cache (lib, conf, themes, ...),
    a copy of kc.sh, and a `data` folder of its own: the cache stays free of any clone's
    state. lib/ stays shared: the "augmented" build in it serves every clone alike.
    """
    home_ = DATA / "home"
    (home_ / "bin").mkdir(parents=True, exist_ok=True)
    (home_ / "data").mkdir(exist_ok=True)
    for entry in dist.iterdir():
        if entry.name in ("bin", "data"):
            continue
        _link(home_ / entry.name, entry)
    for entry in (dist / "bin").iterdir():
        if entry.name != "kc.sh":
            _link(home_ / "bin" / entry.name, entry)
    script = home_ / "bin" / "kc.sh"
    shutil.copyfile(dist / "bin" / "kc.sh", script)
    script.chmod(0o755)
    return home_


def _link(link: Path, target: Path) -> None:
    if link.is_symlink() and os.readlink(link) == str(target):
        return
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.exists():
        shutil.rmtree(link)
    link.symlink_to(target)


def command(dist: Path, mode: str = MODE) -> list[str]:
    kc = str(dist / "bin" / "kc.sh")
    if mode == "optimized":
        return [kc, "start", "--optimized", *RUN_OPTIONS]
    return [kc, "start-dev", *BUILD_OPTIONS, *RUN_OPTIONS]


def ready() -> bool:
    return proc.http_ok(DISCOVERY)


def _seed_path() -> Path:
    key = hashlib.sha256()
    key.update(f"{VERSION} {MODE} {BUILD_OPTIONS}".encode())
    key.update(REALM_FILE.read_bytes())
    return CACHE / f"seed-{VERSION}-{key.hexdigest()[:12]}.mv.db"


def _wipe_database() -> None:
    shutil.rmtree(DATABASE.parent, ignore_errors=True)
    shutil.rmtree(DATABASE.parent.parent / "transaction-logs", ignore_errors=True)


def _run(kc_home: Path, timeout: float) -> float:
    log = proc.log_path(NAME)
    offset = log.stat().st_size if log.exists() else 0
    started = time.monotonic()
    proc.spawn(NAME, command(kc_home), env=_env(), cwd=kc_home)
    proc.wait_until(NAME, ready, timeout, f"realm {REALM} at {DISCOVERY}")
    with open(log, "rb") as text:
        text.seek(offset)
        augmented = b"Quarkus augmentation completed" in text.read()
    if augmented:
        # The archive was just written by the short-lived build step before the server
        # (kc.sh restarts java after it): drop it so that the next run records the server.
        CDS_ARCHIVE.unlink(missing_ok=True)
    return time.monotonic() - started


def start(fresh: bool = True, timeout: float = 300) -> None:
    """Start Keycloak unless it runs, and wait for the realm's discovery document.

    fresh: start from the seeded database (exactly the realm file, nothing left by an
    earlier run); False keeps the database of the previous run.
    """
    dist = prepare()
    if proc.pid_of(NAME):
        proc.wait_until(NAME, ready, timeout, f"realm {REALM} at {DISCOVERY}")
        return
    if proc.port_open(PORT):
        raise proc.PartFailed(f"keycloak: port {PORT} is taken by a process the devstack did "
                              f"not start (another checkout's Keycloak?)")
    if MODE != "optimized":  # start-dev may rebuild lib/ for the dev profile
        _build_stamp(dist).unlink(missing_ok=True)
    kc_home = _home_for_this_clone(dist)
    imports = kc_home / "data" / "import"
    imports.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REALM_FILE, imports / REALM_FILE.name)
    seed = _seed_path()
    if fresh and not seed.exists():
        proc.say("keycloak: importing the realm into an empty database (once per realm file)")
        _wipe_database()
        took = _run(kc_home, timeout)
        proc.say(f"keycloak: imported in {took:.0f}s; saving the database as {seed.name}")
        proc.stop(NAME, timeout=60)
        if not DATABASE.exists() or "Keycloak stopped" not in proc.log_tail(NAME, 5):
            raise proc.PartFailed(f"keycloak: no cleanly closed database at {DATABASE} "
                                  f"after the import:\n{proc.log_tail(NAME)}")
        part = seed.with_name(f"{seed.name}.part-{os.getpid()}")
        shutil.copyfile(DATABASE, part)
        part.rename(seed)
    if fresh:
        _wipe_database()
        DATABASE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(seed, DATABASE)
    took = _run(kc_home, timeout)
    proc.say(f"keycloak: ready at {URL} in {took:.1f}s (admin console {URL}/admin/, "
             f"{ADMIN[0]}/{ADMIN[1]})")


def stop() -> None:
    proc.stop(NAME, timeout=60)


def status() -> str:
    pid = proc.pid_of(NAME)
    if pid is None:
        return "keycloak: stopped"
    try:
        up = ready()
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        up = False
    return f"keycloak: pid {pid}, {'ready' if up else 'not ready'} at {URL}"


def main(argv: list[str]) -> int:
    command_ = argv[1] if len(argv) > 1 else "status"
    try:
        if command_ == "prepare":
            print(prepare())
        elif command_ == "start":
            start(fresh="--keep" not in argv[2:])
        elif command_ == "stop":
            stop()
        elif command_ == "status":
            print(status())
        else:
            print("usage: python -m devstack.keycloak prepare|start [--keep]|stop|status",
                  file=sys.stderr)
            return 2
    except proc.PartFailed as failure:
        print(failure, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
