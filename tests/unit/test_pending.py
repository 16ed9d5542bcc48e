"""Why a server has not started: the cluster's events as sentences (primehub_spawner.pending),
and the volumes left out when their claim does not exist (podspec.volume_claims,
PodSettings.missing_claims)."""
from __future__ import annotations

import dataclasses

import pytest
from builders import demo_catalog, demo_user

from primehub_spawner.options import validate_user_options
from primehub_spawner.pending import (
    MAX_SENTENCE,
    StartFacts,
    explain,
    left_out_notice,
    pending_cause,
    quoted,
    start_facts,
    timeout_sentence,
)
from primehub_spawner.podspec import PodSettings, make_pod_overrides, volume_claims


def choice_of(username="alice", **options):
    return validate_user_options(options, demo_user(username), demo_catalog())


# alice in research with gpu-small and pytorch: one GPU, node selector hardware=gpu, the
# dataset team-data (pv) and the shared volume of Research Lab.
GPU = start_facts(choice_of(group="research", instance_type="gpu-small", image="pytorch"))
CPU = start_facts(choice_of(group="research", instance_type="cpu-2", image="pytorch"))
PRIVATE = dataclasses.replace(CPU, image="registry.example.com/private/notebook:v1",
                              pull_secrets=("private-registry",))


def event(reason, message, kind="Warning"):
    return {"reason": reason, "message": message, "type": kind,
            "involvedObject": {"kind": "Pod", "name": "jupyter-alice"}}


def test_the_facts_of_a_choice_name_what_the_pod_asks_for():
    assert GPU.instance_type == "GPU small" and GPU.gpu == 1
    assert GPU.gpu_resource == "nvidia.com/gpu" and dict(GPU.node_selector) == {"hardware": "gpu"}
    assert GPU.image == "quay.io/jupyter/pytorch-notebook:cuda12-latest"
    assert {(u.claim, u.what) for u in GPU.claims} == {
        ("dataset-team-data", "dataset Team Data"),
        ("project-research", "the shared volume of group Research Lab")}
    assert CPU.gpu == 0 and CPU.gpu_resource == "" and CPU.pull_secrets == ()
    private = start_facts(choice_of(group="class-101", instance_type="cpu-1",
                                    image="private-image"))
    assert private.pull_secrets == ("private-registry",)


# ---- the scheduler ------------------------------------------------------------------------

PREEMPTION = (" preemption: 0/2 nodes are available: 1 No preemption victims found for "
              "incoming pod, 1 Preemption is not helpful for scheduling.")

