"""Refresh-ahead of slot previews through the BFF and the sandbox: after the first request, a
preview asked for at least once per TTL never waits on Instacart, and the metrics say so."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import Any

from prometheus_client import REGISTRY

from sandbox import SandboxConfig, create_sandbox_app
from tests.support.addresses import SF_ADDRESS
from tests.support.checkout import Checkout
from tests.support.clock import FakeClock

# No stale window: a preview past its TTL is a miss, so only refreshing ahead avoids waits.
NO_STALE = {"slot_cache_stale_seconds": 0, "slot_cache_refresh_at": 0.75}


def counted(name: str, fulfillment: str = "delivery") -> float:
    return REGISTRY.get_sample_value(name, {"fulfillment": fulfillment}) or 0.0


def slot_counts() -> tuple[float, float]:
    """Slot preview requests so far, and those of them that waited on Instacart."""
    return (
        counted("bff_slot_previews_total"),
        counted("bff_slot_preview_upstream_waits_total"),
    )


async def preview(checkout: Checkout, store_id: str, user: str) -> int:
    params = {"fulfillment": "delivery"} | SF_ADDRESS
    response = await checkout.bff.get(
        f"/v1/stores/{store_id}/slots", params=params, headers=checkout.auth(user)
    )
    return response.status_code


def use_clock(checkout: Checkout, clock: FakeClock) -> None:
    checkout.app.state.bff.checkout.catalog.slot_cache.clock = clock.time


async def refreshes_done(checkout: Checkout) -> None:
    await checkout.app.state.bff.checkout.catalog.slot_cache.refreshes_done()


async def test_a_preview_asked_for_once_per_ttl_waits_on_instacart_only_the_first_time(
    open_checkout: Callable[..., Any], user: str
) -> None:
    clock = FakeClock()
    async with open_checkout(**NO_STALE) as checkout:
        use_clock(checkout, clock)
        ttl = checkout.settings.slot_cache_ttl_seconds
        store_id = await checkout.first_store("delivery", user)
        requests_before, waits_before = slot_counts()
        assert await preview(checkout, store_id, user) == 200
        for round_ in range(1, 6):
            clock.advance(0.9 * ttl)  # once per TTL, past the refresh point
            assert await preview(checkout, store_id, f"{user}-{round_}") == 200
            await refreshes_done(checkout)
            assert await checkout.calls("previewDeliveryTimeSlots") == 1 + round_
        requests, waits = slot_counts()
        assert (requests - requests_before, waits - waits_before) == (6, 1)


async def test_two_replicas_refresh_a_preview_once(
    open_checkout: Callable[..., Any], user: str
) -> None:
    sandbox_app = create_sandbox_app(SandboxConfig(client_id=f"test-{uuid.uuid4().hex[:12]}"))
    clock = FakeClock()
    async with contextlib.AsyncExitStack() as stack:
        replicas = [
            await stack.enter_async_context(open_checkout(sandbox_app=sandbox_app, **NO_STALE))
            for _ in range(2)
        ]
        for replica in replicas:
            use_clock(replica, clock)
        ttl = replicas[0].settings.slot_cache_ttl_seconds
        store_id = await replicas[0].first_store("delivery", user)
        for replica in replicas:
            assert await preview(replica, store_id, user) == 200
        assert await replicas[0].calls("previewDeliveryTimeSlots") == 1

        clock.advance(0.8 * ttl)
        _, waits_before = slot_counts()
        statuses = await asyncio.gather(
            *(preview(replica, store_id, f"{user}-{n}") for replica in replicas for n in range(10))
        )
        assert set(statuses) == {200}
        await asyncio.gather(*(refreshes_done(replica) for replica in replicas))
        assert await replicas[0].calls("previewDeliveryTimeSlots") == 2
        assert slot_counts()[1] == waits_before  # every one of them answered from the cache


async def test_a_preview_nobody_asks_for_is_not_refreshed(
    open_checkout: Callable[..., Any], user: str
) -> None:
    clock = FakeClock()
    async with open_checkout(**NO_STALE) as checkout:
        use_clock(checkout, clock)
        ttl = checkout.settings.slot_cache_ttl_seconds
        store_id = await checkout.first_store("delivery", user)
        assert await preview(checkout, store_id, user) == 200
        for _ in range(3):
            clock.advance(0.9 * ttl)
            await refreshes_done(checkout)
        # nothing asked for it: no refresh ran, and the next request waits for a fresh preview
        assert await checkout.calls("previewDeliveryTimeSlots") == 1
        _, waits_before = slot_counts()
        assert await preview(checkout, store_id, user) == 200
        assert await checkout.calls("previewDeliveryTimeSlots") == 2
        assert slot_counts()[1] == waits_before + 1


async def test_a_reservation_after_a_refresh_still_invalidates_the_preview(
    open_checkout: Callable[..., Any], user: str
) -> None:
    clock = FakeClock()
    async with open_checkout(capacity=1, **NO_STALE) as checkout:
        use_clock(checkout, clock)
        ttl = checkout.settings.slot_cache_ttl_seconds
        store_id = await checkout.first_store("pickup", user)
        await checkout.first_slot("pickup", store_id, user)
        clock.advance(0.9 * ttl)
        await checkout.first_slot("pickup", store_id, user)  # refreshes ahead
        await refreshes_done(checkout)
        assert await checkout.calls("previewPickupTimeSlots") == 2
        taken = await checkout.reserve("pickup", user)  # the only hold the slot had
        listed = await checkout.bff.get(
            f"/v1/stores/{store_id}/slots",
            params={"fulfillment": "pickup"},
            headers=checkout.auth(f"{user}-2"),
        )
        assert taken["slot"]["id"] not in {s["id"] for s in listed.json()["slots"]}
