"""The order vocabulary: every status, placement state, fulfillment type and idempotency state,
with the rules that go with each. This is the one place they are spelled.

Instacart's order statuses are an open set (it may add one any day), so a stored status stays a
plain string; `OrderStatus` names the ones this service has rules for, and the functions below
answer for any string.
"""

from __future__ import annotations

import enum
from typing import Literal

# The storefront's type for a fulfillment (API.md), as the OpenAPI document spells it. Its values
# are `FulfillmentType`'s; tests/orders hold the two together.
Fulfillment = Literal["delivery", "pickup", "last_mile"]


class FulfillmentType(enum.StrEnum):
    DELIVERY = "delivery"
    PICKUP = "pickup"
    LAST_MILE = "last_mile"

    @property
    def needs_address(self) -> bool:
        """Delivery and last-mile orders go to the customer; pickup orders do not."""
        return self is not FulfillmentType.PICKUP

    @property
    def limits_units(self) -> bool:
        """Instacart caps the units of a delivery order (250)."""
        return self is FulfillmentType.DELIVERY


class PlacementState(enum.StrEnum):
    """Where a placement stands (the state machine, app/orders/state_machine.py)."""

    PENDING = "pending"  # intent recorded; an actor holding the lease may be creating it
    UNKNOWN = "unknown"  # the last create had an ambiguous outcome; settled by a lookup
    CREATED = "created"  # Instacart has the order
    FAILED = "failed"  # Instacart refused it, or a lookup showed it was never placed

    @property
    def is_unresolved(self) -> bool:
        return self in (PlacementState.PENDING, PlacementState.UNKNOWN)

    @property
    def customer_visible(self) -> bool:
        """Only an order Instacart has is an order to the customer."""
        return self is PlacementState.CREATED


class IdempotencyState(enum.StrEnum):
    IN_PROGRESS = "in_progress"  # a request holds the key
    COMPLETED = "completed"  # the answer is stored and replays


class OrderStatus(enum.StrEnum):
    """The statuses of Instacart's order workflow that this service has rules for."""

    BRAND_NEW = "brand_new"
    ACKNOWLEDGED = "acknowledged"
    PICKING = "picking"
    CHECKOUT = "checkout"
    STAGING = "staging"
    STAGED = "staged"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    CANCELED = "canceled"
    RESCHEDULED = "rescheduled"  # moves the window, not the order: it has no rank


class ItemStatus(enum.StrEnum):
    """What the shopper did with an ordered line, as Instacart reports it (an open set too)."""

    PENDING = "pending"
    FOUND = "found"
    REPLACED = "replaced"
    REFUNDED = "refunded"


# Where each status stands on the way to the customer: a callback never moves a status to a
# lower rank, and a terminal one is never left. Statuses not listed (rescheduled, and the open
# set Instacart may add) are ordered by time alone.
STATUS_RANKS: dict[str, int] = {
    OrderStatus.BRAND_NEW: 0,
    OrderStatus.ACKNOWLEDGED: 1,
    OrderStatus.PICKING: 2,
    OrderStatus.CHECKOUT: 3,
    OrderStatus.STAGING: 3,
    OrderStatus.STAGED: 4,
    OrderStatus.DELIVERING: 5,
    OrderStatus.DELIVERED: 9,
    OrderStatus.COMPLETED: 9,
    OrderStatus.CANCELED: 9,
}
TERMINAL_STATUSES = frozenset({OrderStatus.DELIVERED, OrderStatus.COMPLETED, OrderStatus.CANCELED})
# Callbacks of these statuses are checked with getOrder before they are applied: they end the
# order, move its window or hand it over, and a forged or misrouted one would mislead the customer.
DECISIVE_STATUSES = TERMINAL_STATUSES | {OrderStatus.RESCHEDULED, OrderStatus.STAGED}
# The status an order has before Instacart first says otherwise.
INITIAL_STATUS = OrderStatus.BRAND_NEW


KNOWN_STATUSES: frozenset[str] = frozenset(OrderStatus)


def is_known_status(status: str | None) -> bool:
    """Only statuses this service has words for are shown to a customer: a status name is
    Instacart's text, and an unexpected one (a typo, a test, a forged name) must not be."""
    return status in KNOWN_STATUSES


def status_rank(status: str) -> int | None:
    return STATUS_RANKS.get(status)


def is_terminal(status: str | None) -> bool:
    return status in TERMINAL_STATUSES


def is_cancelable(status: str | None) -> bool:
    """Instacart cancels an order only before it is acknowledged."""
    return (status or INITIAL_STATUS) == OrderStatus.BRAND_NEW


# The same sets as tuples, in the order the tables' CHECK constraints were written with.
FULFILLMENTS = tuple(FulfillmentType)
PLACEMENT_STATES = (
    PlacementState.PENDING,
    PlacementState.CREATED,
    PlacementState.UNKNOWN,
    PlacementState.FAILED,
)
UNRESOLVED_PLACEMENT_STATES = tuple(state for state in PlacementState if state.is_unresolved)
IDEMPOTENCY_STATES = tuple(IdempotencyState)
