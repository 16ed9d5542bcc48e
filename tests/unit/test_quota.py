"""Quota arithmetic (primehub_spawner.quota) and the user/project quota check of options."""
import pytest
from builders import demo_catalog, demo_user, instance_type_cr, make_pod

from primehub_spawner.catalog import parse_instance_type
from primehub_spawner.entitlements import Quota, resolve_menu
from primehub_spawner.options import quota_problem
from primehub_spawner.quota import Usage, group_usage, over_quota, pod_usage, usage_of

G = 2**30  # InstanceTypes' and attributes' `G`; pods below say `Gi`
NVIDIA, AMD = "nvidia.com/gpu", "amd.com/gpu"


@pytest.mark.parametrize("spec, expected", [
    pytest.param({"limits.cpu": 2, "limits.memory": "4G"}, Usage(2.0, 0, 4 * G), id="cpu"),
    pytest.param({"limits.cpu": 4, "limits.memory": "8G", "limits.gpu": 1,
                  "gpuResourceName": NVIDIA},
                 Usage(4.0, 1, 8 * G), id="gpu"),
    pytest.param({"limits.nvidia.com/gpu": 2}, Usage(1.0, 2, G), id="legacy-gpu"),
    pytest.param({"requests.cpu": 0.5, "requests.memory": "512M"}, Usage(1.0, 0, G),
                 id="limits-not-requests"),
])
def test_usage_of_instance_type(spec, expected):
    assert usage_of(parse_instance_type(instance_type_cr("it", spec))) == expected


@pytest.mark.parametrize("pod, expected", [
    pytest.param(make_pod(limits={"cpu": "2", "memory": "4Gi"}), Usage(2.0, 0, 4 * G),
                 id="running"),
    pytest.param(make_pod(limits={"cpu": "2"}, phase="Pending"), Usage(2.0), id="pending-counts"),
    pytest.param(make_pod(limits={"cpu": "2"}, phase="Succeeded"), Usage(), id="succeeded-free"),
    pytest.param(make_pod(limits={"cpu": "2"}, phase="Failed"), Usage(), id="failed-free"),
    pytest.param({"spec": {"containers": [{"resources": {"limits": {"cpu": 1}}}]}}, Usage(1.0),
                 id="no-status-counts"),
    pytest.param(make_pod(limits={"cpu": "500m", "memory": "512Mi"}),
                 Usage(0.5, 0, 512 * 2**20), id="quantity-strings"),
    pytest.param(make_pod(limits={NVIDIA: "1"}), Usage(gpu=1), id="nvidia-gpu"),
    pytest.param(make_pod(limits={AMD: "2"}), Usage(gpu=2), id="amd-gpu-listed"),
    pytest.param(make_pod(limits={"intel.com/gpu": "1"}), Usage(), id="unlisted-gpu-ignored"),
    pytest.param(make_pod(limits={"cpu": "1", "memory": "1Gi", NVIDIA: "1"}, containers=2),
                 Usage(2.0, 2, 2 * G), id="containers-summed"),
    pytest.param(make_pod(limits={}), Usage(), id="no-limits"),
    pytest.param({"metadata": {}}, Usage(), id="no-spec"),
    pytest.param({"spec": {"containers": [
        {"resources": {"limits": {"cpu": "lots"}}},
        {"resources": {"limits": {"cpu": "1"}}}]}}, Usage(1.0), id="malformed-container-skipped"),
])
def test_pod_usage(pod, expected):
    assert pod_usage(pod, [NVIDIA, AMD]) == expected


PODS = [
    make_pod("jupyter-alice", "alice", "research", {"cpu": "2", "memory": "4Gi", NVIDIA: "1"}),
    make_pod("jupyter-bob", "bob", "research", {"cpu": "1", "memory": "1Gi"}),
    make_pod("jupyter-alice-2", "alice", "class-101", {"cpu": "4", "memory": "2Gi"}),
    make_pod("jupyter-alice-old", "alice", "research", {"cpu": "8"}, phase="Succeeded"),
    make_pod("jupyter-carol", "carol", "research", {"cpu": "1"}, phase="Failed"),
    {"metadata": {"name": "unlabelled"},
     "spec": {"containers": [{"resources": {"limits": {"cpu": "16"}}}]}},
]


@pytest.mark.parametrize("group, user, exclude, expected", [
    pytest.param("research", None, None, Usage(3.0, 1, 5 * G), id="whole-group"),
    pytest.param("research", "alice", None, Usage(2.0, 1, 4 * G), id="one-user"),
    pytest.param("research", "bob", None, Usage(1.0, 0, G), id="other-user"),
    pytest.param("research", None, "jupyter-alice", Usage(1.0, 0, G), id="excluded-pod"),
    pytest.param("research", "alice", "jupyter-alice", Usage(), id="user-and-excluded"),
    pytest.param("class-101", None, None, Usage(4.0, 0, 2 * G), id="other-group"),
    pytest.param("nobody", None, None, Usage(), id="unknown-group"),
    pytest.param("research", "carol", None, Usage(), id="finished-pods-ignored"),
])
def test_group_usage(group, user, exclude, expected):
    assert group_usage(PODS, group, [NVIDIA], user_label=user, exclude_pod=exclude) == expected