SCHEDULING = [
    # kube-scheduler 1.27-1.31: the taint is named.
    ("0/2 nodes are available: 2 Insufficient nvidia.com/gpu." + PREEMPTION, GPU,
     ("No node can run instance type GPU small now: 2 nodes do not have a free nvidia.com/gpu. "
     "Wait for other servers to stop, or choose a smaller instance type.")),
    ("0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint "
     "{nvidia.com/gpu: present}." + PREEMPTION, CPU,
     ("No node can run instance type CPU 2 now: 1 node has too little free CPU (it needs 0.5); "
     "1 node has a taint {nvidia.com/gpu: present} it does not tolerate. Wait for other "
     "servers to stop, or choose a smaller instance type.")),
    # kube-scheduler 1.32 and later: taints are no longer named.
    ("0/2 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint(s)."
     + PREEMPTION, CPU,
     ("No node can run instance type CPU 2 now: 1 node has too little free memory (it needs "
     "1Gi); 1 node has a taint it does not tolerate. Wait for other servers to stop, or "
     "choose a smaller instance type.")),
    # kube-scheduler 1.31 and later, with its note on dynamic resource claims.
    (("0/2 nodes are available: 2 Insufficient nvidia.com/gpu. no new claims to deallocate, "
     "preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."),
     GPU, ("No node can run instance type GPU small now: 2 nodes do not have a free "
           "nvidia.com/gpu. Wait for other servers to stop, or choose a smaller instance type.")),
    # kube-scheduler 1.2x before 1.26.
    (("0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had taint {nvidia.com/gpu: "
     "present}, that the pod didn't tolerate."), CPU,
     ("No node can run instance type CPU 2 now: 1 node has too little free CPU (it needs 0.5); "
     "1 node has a taint {nvidia.com/gpu: present} it does not tolerate. Wait for other "
     "servers to stop, or choose a smaller instance type.")),
    (("0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) "
     "had untolerated taint(s). preemption: 0/2 nodes are available: 2 Preemption is not "
     "helpful for scheduling."), GPU,
     ("No node can run instance type GPU small now: 1 node does not have the labels it selects "
     "(hardware=gpu); 1 node has a taint it does not tolerate. Ask an administrator: the "
     "instance type's node selector and tolerations match no node that has room.")),
    ("0/3 nodes are available: 3 node(s) were unschedulable.", CPU,
     ("No node can run instance type CPU 2 now: 3 nodes are cordoned (taking no new pods). "
     "Ask an administrator if this persists.")),
    ("0/2 nodes are available: 2 Too many pods.", CPU,
     ("No node can run instance type CPU 2 now: 2 nodes hold as many pods as they may. Wait "
     "for other servers to stop, or choose a smaller instance type.")),
    (("0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims."
     " preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."), CPU,
     ("No node can run instance type CPU 2 now: a volume claim it mounts is not bound to "
     "storage yet. Ask an administrator if this persists.")),
    ('0/2 nodes are available: persistentvolumeclaim "dataset-team-data" not found.'
     + PREEMPTION, GPU,
     ("Your server cannot be placed on a node: dataset Team Data (volume claim "
     "dataset-team-data) does not exist. Ask an administrator to create it, or stop this "
     "start and try again without it.")),
    ('persistentvolumeclaim "project-research" not found', GPU,
     ("Your server cannot be placed on a node: the shared volume of group Research Lab "
     "(volume claim project-research) does not exist. Ask an administrator to create it, or "
     "stop this start and try again without it.")),
    ("0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports.",
     CPU,
     ("No node can run instance type CPU 2 now: 2 nodes say: node(s) didn't have free ports "
     "for the requested pod ports. Ask an administrator if this persists.")),
    ("running PreFilter plugin \"VolumeBinding\": error", CPU,
     ("No node can run instance type CPU 2 now; the scheduler says: running PreFilter plugin "
     "\"VolumeBinding\": error. Ask an administrator if this persists.")),
]


@pytest.mark.parametrize("message, facts, sentence", SCHEDULING, ids=[
    "gpu-full", "cpu-and-taint-named", "memory-and-taint-1.32", "dra-note-1.31",
    "taint-before-1.26",
    "selector-and-taint", "cordoned", "too-many-pods", "unbound-claim", "claim-not-found",
    "claim-not-found-bare", "other-reason", "not-a-summary"])
def test_failed_scheduling_names_the_instance_type_and_why_no_node_takes_it(
        message, facts, sentence):
    assert explain(event("FailedScheduling", message), facts) == sentence


def test_a_summary_without_reasons_still_says_no_node_takes_it():
    assert explain(event("FailedScheduling", "0/2 nodes are available."), CPU) == (
        "No node can run instance type CPU 2 now: none of its 2 nodes takes it. Ask an "
        "administrator if this persists.")


def test_three_gpus_are_named_as_three():
    facts = dataclasses.replace(GPU, gpu=3)
    assert "2 nodes do not have 3 free nvidia.com/gpu" in explain(event(
        "FailedScheduling", "0/2 nodes are available: 2 Insufficient nvidia.com/gpu."), facts)


# ---- the image ----------------------------------------------------------------------------

