"""Slot previews through the shared cache: one upstream call per key for the whole fleet."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import Any

from local_processes.waiting import wait_until_async
from sandbox import SandboxConfig, create_sandbox_app
from tests.support.addresses import SF_ADDRESS
from tests.support.checkout import Checkout
from tests.support.clock import FakeClock


async def slot_requests(checkout: Checkout, store_id: str, user: str, n: int) -> list[int]:
    params = {"fulfillment": "delivery"} | SF_ADDRESS
    responses = await asyncio.gather(
        *(
            checkout.bff.get(
                f"/v1/stores/{store_id}/slots", params=params, headers=checkout.auth(user)
            )
            for _ in range(n)
        )
    )
    return [r.status_code for r in responses]


async def test_200_cold_requests_from_two_replicas_cost_one_preview(
    open_checkout: Callable[..., Any], user: str
) -> None:
    sandbox_app = create_sandbox_app(SandboxConfig(client_id=f"test-{uuid.uuid4().hex[:12]}"))
    clock = FakeClock()
    async with contextlib.AsyncExitStack() as stack:
        replicas = [
            await stack.enter_async_context(open_checkout(sandbox_app=sandbox_app))
            for _ in range(2)
        ]
        for replica in replicas:
            replica.app.state.bff.checkout.catalog.slot_cache.clock = clock.time
        store_id = await replicas[0].first_store("delivery", user)

        statuses = await asyncio.gather(
            *(slot_requests(replica, store_id, user, 100) for replica in replicas)
        )
        assert {s for batch in statuses for s in batch} == {200}
        assert await replicas[0].calls("previewDeliveryTimeSlots") == 1

        # past the TTL: one caller refreshes, the rest get the stale copy
        clock.advance(replicas[0].settings.slot_cache_ttl_seconds + 0.1)
        statuses = await asyncio.gather(
            *(slot_requests(replica, store_id, user, 50) for replica in replicas)
        )
        assert {s for batch in statuses for s in batch} == {200}

        async def refreshed() -> bool:
            return await replicas[0].calls("previewDeliveryTimeSlots") >= 2

        await wait_until_async(refreshed, what="one refresh of the stale preview")
        assert await replicas[0].calls("previewDeliveryTimeSlots") == 2


async def test_a_reservation_invalidates_the_stores_previews(checkout: Checkout, user: str) -> None:
    store_id = await checkout.first_store("delivery", user)
    await slot_requests(checkout, store_id, user, 3)
    before = await checkout.calls("previewDeliveryTimeSlots")
    await checkout.reserve("delivery", user)  # same store: the nearest one
    # reserving read the warm cache: no preview of its own
    assert await checkout.calls("previewDeliveryTimeSlots") == before
    await slot_requests(checkout, store_id, user, 3)
    assert await checkout.calls("previewDeliveryTimeSlots") == before + 1


async def test_a_full_slot_disappears_from_the_preview(
    open_checkout: Callable[..., Any], user: str
) -> None:
    async with open_checkout(capacity=1) as checkout:
        store_id = await checkout.first_store("pickup", user)
        taken = await checkout.reserve("pickup", user)
        slot_ids = [
            s["id"]
            for s in (
                await checkout.bff.get(
                    f"/v1/stores/{store_id}/slots",
                    params={"fulfillment": "pickup"},
                    headers=checkout.auth(user + "-2"),
                )
            ).json()["slots"]
        ]
        assert taken["slot"]["id"] not in slot_ids
        # and reserving it anyway is a clean 409
        response = await checkout.bff.post(
            "/v1/reservations",
            json={"fulfillment": "pickup", "store_id": store_id, "slot_id": taken["slot"]["id"]},
            headers=checkout.auth(user + "-2"),
        )
        assert response.status_code == 409
        assert response.json()["code"] == "slot_unavailable"


async def test_slot_previews_instacart_must_answer_have_a_per_user_budget(
    open_checkout: Callable[..., Any], user: str
) -> None:
    async with open_checkout(rate_limit_slot_misses_per_minute=3) as checkout:
        store_id = await checkout.first_store("delivery", user)

        async def preview(address_line_1: str, store: str = store_id) -> int:
            params = {"fulfillment": "delivery"} | SF_ADDRESS | {"address_line_1": address_line_1}
            answer = await checkout.bff.get(
                f"/v1/stores/{store}/slots", params=params, headers=checkout.auth(user)
            )
            return answer.status_code

        before = await checkout.calls("previewDeliveryTimeSlots")
        assert [await preview(f"{n} Spear St") for n in range(1, 4)] == [200, 200, 200]
        assert await preview("4 Spear St") == 429  # a fourth new address
        assert await preview("unknown-store", store="no-such-store") == 429
        assert await preview("1 Spear St") == 200  # cached: costs Instacart nothing
        assert await checkout.calls("previewDeliveryTimeSlots") - before == 3
        # another user has a budget of their own
        other = await checkout.bff.get(
            f"/v1/stores/{store_id}/slots",
            params={"fulfillment": "delivery"} | SF_ADDRESS | {"address_line_1": "9 Main St"},
            headers=checkout.auth(f"{user}-other"),
        )
        assert other.status_code == 200
