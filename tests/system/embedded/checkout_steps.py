"""The storefront's side of a checkout, step by step, on any httpx client (sync or async)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.support.addresses import SF_ADDRESS


def stores_params() -> dict[str, str]:
    return {"fulfillment": "delivery", "postal_code": SF_ADDRESS["postal_code"]}


def slots_params() -> dict[str, str]:
    return {"fulfillment": "delivery"} | SF_ADDRESS


def reservation_body(store_id: str, slot_id: str) -> dict[str, Any]:
    return {
        "fulfillment": "delivery",
        "store_id": store_id,
        "slot_id": slot_id,
        "address": SF_ADDRESS,
    }


def order_body(reservation_id: str) -> dict[str, Any]:
    return {
        "reservation_id": reservation_id,
        "items": [{"upc": "0001111041700", "quantity": 2}],
        "address": SF_ADDRESS,
    }


def new_key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}
