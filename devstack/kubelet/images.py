"""Image pulls as the local kubelet plays them (pure).

It pulls nothing: a pod's command runs from the machine's Python. One case is played as a
real node plays it, so that a failed pull can be provoked on the stack: an image whose
registry host is under `.invalid` (RFC 2606: a name that never resolves) fails to pull,
with the messages a real kubelet and containerd write when the registry's name does not
resolve. No name is looked up, so the stack needs no network.
"""
from __future__ import annotations

# The kubelet's image pull back-off: 10 s, doubling, at most 5 minutes.
BACK_OFF_FIRST = 10.0
BACK_OFF_MAX = 300.0


def registry_host(image: str) -> str:
    """The registry host of an image reference (without a port); `docker.io` when the
    first path element is not a host, as Docker's reference rules say."""
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first.rsplit(":", 1)[0] if first.count(":") == 1 else first
    return "docker.io"


def pull_failure(image: str) -> str | None:
    """Why pulling `image` fails, in containerd's words; None when it is "pulled"."""
    host = registry_host(image)
    if host != "invalid" and not host.endswith(".invalid"):
        return None
    authority, _, path = image.partition("/")
    repository, _, digest = path.partition("@")
    if not digest:
        name, colon, tag = repository.rpartition(":")
        repository, digest = (name, tag) if colon and "/" not in tag else (repository, "latest")
    return (f'failed to pull and unpack image "{image}": failed to resolve reference '
            f'"{image}": failed to do request: Head "https://{authority}/v2/{repository}/manifests/'
            f'{digest}": dial tcp: lookup {host}: no such host')


def next_back_off(delay: float) -> float:
    return min(delay * 2, BACK_OFF_MAX)
