"""Why a server has not started: the cluster's events about its pod, as sentences for the user.

Pure. `explain` turns one Kubernetes Event (as KubeSpawner's event watch keeps it: a dict
with `reason`, `message`, `type`) into a sentence naming what this start asked for, or
None when the event says nothing the user can act on (KubeSpawner's own line is kept).
`pending_cause` picks, from all of a pod's events, the reason it still waits.

Everything an event carries is written by the cluster's components and is not trusted:
it is parsed by shape, and any of its text that is repeated is cleaned of control
characters and cut short. The sentences end in a page, where JupyterHub shows a progress
message as text (never as HTML).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .options import Choice
from .podspec import ClaimUse, volume_claims
from .quantities import format_memory

# How much of the cluster's own words a sentence repeats, per piece and in all.
MAX_QUOTED = 160
MAX_SENTENCE = 1000

# The kube-scheduler's summary: "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had
# untolerated taint {nvidia.com/gpu: present}. preemption: 0/2 nodes are available: ...".
_AVAILABLE = re.compile(r"\s*\d+/(\d+) nodes are available:?\s*(.*)", re.DOTALL)
_COUNTED = re.compile(r"(\d+)\s+(.*)", re.DOTALL)
_INSUFFICIENT = re.compile(r"Insufficient (\S+)")
_TAINT = re.compile(r"\{[^{}]{1,200}\}")
_CLAIM_NOT_FOUND = re.compile(r'persistentvolumeclaims? "([^"]{1,253})" not found')
_PULL_FAILED = re.compile(r'Failed to pull image "([^"]{0,1000})":\s*(.*)', re.DOTALL)
_BACK_OFF = re.compile(r'Back-off pulling image "([^"]{0,1000})"')
_BAD_REFERENCE = re.compile(
    r'Failed to (?:apply default image tag|inspect image) "([^"]{0,1000})":\s*(.*)', re.DOTALL)
_NEVER_PULL = re.compile(r'Container image "([^"]{0,1000})" is not present with pull policy '
                         r'of Never')
_KUBELET_ERROR = re.compile(r"Error: (ErrImagePull|ImagePullBackOff)\s*$")
_MOUNT_ONE = re.compile(r'(?:MountVolume|MapVolume|AttachVolume)\.\w+ failed for volume '
                        r'"([^"]{1,253})"\s*:?\s*(.*)', re.DOTALL)
_MOUNT_LIST = re.compile(r"unmounted volumes=\[([^\]]{0,2000})\]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")

_UNREACHABLE = ("no such host", "dial tcp", "i/o timeout", "connection refused",
                "network is unreachable", "tls:", "x509:", "server misbehaving")
_REFUSED = ("unauthorized", "authentication required", "access denied", "denied:",
            "forbidden", "401", "403")
_NOT_FOUND = ("not found", "manifest unknown", "name unknown", "does not exist")

# Each explained event is about one stage of a pod's start; a later event of these reasons
# says the stage was passed, so its earlier trouble is no longer why the pod waits.
_PASSED = {"scheduling": {"Scheduled"},
           "volumes": {"Pulling", "Pulled", "Created", "Started"},
           "image": {"Pulled", "Created", "Started"}}


def _frozen(mapping: Mapping) -> Mapping:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class StartFacts:
    """What a start asked of the cluster, in the words the sentences use."""
    instance_type: str = ""  # its display name
    # What the scheduler counts: the request, else the limit (Kubernetes' default request).
    cpu: float | None = None
    memory: int | None = None  # bytes
    gpu: int = 0
    gpu_resource: str = ""
    node_selector: Mapping[str, str] = field(default_factory=lambda: _frozen({}))
    image: str = ""
    pull_secrets: tuple[str, ...] = ()
    # The dataset and group volumes, by claim name and by pod volume name.
    claims: tuple[ClaimUse, ...] = ()


def start_facts(choice: Choice) -> StartFacts:
    """The facts of a validated choice (the spawner puts in the pod's own image and pull
    secrets, which include the operator's)."""
    it = choice.instance_type
    return StartFacts(
        instance_type=it.display_name,
        cpu=it.cpu_request if it.cpu_request is not None else it.cpu_limit,
        memory=it.mem_request if it.mem_request is not None else it.mem_limit,
        gpu=it.gpu_limit, gpu_resource=it.gpu_resource_name if it.has_gpu else "",
        node_selector=_frozen(it.node_selector),
        image=choice.image.url_for(it),
        pull_secrets=(choice.image.pull_secret,) if choice.image.pull_secret else (),
        claims=tuple(volume_claims(choice)))


def quoted(text: object, limit: int = MAX_QUOTED) -> str:
    """Untrusted text from the cluster, made fit to repeat: one line, at most `limit`
    characters."""
    clean = " ".join(_CONTROL.sub(" ", str(text)).split())
    return clean if len(clean) <= limit else clean[:limit - 1].rstrip() + "…"


def explain(event: Mapping, facts: StartFacts) -> str | None:
    """A sentence for the user saying what `event` means for this start, or None."""
    found = _explain(event, facts)
    return found[1] if found else None


def pending_cause(events: Iterable[Mapping], facts: StartFacts) -> str | None:
    """Why the pod still waits, from its events in order: the last explained trouble whose
    stage no later event has passed (the detailed sentence of that stage, if it had one)."""
    cause: tuple[str, str] | None = None  # (stage, sentence)
    detailed: dict[str, str] = {}
    for event in events:
        if not isinstance(event, Mapping):
            continue
        if cause and event.get("reason") in _PASSED[cause[0]]:
            cause = None
            detailed.clear()
        found = _explain(event, facts)
        if found:
            stage, sentence, is_detailed = found
            if is_detailed:
                detailed[stage] = sentence
            cause = (stage, detailed.get(stage, sentence))
    return cause[1] if cause else None


def timeout_sentence(cause: str, seconds: float) -> str:
    """The start's failure when its time ran out while the pod waited for `cause`."""
    return f"Your server did not start within {seconds:g} seconds. {cause}"


def left_out_notice(use: ClaimUse) -> str:
    """Said when a volume is left out of the pod because its claim does not exist."""
    what = use.what[:1].upper() + use.what[1:]
    return (f"{what} was left out of your server: its volume claim {use.claim} does not "
            "exist. The server starts without it; ask an administrator to create the claim.")


# ---- the events -------------------------------------------------------------------------


def _explain(event: Mapping, facts: StartFacts) -> tuple[str, str, bool] | None:
    """(stage, sentence, whether it is the detailed one of its stage), or None."""
    reason, message = event.get("reason"), event.get("message")
    if not isinstance(reason, str) or not isinstance(message, str):
        return None
    if reason == "FailedScheduling":
        return "scheduling", _cut(_scheduling(message, facts)), True
    if reason in ("Failed", "BackOff", "ErrImagePull", "ImagePullBackOff", "InspectFailed",
                  "ErrImageNeverPull"):
        found = _image(reason, message, facts)
        return ("image", _cut(found[0]), found[1]) if found else None
    if reason in ("FailedMount", "FailedAttachVolume", "FailedMapVolume"):
        return "volumes", _cut(_mount(message, facts)), True
    return None


def _cut(sentence: str) -> str:
    return sentence if len(sentence) <= MAX_SENTENCE else sentence[:MAX_SENTENCE - 1] + "…"


def _nodes(count: int | None, one: str, many: str) -> str:
    if count is None:
        return f"a node {one}"
    return f"{count} node {one}" if count == 1 else f"{count} nodes {many}"


def _claim_sentence(claim: str, facts: StartFacts, doing: str) -> str:
    use = next((u for u in facts.claims if u.claim == claim), None)
    what = f"{use.what} (volume claim {use.claim})" if use else f"volume claim {quoted(claim)}"
    return (f"Your server {doing}: {what} does not exist. Ask an administrator to create it, "
            "or stop this start and try again without it.")


def _scheduling(message: str, facts: StartFacts) -> str:
    claim = _CLAIM_NOT_FOUND.search(message)
    if claim:
        return _claim_sentence(claim.group(1), facts, "cannot be placed on a node")
    head = f"No node can run instance type {quoted(facts.instance_type) or 'of this server'} now"
    summary = _AVAILABLE.match(message)
    if not summary:
        return f"{head}; the scheduler says: {quoted(message)}. Ask an administrator if this " \
               "persists."
    # The summary is the first sentence; notes on preemption (and, since 1.31, on dynamic
    # resource claims) follow it.
    body = re.split(r"\.(?:\s|$)", summary.group(2), maxsplit=1)[0].strip()
    parts, short, placement = [], False, False
    for item in re.split(r",\s*(?=\d+\s)", body) if body else []:
        counted = _COUNTED.fullmatch(item.strip())
        count, text = (int(counted.group(1)), counted.group(2)) if counted else (None, item)
        clause, kind = _node_clause(count, text.strip(), facts)
        parts.append(clause)
        short |= kind == "short"
        placement |= kind == "placement"
    if not parts:
        parts.append(f"none of its {summary.group(1)} nodes takes it")
    if short:
        advice = "Wait for other servers to stop, or choose a smaller instance type."
    elif placement:
        advice = ("Ask an administrator: the instance type's node selector and tolerations "
                  "match no node that has room.")
    else:
        advice = "Ask an administrator if this persists."
    return f"{head}: {'; '.join(parts)}. {advice}"


def _node_clause(count: int | None, text: str, facts: StartFacts) -> tuple[str, str]:
    """A clause on why `count` nodes refused the pod, and its kind: short of a resource,
    placement (labels, taints), or other."""
    insufficient = _INSUFFICIENT.match(text)
    if insufficient:
        resource = insufficient.group(1)
        if resource == "cpu":
            need = f" (it needs {facts.cpu:g})" if facts.cpu else ""
            return _nodes(count, "has", "have") + f" too little free CPU{need}", "short"
        if resource == "memory":
            need = f" (it needs {format_memory(facts.memory)})" if facts.memory else ""
            return _nodes(count, "has", "have") + f" too little free memory{need}", "short"
        if resource == facts.gpu_resource and facts.gpu:
            wanted = "a free" if facts.gpu == 1 else f"{facts.gpu} free"
            return (_nodes(count, "does", "do") + f" not have {wanted} {quoted(resource, 63)}",
                    "short")
        return _nodes(count, "has", "have") + f" too little free {quoted(resource, 63)}", "short"
    if "node affinity/selector" in text or "didn't match node selector" in text:
        labels = ", ".join(f"{k}={v}" for k, v in facts.node_selector.items())
        wanted = f" ({quoted(labels, 120)})" if labels else ""
        return (_nodes(count, "does", "do") + f" not have the labels it selects{wanted}",
                "placement")
    if "untolerated taint" in text or "didn't tolerate" in text:
        taint = _TAINT.search(text)
        named = f" {quoted(taint.group(0), 120)}" if taint else ""
        return _nodes(count, "has", "have") + f" a taint{named} it does not tolerate", "placement"
    if "were unschedulable" in text:
        return _nodes(count, "is", "are") + " cordoned (taking no new pods)", "other"
    if text.startswith("Too many pods"):
        return _nodes(count, "holds as many pods as it may", "hold as many pods as they may"), \
            "short"
    if "unbound immediate PersistentVolumeClaims" in text:
        return "a volume claim it mounts is not bound to storage yet", "other"
    return f"{_nodes(count, 'says', 'say')}: {quoted(text, 120)}", "other"


def _registry(image: str) -> str:
    """The registry host of an image reference (Docker Hub when the first part is not one)."""
    first, _, rest = image.partition("/")
    return first if rest and ("." in first or ":" in first or first == "localhost") \
        else "docker.io"


def _secrets_clause(facts: StartFacts) -> str:
    if not facts.pull_secrets:
        return "no pull secret is set for it"
    names = ", ".join(quoted(s, 63) for s in facts.pull_secrets[:3])
    return f"the pull secret {names} is set for it" if len(facts.pull_secrets) == 1 \
        else f"the pull secrets {names} are set for it"


def _image(reason: str, message: str, facts: StartFacts) -> tuple[str, bool] | None:
    """(sentence, detailed) for an image pull event, or None for other `Failed` events."""
    failed = _PULL_FAILED.match(message)
    if failed:
        image = quoted(failed.group(1)) or facts.image
        detail = failed.group(2).lower()
        secrets = _secrets_clause(facts)
        if any(s in detail for s in _UNREACHABLE):
            cause = f"its registry {quoted(_registry(image), 100)} could not be reached"
            advice = "Ask an administrator to check the image's registry address."
        elif any(s in detail for s in _REFUSED):
            cause = "the registry refused access to it"
            advice = ("Ask an administrator to set a pull secret on the image."
                      if not facts.pull_secrets else
                      "Ask an administrator to check that the pull secret is valid for "
                      "this registry.")
        elif any(s in detail for s in _NOT_FOUND):
            cause = "the registry has no image of that name and tag"
            advice = "Ask an administrator to check the image's name and tag."
        else:
            cause = f"the node says: {quoted(failed.group(2))}"
            advice = "Ask an administrator to check the image."
        return f"The image {image} could not be pulled: {cause}; {secrets}. {advice}", True
    bad = _BAD_REFERENCE.match(message)
    if bad:
        return (f"The image {quoted(bad.group(1)) or facts.image} is not a valid image "
                f"reference ({quoted(bad.group(2))}). Ask an administrator to fix the "
                "image's address."), True
    never = _NEVER_PULL.match(message)
    if never:
        return (f"The image {quoted(never.group(1))} is not on the node, and the pull policy "
                "forbids pulling it. Ask an administrator."), True
    back_off = _BACK_OFF.match(message)
    if back_off or (reason == "ImagePullBackOff") or (
            _KUBELET_ERROR.match(message) and "BackOff" in message):
        image = quoted(back_off.group(1)) if back_off else facts.image
        return (f"The image {image} could not be pulled; Kubernetes waits before trying "
                "again."), False
    if reason == "ErrImagePull" or _KUBELET_ERROR.match(message):
        return f"The image {facts.image} could not be pulled; Kubernetes will try again.", False
    return None


def _mount(message: str, facts: StartFacts) -> str:
    claim = _CLAIM_NOT_FOUND.search(message)
    if claim:
        return _claim_sentence(claim.group(1), facts, "cannot start")
    one = _MOUNT_ONE.match(message)
    volumes = [one.group(1)] if one else (
        _MOUNT_LIST.search(message).group(1).split() if _MOUNT_LIST.search(message) else [])
    by_volume = {u.volume: u for u in facts.claims}
    named = []
    for volume in volumes[:5]:
        use = by_volume.get(volume)
        named.append(f"{use.what} (volume claim {use.claim})" if use
                     else f"volume {quoted(volume, 63)}")
    what = ", ".join(named) or "a volume"
    # The kubelet's summary ends in why: "...unattached volumes=[...]: timed out ...".
    detail = quoted(one.group(2) if one and one.group(2) else message.rsplit("]: ", 1)[-1])
    return (f"Your server cannot start: {what} could not be mounted ({detail}). Ask an "
            "administrator.")
