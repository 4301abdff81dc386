"""A storefront's checkout calls on a blocking httpx client, for tests that talk to the BFF as a
real server from a thread of their own (a stream followed meanwhile, a signal sent)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

SF = {"postal_code": "94105"}


def reserve_pickup(bff: httpx.Client) -> dict[str, Any]:
    stores = bff.get("/v1/stores", params={"fulfillment": "pickup"} | SF).json()["stores"]
    store_id = stores[0]["id"]
    slots = bff.get(f"/v1/stores/{store_id}/slots", params={"fulfillment": "pickup"}).json()
    body = {"fulfillment": "pickup", "store_id": store_id, "slot_id": slots["slots"][0]["id"]}
    reserved = bff.post("/v1/reservations", json=body)
    assert reserved.status_code == 201, reserved.text
    return reserved.json()


def place(
    bff: httpx.Client, reservation: dict[str, Any], address: dict[str, str] | None = None
) -> httpx.Response:
    body: dict[str, Any] = {
        "reservation_id": reservation["id"],
        "items": [{"upc": "0001111041700", "quantity": 1}],
    }
    if address is not None:
        body["address"] = address
    return bff.post(
        "/v1/orders",
        json=body,
        headers={"Idempotency-Key": uuid.uuid4().hex},
        timeout=30,
    )
