"""An order placed and moved on at Instacart (the sandbox), and a ticket to follow it: what the
live-status tests of this package share."""

from __future__ import annotations

from typing import Any

from tests.support.checkout import Checkout
from tests.support.event_streams import events_path


async def placed_order(checkout: Checkout, user: str) -> dict[str, Any]:
    reservation = await checkout.reserve("delivery", user)
    placed = await checkout.place(reservation, user)
    assert placed.status_code == 201, placed.text
    return placed.json()


async def advance(checkout: Checkout, order_id: str, user: str, status: str | None = None) -> str:
    """Move the order on at Instacart (the sandbox), then let the BFF see it with a read."""
    body = {"status": status} if status else {}
    moved = await checkout.sandbox.post(f"/sandbox/orders/{order_id}/advance", json=body)
    assert moved.status_code == 200, moved.text
    seen = await checkout.bff.get(f"/v1/orders/{order_id}", headers=checkout.auth(user))
    assert seen.status_code == 200, seen.text
    assert seen.json()["status"] == moved.json()["status"]
    return str(moved.json()["status"])


async def issue_ticket(checkout: Checkout, order_id: str, user: str) -> str:
    response = await checkout.bff.post(
        f"{events_path(order_id)}/ticket", headers=checkout.auth(user)
    )
    assert response.status_code == 201, response.text
    return str(response.json()["ticket"])
