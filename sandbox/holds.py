"""Holds: a user's claim on one slot's capacity for `hold_ttl_seconds` (UPSTREAM.md 2.4).

A user holds one slot at a time: a new hold releases the user's previous one. A hold takes
capacity while it is active and unexpired; the order it creates consumes it. An expired hold
still names its slot, so an order may book with it while the slot has room.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sandbox.errors import ErrorCode, SandboxError
from sandbox.slot_grid import Slot


@dataclass(slots=True)
class Hold:
    id: str
    user_id: str
    slot: Slot
    created_at: datetime
    expires_at: datetime
    state: str = "active"  # active, released (replaced by a newer hold), consumed
    order_id: str | None = None

    def takes_capacity(self, now: datetime) -> bool:
        return self.state == "active" and self.expires_at > now

    def check_bookable(self, fulfillment_type: str, now: datetime) -> None:
        """Refuses a hold an order cannot book with; an expired one it still can."""
        if self.slot.fulfillment_type != fulfillment_type:
            raise unusable_hold(f"hold_id is not a {fulfillment_type} hold")
        if self.state == "consumed":
            raise unusable_hold(f"hold_id was already used by order {self.order_id}")
        if self.state == "released":
            raise unusable_hold("hold_id was replaced by a newer hold")
        if self.slot.starts_at <= now:
            raise unusable_hold("the held slot has already started")


def unusable_hold(message: str) -> SandboxError:
    return SandboxError(400, message, key="hold_id", code=ErrorCode.HOLD_UNUSABLE)


class HoldBook:
    """Every hold by id, each user's latest, and the active ones of each slot."""

    def __init__(self) -> None:
        self.holds: dict[str, Hold] = {}
        self.user_holds: dict[str, str] = {}
        self.holds_by_slot: dict[str, set[str]] = defaultdict(set)

    def held(self, slot_id: str, now: datetime, exclude_hold: str | None = None) -> int:
        """How much of a slot's capacity its holds take, leaving `exclude_hold` out."""
        return sum(
            1
            for hid in self.holds_by_slot.get(slot_id, ())
            if hid != exclude_hold and self.holds[hid].takes_capacity(now)
        )

    def active(self, now: datetime) -> int:
        return sum(1 for h in self.holds.values() if h.takes_capacity(now))

    def current_of(self, user_id: str) -> str | None:
        """The id of the user's latest hold, which a new hold would replace."""
        return self.user_holds.get(user_id)

    def own(self, hold_id: str, user_id: str) -> Hold | None:
        """The hold `hold_id` if it is the user's; another user's hold is as good as unknown."""
        hold = self.holds.get(hold_id)
        return hold if hold is not None and hold.user_id == user_id else None

    def replace(self, hold: Hold) -> None:
        """Records `hold` as its user's one hold, releasing the previous one's capacity."""
        previous_id = self.user_holds.get(hold.user_id)
        if previous_id is not None:
            previous = self.holds[previous_id]
            if previous.state == "active":
                previous.state = "released"
                self.holds_by_slot[previous.slot.id].discard(previous.id)
        self.holds[hold.id] = hold
        self.holds_by_slot[hold.slot.id].add(hold.id)
        self.user_holds[hold.user_id] = hold.id

    def consume(self, hold: Hold, order_id: str) -> None:
        hold.state = "consumed"
        self.holds_by_slot[hold.slot.id].discard(hold.id)
        hold.order_id = order_id

    def prune(self, now: datetime) -> None:
        """Forgets holds that ended over a day ago, so a long benchmark does not grow forever."""
        cutoff = now - timedelta(days=1)
        for hold_id in [h.id for h in self.holds.values() if h.expires_at < cutoff]:
            hold = self.holds.pop(hold_id)
            self.holds_by_slot[hold.slot.id].discard(hold_id)
            if self.user_holds.get(hold.user_id) == hold_id:
                del self.user_holds[hold.user_id]
