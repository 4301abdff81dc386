"""Builders for rows in database tests."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from app.db.models import Order


def new_order_id() -> str:
    return f"ord_{uuid.uuid4().hex}"


def make_order(user_id: str, *, created_at: datetime | None = None, **overrides: Any) -> Order:
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
    return Order(**values)
