"""An order that Instacart moves back still follows it (issue 15, finding 2).

The real API moves orders back (picking -> rescheduled -> acknowledged). When the callbacks of
those moves are lost, what getOrder answers now is the truth: a read and the reconciler's
follow-up apply it, although it is an earlier step than the status stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from local_processes.postgres import upgrade
from tests.checkout.placements import reconciler_for
from tests.support.checkout import Checkout


async def _move(checkout: Checkout, order_id: str, status: str) -> None:
    moved = await checkout.sandbox.post(
        f"/sandbox/orders/{order_id}/advance", json={"status": status}
    )
    assert moved.status_code == 200, moved.text


async def _placed_and_picking(checkout: Checkout, user: str) -> str:
    reservation = await checkout.reserve("pickup", user)
    placed = await checkout.place(reservation, user)
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    await _move(checkout, order_id, "picking")
    read = await checkout.bff.get(f"/v1/orders/{order_id}", headers=checkout.auth(user))
    assert read.json()["status"] == "picking"
    return order_id


async def test_a_read_shows_an_order_moved_back_when_its_callbacks_were_lost(
    open_checkout: Callable[..., Any], user: str
) -> None:
    async with open_checkout(order_refresh_seconds=0) as checkout:
        order_id = await _placed_and_picking(checkout, user)
        # no callbacks reach this BFF: the moves back are lost
        await _move(checkout, order_id, "rescheduled")
        await _move(checkout, order_id, "acknowledged")

        read = await checkout.bff.get(f"/v1/orders/{order_id}", headers=checkout.auth(user))
        assert read.status_code == 200
        assert read.json()["status"] == "acknowledged"
        # and it keeps moving forward from there
        await _move(checkout, order_id, "picking")
        again = await checkout.bff.get(f"/v1/orders/{order_id}", headers=checkout.auth(user))
        assert again.json()["status"] == "picking"


async def test_the_follow_up_brings_back_an_order_moved_back_when_its_callbacks_were_lost(
    open_checkout: Callable[..., Any], fresh_database_url: str, user: str
) -> None:
    # a database of its own: the follow-up takes the quietest orders of the whole table
    await asyncio.to_thread(upgrade, fresh_database_url)
    async with open_checkout(database_url=fresh_database_url, order_refresh_seconds=0) as checkout:
        order_id = await _placed_and_picking(checkout, user)
        await _move(checkout, order_id, "acknowledged")

        reconciler = reconciler_for(checkout)
        reconciler.follow_up_after = timedelta(0)  # news is overdue at once
        summary = await reconciler.run_once()
        assert (summary.followed_up, summary.follow_ups_changed) == (1, 1)

        listed = await checkout.bff.get("/v1/orders", headers=checkout.auth(user))
        [order] = listed.json()["orders"]
        assert (order["id"], order["status"]) == (order_id, "acknowledged")
