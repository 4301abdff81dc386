"""Unknown store ids (issue 14, per-user budgets): answered from the retailer's store list with
no upstream call, and without a list Instacart's "no such store" is remembered briefly. The
sandbox counts every request it receives, so "no upstream call" is counted, not assumed."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sandbox import SandboxConfig, create_sandbox_app
from sandbox.data import store_catalogue
from tests.support.checkout import Checkout

UNKNOWN_IDS = 200
PREVIEWS = ("previewDeliveryTimeSlots", "previewPickupTimeSlots", "previewLastMileServiceOptions")


@pytest.fixture
def stores_file(tmp_path: Path) -> Path:
    """The sandbox's stores as a retailer's store list (GET /sandbox/catalog's shape)."""
    path = tmp_path / "stores.json"
    path.write_text(json.dumps({"stores": store_catalogue()}))
    return path


async def slots(checkout: Checkout, user: str, store_id: str, fulfillment: str = "pickup") -> Any:
    return await checkout.bff.get(
        f"/v1/stores/{store_id}/slots",
        params={"fulfillment": fulfillment},
        headers=checkout.auth(user),
    )


async def upstream_requests(checkout: Checkout) -> int:
    """Every request the sandbox has answered, of any operation (tokens included)."""
    return sum((await checkout.stats())["calls"].values())


async def test_200_unknown_store_ids_cost_no_upstream_call_with_a_store_list(
    open_checkout: Callable[..., Any], user: str, stores_file: Path
) -> None:
    # A budget of 5 upstream previews a minute: none of these may count against it.
    async with open_checkout(
        stores_file=stores_file, rate_limit_slot_misses_per_minute=5
    ) as checkout:
        before = await upstream_requests(checkout)
        for n in range(UNKNOWN_IDS):
            response = await slots(checkout, user, f"store-unknown-{n}")
            assert response.status_code == 404, response.text
            assert response.json()["code"] == "store_not_found"
            assert response.json()["param"] == "store_id"
        held = await checkout.bff.post(
            "/v1/reservations",
            json={"fulfillment": "pickup", "store_id": "store-unknown-0", "slot_id": "x"},
            headers=checkout.auth(user),
        )
        assert (held.status_code, held.json()["code"]) == (404, "store_not_found")
        # The list says store-sf-003 delivers only: refused without asking either.
        offered = await slots(checkout, user, "store-sf-003", "pickup")
        assert (offered.status_code, offered.json()["code"]) == (422, "fulfillment_not_offered")
        assert await upstream_requests(checkout) == before
        # A listed store is previewed as ever.
        assert (await slots(checkout, user, "store-sf-001")).status_code == 200
        assert await checkout.calls("previewPickupTimeSlots") == 1


async def test_without_a_list_an_unknown_store_is_asked_once_then_remembered(
    open_checkout: Callable[..., Any], user: str
) -> None:
    sandbox = create_sandbox_app(SandboxConfig(client_id=f"test-{uuid.uuid4().hex[:12]}"))
    async with (
        open_checkout(sandbox_app=sandbox) as replica_a,
        open_checkout(sandbox_app=sandbox) as replica_b,
    ):
        for replica in (replica_a, replica_b) * 25:
            response = await slots(replica, user, "store-nowhere")
            assert response.json()["code"] == "store_not_found"
        assert await replica_a.calls("previewPickupTimeSlots") == 1
        # Remembered per fulfillment: delivery is asked once more, then remembered too.
        for _ in range(10):
            response = await slots(replica_a, user, "store-nowhere", "delivery")
            assert response.json()["code"] == "store_not_found"
        assert await replica_a.calls("previewDeliveryTimeSlots") == 1
        # A store without this fulfillment is remembered as such.
        for _ in range(10):
            response = await slots(replica_b, user, "store-sf-003", "pickup")
            assert response.json()["code"] == "fulfillment_not_offered"
        assert await replica_a.calls("previewPickupTimeSlots") == 2


async def test_remembering_is_off_at_zero_seconds(
    open_checkout: Callable[..., Any], user: str
) -> None:
    async with open_checkout(unknown_store_cache_seconds=0) as checkout:
        for _ in range(3):
            assert (await slots(checkout, user, "store-nowhere")).status_code == 404
        assert await checkout.calls("previewPickupTimeSlots") == 3


async def test_a_remembered_refusal_expires_after_the_setting(
    open_checkout: Callable[..., Any], user: str
) -> None:
    async with open_checkout(unknown_store_cache_seconds=30) as checkout:
        assert (await slots(checkout, user, "store-nowhere")).status_code == 404
        redis = checkout.app.state.bff.redis
        [key] = [
            k
            async for k in redis.scan_iter(f"{checkout.settings.cache_namespace}:stores:missing:*")
        ]
        assert 0 < await redis.pttl(key) <= 30_000


async def test_an_unknown_store_costs_nothing_of_the_upstream_budget_once_remembered(
    open_checkout: Callable[..., Any], user: str
) -> None:
    async with open_checkout(rate_limit_slot_misses_per_minute=2) as checkout:
        for _ in range(20):
            response = await slots(checkout, user, "store-nowhere")
            assert response.json()["code"] == "store_not_found", response.text
        assert await checkout.calls("previewPickupTimeSlots") == 1
