"""Idempotent placement: one Instacart order per key, replays, conflicts and misuse."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from tests.checkout.placements import wait_for_lease
from tests.support.checkout import Checkout


async def test_50_concurrent_identical_placements_make_one_order(
    checkout: Checkout, user: str
) -> None:
    reservation = await checkout.reserve("delivery", user)
    key = uuid.uuid4().hex
    responses = await asyncio.gather(*(checkout.place(reservation, user, key) for _ in range(50)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.content for r in responses}) == 1
    assert await checkout.calls("createDeliveryOrder") == 1
    replayed = [r for r in responses if r.headers.get("idempotent-replayed") == "true"]
    assert len(replayed) == 49
    listed = await checkout.bff.get("/v1/orders", headers=checkout.auth(user))
    assert len(listed.json()["orders"]) == 1


async def test_replay_after_success_returns_the_stored_response(
    checkout: Checkout, user: str
) -> None:
    reservation = await checkout.reserve("pickup", user)
    first = await checkout.place(reservation, user, "key-1")
    # the order moves on; the replay still answers what the first request answered
    await checkout.sandbox.post(f"/sandbox/orders/{first.json()['id']}/advance")
    again = await checkout.place(reservation, user, "key-1")
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await checkout.calls("createPickupOrder") == 1


async def test_same_key_with_another_body_is_422(checkout: Checkout, user: str) -> None:
    reservation = await checkout.reserve("pickup", user)
    assert (await checkout.place(reservation, user, "key-2")).status_code == 201
    other = await checkout.place(
        reservation, user, "key-2", items=[{"upc": "0001111041700", "quantity": 3}]
    )
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert await checkout.calls("createPickupOrder") == 1


async def test_keys_are_per_user(checkout: Checkout, user: str) -> None:
    other = user + "-other"
    mine = await checkout.place(await checkout.reserve("pickup", user), user, "shared-key")
    theirs = await checkout.place(await checkout.reserve("pickup", other), other, "shared-key")
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]


async def test_retry_while_the_first_is_in_flight_is_409(
    open_checkout: Callable[..., Any], user: str
) -> None:
    async with open_checkout(idempotency_replay_wait_seconds=0.2) as checkout:
        reservation = await checkout.reserve("delivery", user)
        await checkout.faults({"operations": {"createDeliveryOrder": {"latency_ms": 1500}}})
        first = asyncio.create_task(checkout.place(reservation, user, "slow-key"))
        await wait_for_lease(checkout, user, attempt=1)  # the first holds the placement
        retry = await checkout.place(reservation, user, "slow-key")
        assert retry.status_code == 409
        assert retry.json()["code"] == "request_in_progress"
        assert (await first).status_code == 201
        assert await checkout.calls("createDeliveryOrder") == 1


async def test_missing_idempotency_key_is_400(checkout: Checkout, user: str) -> None:
    reservation = await checkout.reserve("pickup", user)
    response = await checkout.bff.post(
        "/v1/orders",
        json={
            "reservation_id": reservation["id"],
            "items": [{"upc": "0001111041700", "quantity": 1}],
        },
        headers=checkout.auth(user),
    )
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_missing"
    assert await checkout.calls("createPickupOrder") == 0


async def test_unknown_reservation_is_404_reservation_not_found(
    checkout: Checkout, user: str
) -> None:
    response = await checkout.place({"id": "res_nope", "fulfillment": "pickup"}, user)
    assert response.status_code == 404
    assert response.json()["code"] == "reservation_not_found"


async def test_someone_elses_reservation_cannot_be_used(checkout: Checkout, user: str) -> None:
    reservation = await checkout.reserve("pickup", user)
    response = await checkout.place(reservation, "mallory")
    assert response.status_code == 404
    assert response.json()["code"] == "reservation_not_found"
    assert await checkout.calls("createPickupOrder") == 0
