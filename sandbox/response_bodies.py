"""The JSON bodies the sandbox answers with, shaped as the specification's responses.

Records (stores, slots, holds, orders) become bodies here and nowhere else, so that a field is
named and formatted once: times as ISO 8601 UTC to the second, as Instacart sends them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sandbox import data
from sandbox.data import Store
from sandbox.holds import Hold
from sandbox.order_book import Order
from sandbox.slot_grid import Slot


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def store_address_json(store: Store) -> dict[str, Any]:
    return {
        "address_line_1": store.address_line_1,
        "city": store.city,
        "state": store.state,
        "postal_code": store.postal_code,
    }


def store_json(store: Store, distance: float | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": store.id,
        "name": store.name,
        "address": store_address_json(store),
    }
    if distance is not None:
        out["distance"] = round(distance, 2)
    return out


def service_option_json(slot: Slot) -> dict[str, Any]:
    return {
        "id": slot.id,
        "date": slot.local_date.isoformat(),
        "window_starts_at": iso(slot.starts_at),
        "window_ends_at": iso(slot.ends_at),
        "fulfillment_type": slot.fulfillment_type,
    }


def hold_json(hold: Hold) -> dict[str, Any]:
    return {
        "hold_id": hold.id,
        "expires_at": iso(hold.expires_at),
        "service_option": service_option_json(hold.slot),
    }


def order_json(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "status": order.status,
        "created_at": iso(order.created_at),
        "fulfillment_type": order.fulfillment_type,
        "service_option": service_option_json(order.slot),
        "store": store_json(data.STORES_BY_ID[order.slot.store_id]),
        "items": [dict(item) for item in order.items],
    }


def order_summary_json(order: Order) -> dict[str, Any]:
    """An order as GET /sandbox/orders lists it: who, what, where, and its state."""
    return {
        "id": order.id,
        "user_id": order.user_id,
        "status": order.status,
        "fulfillment": order.fulfillment_type,
        "store_id": order.slot.store_id,
        "hold_id": order.hold_id,
        "created_at": iso(order.created_at),
        "updated_at": iso(order.updated_at),
    }