UNREACHABLE = ('Failed to pull image "unreachable.invalid/team/notebook:v1": failed to pull and '
               'unpack image "unreachable.invalid/team/notebook:v1": failed to resolve reference '
               '"unreachable.invalid/team/notebook:v1": failed to do request: Head '
               '"https://unreachable.invalid/v2/team/notebook/manifests/v1": dial tcp: lookup '
               'unreachable.invalid: no such host')

IMAGE = [
    (event("Failed", UNREACHABLE), CPU,
     ("The image unreachable.invalid/team/notebook:v1 could not be pulled: its registry "
     "unreachable.invalid could not be reached; no pull secret is set for it. Ask an "
     "administrator to check the image's registry address.")),
    # kubelet 1.2x wraps containerd's error in the CRI's.
    (event("Failed", 'Failed to pull image "registry.example.com/private/notebook:v1": rpc '
                     'error: code = Unknown desc = failed to pull and unpack image '
                     '"registry.example.com/private/notebook:v1": failed to resolve reference '
                     '"registry.example.com/private/notebook:v1": pulling from host '
                     'registry.example.com failed with status code [manifests v1]: 401 '
                     'Unauthorized'), CPU,
     ("The image registry.example.com/private/notebook:v1 could not be pulled: the registry "
     "refused access to it; no pull secret is set for it. Ask an administrator to set a pull "
     "secret on the image.")),
    (event("Failed", 'Failed to pull image "registry.example.com/private/notebook:v1": '
                     'failed to authorize: failed to fetch anonymous token: unexpected status: '
                     '403 Forbidden'), PRIVATE,
     ("The image registry.example.com/private/notebook:v1 could not be pulled: the registry "
     "refused access to it; the pull secret private-registry is set for it. Ask an "
     "administrator to check that the pull secret is valid for this registry.")),
    (event("Failed", 'Failed to pull image "quay.io/jupyter/nope:1": rpc error: code = '
                     'NotFound desc = failed to pull and unpack image "quay.io/jupyter/nope:1":'
                     ' failed to resolve reference "quay.io/jupyter/nope:1": quay.io/jupyter/'
                     'nope:1: not found'), CPU,
     ("The image quay.io/jupyter/nope:1 could not be pulled: the registry has no image of that "
     "name and tag; no pull secret is set for it. Ask an administrator to check the image's "
     "name and tag.")),
    (event("Failed", 'Failed to pull image "quay.io/a:1": something else went wrong'), CPU,
     ("The image quay.io/a:1 could not be pulled: the node says: something else went wrong; "
     "no pull secret is set for it. Ask an administrator to check the image.")),
    (event("Failed", "Error: ErrImagePull"), CPU,
     ("The image quay.io/jupyter/pytorch-notebook:latest could not be pulled; Kubernetes will "
     "try again.")),
    (event("BackOff", 'Back-off pulling image "quay.io/jupyter/pytorch-notebook:latest"',
           "Normal"), CPU,
     ("The image quay.io/jupyter/pytorch-notebook:latest could not be pulled; Kubernetes waits "
     "before trying again.")),
    (event("Failed", "Error: ImagePullBackOff"), CPU,
     ("The image quay.io/jupyter/pytorch-notebook:latest could not be pulled; Kubernetes waits "
     "before trying again.")),
    (event("InspectFailed", 'Failed to apply default image tag "Quay.io/Bad Name": couldn\'t '
                            'parse image reference "Quay.io/Bad Name": invalid reference '
                            'format'), CPU,
     ("The image Quay.io/Bad Name is not a valid image reference (couldn't parse image "
     "reference \"Quay.io/Bad Name\": invalid reference format). Ask an administrator to fix "
     "the image's address.")),
    (event("ErrImageNeverPull", 'Container image "quay.io/a:1" is not present with pull '
                                'policy of Never'), CPU,
     ("The image quay.io/a:1 is not on the node, and the pull policy forbids pulling it. Ask "
     "an administrator.")),
]


