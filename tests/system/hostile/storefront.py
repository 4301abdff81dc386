"""An honest customer's checkout against the served instance: the orders the attacks aim at."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

SF_ADDRESS = {
    "address_line_1": "101 Spear St",
    "city": "San Francisco",
    "state": "CA",
    "postal_code": "94105",
}


def place_order(bff: httpx.Client, headers: dict[str, str], fulfillment: str) -> dict[str, Any]:
    """Find a store, hold its first slot and place an order there; the order as answered."""
    stores = bff.get(
        "/v1/stores",
        params={"fulfillment": fulfillment, "postal_code": SF_ADDRESS["postal_code"]},
        headers=headers,
    )
    assert stores.status_code == 200, stores.text
    store_id = stores.json()["stores"][0]["id"]
    address = {} if fulfillment == "pickup" else SF_ADDRESS
    slots = bff.get(
        f"/v1/stores/{store_id}/slots",
        params={"fulfillment": fulfillment} | address,
        headers=headers,
    )
    assert slots.status_code == 200, slots.text
    hold: dict[str, Any] = {
        "fulfillment": fulfillment,
        "store_id": store_id,
        "slot_id": slots.json()["slots"][0]["id"],
    }
    order: dict[str, Any] = {"items": [{"upc": "0001111041700", "quantity": 2}]}
    if address:
        hold["address"] = order["address"] = address
    reservation = bff.post("/v1/reservations", json=hold, headers=headers)
    assert reservation.status_code == 201, reservation.text
    placed = bff.post(
        "/v1/orders",
        json=order | {"reservation_id": reservation.json()["id"]},
        headers=headers | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert placed.status_code == 201, placed.text
    return placed.json()
