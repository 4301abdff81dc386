"""Builders for rows in database tests, and the clean-up that keeps them out of others' way."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.orders.tables import OrderRow
from app.orders.vocabulary import UNRESOLVED_PLACEMENT_STATES
from app.reservations.tables import ReservationRow


def new_order_id() -> str:
    return f"ord_{uuid.uuid4().hex}"


def make_order(user_id: str, *, created_at: datetime | None = None, **overrides: Any) -> OrderRow:
    values: dict[str, Any] = {
        "id": new_order_id(),
        "user_id": user_id,
        "fulfillment": "delivery",
        "store_id": "store-1",
        "slot": {
            "id": "slot-1",
            "date": "2026-11-27",
            "starts_at": "2026-11-27T10:00:00Z",
            "ends_at": "2026-11-27T12:00:00Z",
            "fulfillment": "delivery",
        },
        "items": [{"upc": "012345678905", "product_id": None, "name": None, "quantity": 2}],
        "hold_id": "hold-1",
        "reservation_id": "res-1",
        "address": {"address_line_1": "1 Main St", "postal_code": "94105"},
    }
    if created_at is not None:
        values["created_at"] = created_at
    values.update(overrides)
    return OrderRow(**values)


def make_reservation(user_id: str, *, retain_until: datetime, **overrides: Any) -> ReservationRow:
    values: dict[str, Any] = {
        "id": f"res_{uuid.uuid4().hex}",
        "user_id": user_id,
        "fulfillment": "delivery",
        "store_id": "store-1",
        "hold_id": f"hold_{uuid.uuid4().hex}",
        "slot": {"id": "slot-1", "date": "2026-11-27", "fulfillment": "delivery"},
        "retain_until": retain_until,
    }
    values.update(overrides)
    return ReservationRow(**values)


async def settle_unresolved_orders(session: AsyncSession, user_id: str) -> None:
    """Mark a user's pending/unknown rows failed, so no other test's reconciler picks them up.

    A direct UPDATE, not a state-machine move: clean-up must work whatever a test left behind.
    """
    await session.execute(
        update(OrderRow)
        .where(
            OrderRow.user_id == user_id, OrderRow.placement_state.in_(UNRESOLVED_PLACEMENT_STATES)
        )
        .values(placement_state="failed", failure_code="test_cleanup", lease_until=None)
        .execution_options(synchronize_session=False)
    )
    await session.commit()
