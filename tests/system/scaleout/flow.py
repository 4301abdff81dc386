"""One whole checkout through a BFF, the same whatever Redis and Postgres stand behind it."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.live_status.fan_out import Listener, OrderEventsFanOut
from app.orders.events import OrderChange, OrderEvents
from app.platform.errors import RateLimited
from app.platform.rate_limits import RateLimiter
from local_processes.waiting import wait_until_async
from tests.support.addresses import SF_ADDRESS
from tests.support.checkout import Checkout


async def whole_checkout(checkout: Checkout, user: str) -> dict[str, Any]:
    """Stores, a cached slot preview, a reservation that invalidates it, an order, its replay
    and a read; returns the order. Asserts every step, and the cache's upstream calls."""

    # Readiness allows each dependency 0.5 s; on a loaded 2-core machine one answer can miss
    # that, so ask again (with a deadline) rather than fail on the first.
    async def ready() -> bool:
        return (await checkout.bff.get("/readyz")).status_code == 200

    await wait_until_async(ready, what="the BFF ready", interval=0.1)

    store_id = await checkout.first_store("delivery", user)
    params = {"fulfillment": "delivery"} | SF_ADDRESS
    previews = await checkout.calls("previewDeliveryTimeSlots")
    creates = await checkout.calls("createDeliveryOrder")
    for _ in range(2):
        slots = await checkout.bff.get(
            f"/v1/stores/{store_id}/slots", params=params, headers=checkout.auth(user)
        )
        assert slots.status_code == 200, slots.text
    # the second from the cache (the first too, when an earlier checkout filled it)
    assert await checkout.calls("previewDeliveryTimeSlots") <= previews + 1
    previews = await checkout.calls("previewDeliveryTimeSlots")

    reservation = await checkout.reserve("delivery", user)  # a hit, then an invalidation
    assert await checkout.calls("previewDeliveryTimeSlots") == previews
    again = await checkout.bff.get(
        f"/v1/stores/{store_id}/slots", params=params, headers=checkout.auth(user)
    )
    assert again.status_code == 200, again.text
    assert await checkout.calls("previewDeliveryTimeSlots") == previews + 1  # group dropped

    key = uuid.uuid4().hex
    placed = await checkout.place(reservation, user, key)
    assert placed.status_code == 201, placed.text
    replay = await checkout.place(reservation, user, key)
    assert replay.status_code == 201, replay.text
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == placed.json()
    assert await checkout.calls("createDeliveryOrder") == creates + 1

    order = placed.json()
    read = await checkout.bff.get(f"/v1/orders/{order['id']}", headers=checkout.auth(user))
    assert read.status_code == 200, read.text
    assert read.json()["id"] == order["id"]
    return order


async def rate_limit_holds(checkout: Checkout, user: str) -> None:
    """The app's limiter on the app's Redis client: the third call in a minute is refused."""
    limiter = RateLimiter(
        checkout.app.state.bff.redis, "scaleout", 2, namespace=checkout.settings.cache_namespace
    )
    await limiter.hit(user)
    await limiter.hit(user)
    with pytest.raises(RateLimited):
        await limiter.hit(user)


@contextlib.asynccontextmanager
async def fan_out_on(client: Any, events: OrderEvents) -> AsyncIterator[OrderEventsFanOut]:
    """A fan-out of order events over `client`, as a replica's streams have over theirs."""
    fan_out = OrderEventsFanOut(client, events.channel)
    fan_out.start()
    try:
        yield fan_out
    finally:
        await fan_out.aclose()


async def next_change_after(subscription: Listener, version: int) -> OrderChange:
    async def newer() -> OrderChange | None:
        change = await subscription.next_change(1.0)
        return change if change is not None and change.version > version else None

    return await wait_until_async(newer, what=f"an order change after version {version}")


async def order_change_reaches(
    checkout: Checkout, order: dict[str, Any], user: str, *subscribers: OrderEventsFanOut
) -> None:
    """Each subscriber sees the change that a read publishes after Instacart moved the order.

    Needs ``order_refresh_seconds=0``, so that the read asks Instacart at once.
    """
    async with contextlib.AsyncExitStack() as stack:
        subscriptions = [
            await stack.enter_async_context(fan_out.subscribe(order["id"]))
            for fan_out in subscribers
        ]
        moved = await checkout.sandbox.post(f"/sandbox/orders/{order['id']}/advance", json={})
        assert moved.status_code == 200, moved.text
        read = await checkout.bff.get(f"/v1/orders/{order['id']}", headers=checkout.auth(user))
        assert read.status_code == 200, read.text
        assert read.json()["status"] == moved.json()["status"]
        changes = await asyncio.gather(
            *(next_change_after(s, order.get("version", 0)) for s in subscriptions)
        )
    for change in changes:
        assert change.order["id"] == order["id"]
        assert change.order["status"] == moved.json()["status"]