@pytest.mark.parametrize("raw, facts, sentence", IMAGE, ids=[
    "unreachable-no-secret", "unauthorized-1.2x", "forbidden-with-secret", "not-found",
    "other", "err-image-pull", "back-off", "image-pull-back-off", "invalid-reference",
    "never-pull"])
def test_a_failed_pull_names_the_image_the_cause_and_the_pull_secret(raw, facts, sentence):
    assert explain(raw, facts) == sentence


# ---- volumes ------------------------------------------------------------------------------

@pytest.mark.parametrize("message, sentence", [
    ('MountVolume.SetUp failed for volume "dataset-team-data" : mount failed: exit status 32',
     ("Your server cannot start: dataset Team Data (volume claim dataset-team-data) could not "
     "be mounted (mount failed: exit status 32). Ask an administrator.")),
    (("Unable to attach or mount volumes: unmounted volumes=[project-research home], "
     "unattached volumes=[project-research home kube-api-access]: timed out waiting for the "
     "condition"),
     ("Your server cannot start: the shared volume of group Research Lab (volume claim "
     "project-research), volume home could not be mounted (timed out waiting for the "
     "condition). Ask an administrator.")),
    (('Unable to attach or mount volumes: unmounted volumes=[dataset-team-data], unattached '
     'volumes=[]: error processing PVC hub/dataset-team-data: failed to fetch PVC from API '
     'server: persistentvolumeclaims "dataset-team-data" not found'),
     ("Your server cannot start: dataset Team Data (volume claim dataset-team-data) does not "
     "exist. Ask an administrator to create it, or stop this start and try again without it.")),
], ids=["mount-failed", "timed-out", "claim-not-found"])
def test_a_failed_mount_names_the_dataset_or_group_volume(message, sentence):
    assert explain(event("FailedMount", message), GPU) == sentence


@pytest.mark.parametrize("raw", [
    event("Scheduled", "Successfully assigned hub/jupyter-alice to cpu-node", "Normal"),
    event("Failed", "Error: container exited with code 1"),
    event("BackOff", "Back-off restarting failed container notebook in pod jupyter-alice",
          "Normal"),
    event("Started", "Started container notebook", "Normal"),
    {"reason": None, "message": "0/2 nodes are available"},
    {"reason": "FailedScheduling", "message": ["not", "text"]},
    {},
], ids=["scheduled", "other-failure", "crash-back-off", "started", "no-reason",
        "message-not-text", "empty"])
def test_other_events_keep_kubespawner_s_own_line(raw):
    assert explain(raw, CPU) is None


# ---- untrusted text -------------------------------------------------------------------------

def test_cluster_text_is_one_line_and_bounded():
    assert quoted("a\nb\x00\tc\u2028d") == "a b c d"
    long = quoted("x" * 1000)
    assert len(long) == 160 and long.endswith("…")


def test_a_huge_or_hostile_event_gives_a_bounded_single_line_sentence():
    hostile = ("0/2 nodes are available: " + ", ".join(
        f"{i} <script>alert(1)</script>\n{'y' * 500}" for i in range(1, 200)) + ".")
    sentence = explain(event("FailedScheduling", hostile), CPU)
    assert len(sentence) <= MAX_SENTENCE and "\n" not in sentence
    pulled = explain(event("Failed", 'Failed to pull image "a.io/x": ' + "z" * 10_000), CPU)
    assert len(pulled) <= MAX_SENTENCE


# ---- why the pod still waits ----------------------------------------------------------------

SCHEDULED = event("Scheduled", "Successfully assigned hub/jupyter-alice to gpu-node", "Normal")
NO_GPU = event("FailedScheduling", "0/2 nodes are available: 2 Insufficient nvidia.com/gpu.")
PULLING = event("Pulling", 'Pulling image "unreachable.invalid/team/notebook:v1"', "Normal")
PULL_FAILED = event("Failed", UNREACHABLE)
BACK_OFF = event("BackOff", 'Back-off pulling image "unreachable.invalid/team/notebook:v1"',
                 "Normal")