def test_group_usage_accepts_a_generator_of_gpu_resources():
    assert group_usage(PODS, "research", (r for r in [NVIDIA])).gpu == 1


@pytest.mark.parametrize("quota, used, wanted, expected", [
    pytest.param(Quota(), Usage(100, 10, 100 * G), Usage(8, 2, 8 * G), None, id="unlimited"),
    pytest.param(Quota(cpu=4), Usage(cpu=1), Usage(cpu=2), None, id="cpu-fits"),
    pytest.param(Quota(cpu=4), Usage(cpu=2), Usage(cpu=2), None, id="cpu-exact-fit"),
    pytest.param(Quota(cpu=0.3), Usage(cpu=0.1), Usage(cpu=0.2), None, id="float-rounding-fits"),
    pytest.param(Quota(cpu=4), Usage(cpu=3), Usage(cpu=2),
                 "This needs 2 CPU, but the scope already uses 3 of its 4 CPU quota.",
                 id="cpu-exceeded"),
    pytest.param(Quota(cpu=1), Usage(cpu=0.5), Usage(cpu=1),
                 "This needs 1 CPU, but the scope already uses 0.5 of its 1 CPU quota.",
                 id="cpu-fraction"),
    pytest.param(Quota(gpu=1), Usage(gpu=1), Usage(gpu=1),
                 "This needs 1 GPU, but the scope already uses 1 of its 1 GPU quota.",
                 id="gpu-exceeded"),
    pytest.param(Quota(gpu=0), Usage(), Usage(cpu=1, gpu=0), None, id="no-gpu-wanted"),
    pytest.param(Quota(gpu=0), Usage(), Usage(gpu=1),
                 "This needs 1 GPU, but the scope already uses 0 of its 0 GPU quota.",
                 id="gpu-quota-zero"),
    pytest.param(Quota(memory=8 * G), Usage(memory=6 * G), Usage(memory=4 * G),
                 "This needs 4Gi memory, but the scope already uses 6Gi of its 8Gi memory quota.",
                 id="memory-exceeded"),
    pytest.param(Quota(memory=8 * G), Usage(memory=4 * G), Usage(memory=4 * G), None,
                 id="memory-exact-fit"),
    pytest.param(Quota(cpu=1, memory=1), Usage(cpu=1, memory=1), Usage(cpu=1, memory=1),
                 "This needs 1 CPU", id="cpu-reported-first"),
])
def test_over_quota(quota, used, wanted, expected):
    result = over_quota(quota, used, wanted, "the scope")
    if expected is None:
        assert result is None
    else:
        assert result is not None and result.startswith(expected)


# research: user quota 4 cpu / 8G / 1 gpu; project quota 16 cpu / 32G / 2 gpu.
# class-101: user quota 2 cpu / 4G, no project quota.
@pytest.mark.parametrize("group, instance_type, user_used, group_used, expected", [
    pytest.param("research", "cpu-2", Usage(), Usage(), None, id="fits"),
    pytest.param("research", "cpu-2", Usage(cpu=2), Usage(cpu=14), None, id="fits-exactly"),
    pytest.param("research", "cpu-2", Usage(cpu=3), Usage(cpu=3),
                 "your share of group Research Lab already uses 3 of its 4 CPU quota",
                 id="user-cpu"),
    pytest.param("research", "gpu-small", Usage(gpu=1), Usage(gpu=1),
                 "your share of group Research Lab already uses 1 of its 1 GPU quota",
                 id="user-gpu"),
    pytest.param("research", "cpu-2", Usage(memory=5 * G), Usage(memory=5 * G),
                 "your share of group Research Lab already uses 5Gi of its 8Gi memory quota",
                 id="user-memory"),
    pytest.param("research", "cpu-2", Usage(), Usage(cpu=15),
                 "group Research Lab already uses 15 of its 16 CPU quota", id="project-cpu"),
    pytest.param("research", "gpu-small", Usage(), Usage(gpu=2),
                 "group Research Lab already uses 2 of its 2 GPU quota", id="project-gpu"),
    pytest.param("research", "cpu-2", Usage(), Usage(memory=30 * G),
                 "group Research Lab already uses 30Gi of its 32Gi memory quota",
                 id="project-memory"),
    pytest.param("class-101", "legacy-gpu", Usage(), Usage(cpu=1000, gpu=50), None,
                 id="no-project-quota"),
    pytest.param("class-101", "legacy-gpu", Usage(cpu=1), Usage(),
                 "your share of group Class 101", id="class-user-quota"),
])
def test_quota_problem(group, instance_type, user_used, group_used, expected):
    user = demo_user("alice")
    catalog = demo_catalog()
    menu = resolve_menu(user, user.group(group), catalog)
    problem = quota_problem(menu, catalog.instance_types[instance_type], user_used, group_used)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and expected in problem
