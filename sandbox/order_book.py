"""Orders and their status moves: every order the sandbox holds, and the rules each move obeys.

Creating an order also takes a hold and capacity, so it is put together in `state.py`; once
created, an order is the book's. Its status moves by cancel (only from brand_new), by stage
(last mile only), by advance (along its workflow, or to any status named) and by the
auto-advance tick. Every move, creation included, is told to the listeners (the callback
sender) as a `StatusChange`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sandbox.data import FULFILLMENT_TYPES, LAST_MILE
from sandbox.errors import ErrorCode, SandboxError
from sandbox.order_workflow import ITEMS_FOUND_AFTER, next_status
from sandbox.slot_grid import Slot

# path segments that share their position with {order_id} in the specification's paths
RESERVED_ORDER_IDS = frozenset({"delivery", "pickup"})
_ORDER_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


@dataclass(slots=True)
class Order:
    id: str
    user_id: str
    fulfillment_type: str
    slot: Slot
    status: str
    created_at: datetime
    updated_at: datetime
    items: list[dict[str, Any]]
    hold_id: str
    # kept for realism and never logged or returned: they are personal data
    delivery_address: dict[str, Any] | None = field(default=None, repr=False)
    delivery_instructions: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class StatusChange:
    order: Order
    status: str
    previous: str | None
    at: datetime


Listener = Callable[[StatusChange], None]


def check_order_id(order_id: str | None) -> None:
    """Refuses a retailer order id (UPSTREAM.md 2.1) that could not stand in a path."""
    if order_id is not None and (
        not _ORDER_ID_RE.match(order_id) or order_id in RESERVED_ORDER_IDS
    ):
        raise SandboxError(
            400,
            "order_id must be 1 to 64 letters, digits, '.', '_', ':' or '-' "
            "and not 'delivery' or 'pickup'",
            key="order_id",
        )


def _status_not_allowed(action: str, order: Order) -> SandboxError:
    return SandboxError(
        400,
        f"order cannot be {action} in status {order.status}",
        key="status",
        code=ErrorCode.STATUS_NOT_ALLOWED,
    )


class OrderBook:
    """Every order by id (in creation order) and the orders of each slot."""

    def __init__(self, clock: Callable[[], datetime], listeners: list[Listener]) -> None:
        self._clock = clock
        self._listeners = listeners
        self.orders: dict[str, Order] = {}
        self.orders_by_slot: dict[str, set[str]] = defaultdict(set)

    def __contains__(self, order_id: str) -> bool:
        return order_id in self.orders

    def __len__(self) -> int:
        return len(self.orders)

    def check_new(self, order_id: str | None) -> None:
        """Refuses a retailer order id that is already taken: a create never makes two."""
        if order_id is not None and order_id in self.orders:
            raise SandboxError(
                400,
                f"order_id {order_id} already exists",
                key="order_id",
                code=ErrorCode.ORDER_ID_EXISTS,
            )

    def booked(self, slot_id: str) -> int:
        """How much of a slot's capacity its orders take: all but the canceled ones."""
        return sum(
            1
            for oid in self.orders_by_slot.get(slot_id, ())
            if self.orders[oid].status != "canceled"
        )

    def add(self, order: Order) -> None:
        """Records a new order and tells the listeners it exists."""
        self.orders[order.id] = order
        self.orders_by_slot[order.slot.id].add(order.id)
        self._announce(order, None, order.created_at)

    def of(self, user_id: str | None, order_id: str) -> Order:
        """The order, if it is the user's (any user's for None); else 404."""
        order = self.orders.get(order_id)
        if order is None or (user_id is not None and order.user_id != user_id):
            raise SandboxError(404, "order not found", key="order_id")
        return order

    def matching(
        self, user_id: str | None, status: str | None, fulfillment: str | None
    ) -> list[Order]:
        """Every order, oldest first, optionally only those matching each filter given."""
        if fulfillment is not None and fulfillment not in FULFILLMENT_TYPES:
            raise SandboxError(
                400, f"fulfillment must be one of {', '.join(FULFILLMENT_TYPES)}", key="fulfillment"
            )
        # sorted() is stable: orders created at the same instant stay in creation order
        orders = sorted(self.orders.values(), key=lambda o: o.created_at)
        return [
            order
            for order in orders
            if (user_id is None or order.user_id == user_id)
            and (status is None or order.status == status)
            and (fulfillment is None or order.fulfillment_type == fulfillment)
        ]

    def cancel(self, order: Order) -> None:
        if order.status != "brand_new":
            raise _status_not_allowed("canceled", order)
        self._set_status(order, "canceled")

    def stage(self, order: Order) -> None:
        if order.fulfillment_type != LAST_MILE:
            raise SandboxError(400, "only last_mile orders can be staged", key="order_id")
        if order.status == "brand_new":
            self._set_status(order, "staging")
        elif order.status != "staging":
            raise _status_not_allowed("staged", order)

    def advance(self, order: Order, status: str | None) -> None:
        """Moves an order to the next status of its workflow, or to the status named."""
        if status is None:
            status = next_status(order.fulfillment_type, order.status)
            if status is None:
                raise SandboxError(
                    409,
                    f"no next status after {order.status}; name the status to set",
                    key="status",
                    code=ErrorCode.STATUS_NOT_ALLOWED,
                )
        if status != order.status:
            self._set_status(order, status)

    def advance_all(self) -> list[tuple[str, str]]:
        """Moves every order one step along its workflow, as `advance` without a status does.

        Orders at the end of their workflow, canceled, or off it (a status set by name, such
        as rescheduled) stay. Answers the (order id, new status) of each move, oldest first.
        """
        moved = []
        for order in list(self.orders.values()):  # insertion order: oldest first
            status = next_status(order.fulfillment_type, order.status)
            if status is not None:
                self._set_status(order, status)
                moved.append((order.id, status))
        return moved

    def _set_status(self, order: Order, status: str) -> None:
        previous = order.status
        now = self._clock()
        order.status = status
        order.updated_at = now
        if status in ITEMS_FOUND_AFTER:
            for item in order.items:
                if item["status"] == "pending":
                    item["status"] = "found"
        self._announce(order, previous, now)

    def _announce(self, order: Order, previous: str | None, now: datetime) -> None:
        change = StatusChange(order=order, status=order.status, previous=previous, at=now)
        for listener in self._listeners:
            listener(change)