@pytest.mark.parametrize("events, cause", [
    ([], None),
    ([NO_GPU], "No node can run instance type GPU small now"),
    ([NO_GPU, SCHEDULED], None),
    ([NO_GPU, SCHEDULED, PULLING], None),
    ([SCHEDULED, PULLING, PULL_FAILED, event("Failed", "Error: ErrImagePull"), BACK_OFF,
      event("Failed", "Error: ImagePullBackOff"), PULLING],
     "The image unreachable.invalid/team/notebook:v1 could not be pulled: its registry"),
    ([SCHEDULED, PULLING, PULL_FAILED, event("Pulled", "Successfully pulled image", "Normal")],
     None),
    ([SCHEDULED, BACK_OFF], ("The image unreachable.invalid/team/notebook:v1 could not be "
                            "pulled; Kubernetes waits")),
    (["not an event", NO_GPU], "No node can run instance type GPU small now"),
], ids=["none", "unschedulable", "scheduled-after-all", "pulling-after-scheduling",
        "pull-backing-off", "pulled-after-all", "back-off-only", "junk-ignored"])
def test_the_pending_cause_is_the_last_trouble_no_later_event_has_passed(events, cause):
    found = pending_cause(events, GPU)
    assert found == cause if cause is None else found.startswith(cause)


def test_a_timeout_says_how_long_and_why():
    assert timeout_sentence("No node can run instance type GPU small now: …", 300) == (
        "Your server did not start within 300 seconds. No node can run instance type GPU "
        "small now: …")


# ---- missing claims -------------------------------------------------------------------------

def test_the_claims_of_a_choice_are_its_pv_datasets_and_shared_volumes():
    claims = volume_claims(choice_of(group="class-101", image="base-notebook"))
    assert [(u.claim, u.volume) for u in claims] == [
        ("dataset-class-only", "dataset-class-only"), ("dataset-team-data", "dataset-team-data"),
        ("project-class-101", "project-class-101"), ("project-research", "project-research")]


def test_a_missing_claim_s_volume_mount_and_link_are_left_out_and_the_rest_stays():
    choice = choice_of(group="research", instance_type="cpu-2", image="pytorch")
    user = demo_user("alice")
    full = make_pod_overrides(choice, user, PodSettings(pvc_name="claim-alice", chown_extra=True))
    left = make_pod_overrides(choice, user, PodSettings(
        pvc_name="claim-alice", chown_extra=True,
        missing_claims=frozenset({"dataset-team-data", "project-research"})))
    names = {v["name"] for v in left["volumes"]}
    assert {"dataset-team-data", "project-research"} <= {v["name"] for v in full["volumes"]}
    assert not names & {"dataset-team-data", "project-research"}
    assert {"home", "dataset-shared-nfs", "dataset-host-data"} <= names
    assert {m["name"] for m in left["volume_mounts"]} == names
    hook = " ".join(left["lifecycle_hooks"]["postStart"]["exec"]["command"])
    assert "/datasets/team-data" not in hook and "/project/research" not in hook
    assert "/datasets/team-data" not in left["environment"].get("CHOWN_EXTRA", "")
    assert "/project/research" not in left["environment"].get("CHOWN_EXTRA", "")
    assert "/project/research" in full["environment"]["CHOWN_EXTRA"]


def test_the_left_out_notice_names_the_volume_and_its_claim():
    (team, project) = volume_claims(choice_of(group="research", image="pytorch"))
    assert left_out_notice(team) == (
        "Dataset Team Data was left out of your server: its volume claim dataset-team-data "
        "does not exist. The server starts without it; ask an administrator to create the "
        "claim.")
    assert left_out_notice(project).startswith("The shared volume of group Research Lab was "
                                               "left out of your server")


def test_an_empty_start_facts_still_gives_a_sentence():
    assert explain(event("FailedScheduling", "0/2 nodes are available: 2 Insufficient cpu."),
                   StartFacts()).startswith("No node can run instance type of this server now")
