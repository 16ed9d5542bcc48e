"""The local kubelet's image pulls (devstack/kubelet/images.py) and the status of a pod
whose image cannot be pulled (status.waiting_status)."""
import pytest

from devstack.kubelet.images import (
    BACK_OFF_MAX,
    next_back_off,
    pull_failure,
    registry_host,
)
from devstack.kubelet.status import waiting_status


@pytest.mark.parametrize("image, host", [
    ("quay.io/jupyter/base-notebook:latest", "quay.io"),
    ("jupyter/base-notebook", "docker.io"),
    ("base-notebook:latest", "docker.io"),
    ("localhost/notebook", "localhost"),
    ("registry.invalid:5000/team/notebook:v1", "registry.invalid"),
    ("invalid/notebook", "docker.io"),  # a Docker Hub user named "invalid"
], ids=["quay", "hub-user", "hub-library", "localhost", "port", "hub-user-invalid"])
def test_registry_host_follows_docker_reference_rules(image, host):
    assert registry_host(image) == host


@pytest.mark.parametrize("image", [
    "quay.io/jupyter/base-notebook:latest", "registry.example.com/private/notebook:v1",
    "base-notebook", "",
], ids=["quay", "example", "bare", "empty"])
def test_images_of_a_resolvable_registry_are_not_pulled_and_never_fail(image):
    assert pull_failure(image) is None


@pytest.mark.parametrize("image, head", [
    ("unreachable.invalid/team/notebook:v1",
     "https://unreachable.invalid/v2/team/notebook/manifests/v1"),
    ("registry.invalid:5000/notebook", "https://registry.invalid:5000/v2/notebook/manifests/latest"),
    ("x.invalid/notebook@sha256:abc", "https://x.invalid/v2/notebook/manifests/sha256:abc"),
], ids=["tag", "port-no-tag", "digest"])
def test_a_registry_under_invalid_fails_as_containerd_says_for_a_name_that_does_not_resolve(
        image, head):
    message = pull_failure(image)
    assert message.startswith(f'failed to pull and unpack image "{image}": failed to resolve '
                              f'reference "{image}": failed to do request: Head "{head}"')
    assert message.endswith(f"dial tcp: lookup {image.split('/')[0].split(':')[0]}: no such host")


def test_the_back_off_doubles_up_to_five_minutes():
    delays = [10.0]
    for _ in range(8):
        delays.append(next_back_off(delays[-1]))
    assert delays[:6] == [10, 20, 40, 80, 160, 300] and max(delays) == BACK_OFF_MAX == 300


def test_a_pod_waiting_for_its_image_is_pending_and_not_ready():
    pod = {"spec": {"containers": [{"name": "notebook", "image": "a.invalid/x"}]}}
    status = waiting_status(pod, "127.0.2.9", "ImagePullBackOff",
                            'Back-off pulling image "a.invalid/x"', "2026-01-01T00:00:00Z")
    assert status["phase"] == "Pending" and status["podIP"] == "127.0.2.9"
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions["PodScheduled"] == "True" and conditions["Ready"] == "False"
    (container,) = status["containerStatuses"]
    assert container["ready"] is False and container["state"]["running"] is None
    assert container["state"]["waiting"] == {
        "reason": "ImagePullBackOff", "message": 'Back-off pulling image "a.invalid/x"'}
