"""Reservations of the starts in flight (primehub_spawner.reservations): what they hold,
when they stop holding it, and that a reservation and its own pod count once."""
import pytest

from primehub_spawner.quota import Usage
from primehub_spawner.reservations import Reservation, Reservations

TWO = Usage(cpu=2, memory=2**30)
ONE_GPU = Usage(cpu=1, gpu=1)


def pod(name: str, uid: str) -> dict:
    return {"metadata": {"name": name, "namespace": "hub", "uid": uid}}


def ledger(*held) -> Reservations:
    """Reservations made, in order, from (ticket, group, user, pod key, usage, pods then)."""
    reservations = Reservations()
    for ticket, group, user, key, usage, pods in held:
        reservations.reserve(ticket, group, user, key, usage, pods)
    return reservations


ALICE = ("t1", "research", "alice", "hub/jupyter-alice", TWO, {})
ALICE_GPU = ("t2", "research", "alice", "hub/jupyter-alice--gpu", ONE_GPU, {})
BOB = ("t3", "research", "bob", "hub/jupyter-bob", TWO, {})
CAROL_CLASS = ("t4", "class-101", "carol", "hub/jupyter-carol", TWO, {})
# Dave restarts while his old pod (uid old-1) is still being deleted.
DAVE_AFTER_OLD = ("t5", "research", "dave", "hub/jupyter-dave", TWO,
                  {"hub/jupyter-dave": pod("jupyter-dave", "old-1")})

NO_PODS: dict = {}
ALICE_POD = {"hub/jupyter-alice": pod("jupyter-alice", "new-1")}
DAVE_OLD = {"hub/jupyter-dave": pod("jupyter-dave", "old-1")}
DAVE_NEW = {"hub/jupyter-dave": pod("jupyter-dave", "new-2")}


@pytest.mark.parametrize("held, pods, group, user, exclude, expected", [
    pytest.param([], NO_PODS, "research", None, None, Usage(), id="nothing-held"),
    pytest.param([ALICE], NO_PODS, "research", None, None, TWO, id="one-start"),
    pytest.param([ALICE, BOB], NO_PODS, "research", None, None, TWO + TWO, id="two-users-summed"),
    pytest.param([ALICE, ALICE_GPU], NO_PODS, "research", "alice", None, TWO + ONE_GPU,
                 id="named-servers-of-one-user-summed"),
    pytest.param([ALICE, BOB], NO_PODS, "research", "bob", None, TWO, id="other-user-left-out"),
    pytest.param([ALICE, CAROL_CLASS], NO_PODS, "research", None, None, TWO,
                 id="other-group-left-out"),
    pytest.param([ALICE, BOB], ALICE_POD, "research", None, None, TWO,
                 id="own-pod-visible-counts-once"),
    pytest.param([ALICE], ALICE_POD, "research", "alice", None, Usage(),
                 id="own-pod-visible-user-view"),
    pytest.param([DAVE_AFTER_OLD], DAVE_OLD, "research", None, None, TWO,
                 id="old-pod-of-the-same-name-is-not-its-own"),
    pytest.param([DAVE_AFTER_OLD], DAVE_NEW, "research", None, None, Usage(),
                 id="new-pod-replacing-the-old-is-its-own"),
    pytest.param([DAVE_AFTER_OLD], NO_PODS, "research", None, None, TWO,
                 id="old-pod-gone-new-not-yet-seen"),
    pytest.param([ALICE, BOB], NO_PODS, "research", None, "hub/jupyter-alice", TWO,
                 id="excluded-server"),
])
def test_pending(held, pods, group, user, exclude, expected):
    assert ledger(*held).pending(pods, group, user, exclude_pod=exclude) == expected


def test_reserve_records_an_older_pod_of_the_same_name():
    reservation = ledger().reserve(*DAVE_AFTER_OLD)
    assert reservation == Reservation("research", "dave", "hub/jupyter-dave", TWO, "old-1")


@pytest.mark.parametrize("held, releases, expected_results, left", [
    pytest.param([ALICE], ["t1"], [True], Usage(), id="released"),
    pytest.param([ALICE], ["t1", "t1"], [True, False], Usage(), id="second-release-is-a-no-op"),
    pytest.param([ALICE, BOB], ["t1", "t1"], [True, False], TWO,
                 id="second-release-leaves-others-alone"),
    pytest.param([ALICE], ["unknown"], [False], TWO, id="unknown-ticket"),
    pytest.param([], ["t1"], [False], Usage(), id="nothing-to-release"),
])
def test_release_gives_back_exactly_once(held, releases, expected_results, left):
    reservations = ledger(*held)
    assert [reservations.release(ticket) for ticket in releases] == expected_results
    assert reservations.pending(NO_PODS, "research") == left


def test_a_ticket_reserves_once():
    reservations = ledger(ALICE)
    with pytest.raises(ValueError, match="already held"):
        reservations.reserve(*ALICE)
    assert reservations.pending(NO_PODS, "research") == TWO


def test_len_counts_held_reservations():
    reservations = ledger(ALICE, BOB)
    reservations.release("t1")
    assert len(reservations) == 1
