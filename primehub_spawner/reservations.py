"""Starts in flight: what a start holds of its group's quota before its pod can be seen.

Pure. A quota check reads the pods from KubeSpawner's pod watch, which learns of a new pod
only some time after it is created. A start therefore reserves what its instance type
needs at the moment it passes the check (with no await in between, so no other start of
the same hub can check in the gap) and the ledger counts it as used until the start ends:
its pod is then in the watch, or it failed, was cancelled or stopped.

While both exist, a reservation and its own pod are one server: once the watch shows the
pod, the pod counts and the reservation does not. A pod of the same name that was already
in the watch when the reservation was made (an old server still being deleted) is not its
own pod, and both count, as they both hold resources until the old one is gone.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .quota import Usage


@dataclass(frozen=True)
class Reservation:
    group: str  # the group's label value, as the pods carry it
    user: str  # the user's label value
    pod: str  # "namespace/name" of the pod being started, as the pod watch keys it
    usage: Usage
    stale_uid: str | None = None  # uid of an older pod of that name seen at reservation


def _uid(pod: Mapping | None) -> str | None:
    return ((pod or {}).get("metadata") or {}).get("uid")


class Reservations:
    """The reservations of the starts in flight in one hub, by a ticket each start holds."""

    def __init__(self):
        self._held: dict[str, Reservation] = {}

    def __len__(self) -> int:
        return len(self._held)

    def reserve(self, ticket: str, group: str, user: str, pod: str, usage: Usage,
                pods: Mapping[str, Mapping]) -> Reservation:
        """Hold `usage` under `ticket`; `pods` is the pod watch's content (to tell an older
        pod of the same name from the one this start creates)."""
        if ticket in self._held:
            raise ValueError(f"Reservation {ticket} is already held.")
        reservation = Reservation(group, user, pod, usage, _uid(pods.get(pod)))
        self._held[ticket] = reservation
        return reservation

    def release(self, ticket: str) -> bool:
        """Give the reservation back; True the first time, False when it was already."""
        return self._held.pop(ticket, None) is not None

    def pending(self, pods: Mapping[str, Mapping], group: str, user: str | None = None,
                exclude_pod: str | None = None) -> Usage:
        """What the reservations of this group (and user, when given) hold that `pods`
        (the pod watch's content, by "namespace/name") does not already show."""
        total = Usage()
        for reservation in self._held.values():
            if reservation.group != group or reservation.pod == exclude_pod:
                continue
            if user is not None and reservation.user != user:
                continue
            seen = pods.get(reservation.pod)
            if seen is not None and (reservation.stale_uid is None
                                     or _uid(seen) != reservation.stale_uid):
                continue  # its own pod is in the watch and counts there
            total = total + reservation.usage
        return total
