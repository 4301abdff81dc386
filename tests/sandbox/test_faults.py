"""Fault injection: latency, error rates, fail_next, hangs and lost answers."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from local_processes.waiting import wait_until_async
from tests.sandbox.helpers import assert_error, create, hold, options

STORES = "/v2/fulfillment/stores/delivery"
WHERE = {"postal_code": "94105"}


async def set_faults(client: httpx.AsyncClient, body: dict) -> dict:
    response = await client.put("/sandbox/faults", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def test_latency_delays_the_answer(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    await set_faults(client, {"operations": {"findDeliveryStores": {"latency_ms": 300}}})
    started = time.monotonic()
    response = await client.post(STORES, json=WHERE, headers=auth)
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_error_rate_one_always_fails_with_the_status(
    client: httpx.AsyncClient, auth: dict[str, str], status: int
) -> None:
    fault = {"error_rate": 1.0, "status": status}
    await set_faults(client, {"operations": {"findDeliveryStores": fault}})
    for _ in range(3):
        assert_error(await client.post(STORES, json=WHERE, headers=auth), status, "sandbox fault")
    assert "retry-after" not in (await client.post(STORES, json=WHERE, headers=auth)).headers


async def test_error_rate_is_deterministic_for_a_seed(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    async def run() -> list[int]:
        await client.post("/sandbox/reset")
        await set_faults(client, {"operations": {"*": {"error_rate": 0.5, "status": 500}}})
        return [(await client.post(STORES, json=WHERE)).status_code for _ in range(20)]

    first = await run()
    assert first == await run()
    assert set(first) == {401, 500}  # the rest reach the (failing) auth check


async def test_fail_next_fails_exactly_n_calls_then_succeeds(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await set_faults(client, {"operations": {"findDeliveryStores": {"fail_next": 2}}})
    statuses = [(await client.post(STORES, json=WHERE, headers=auth)).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert (await client.get("/sandbox/faults")).json()["operations"]["findDeliveryStores"][
        "fail_next"
    ] == 0
    stats = (await client.get("/sandbox/stats")).json()
    assert stats["responses"]["findDeliveryStores"] == {"200": 1, "503": 2}


async def test_wildcard_applies_to_operations_without_their_own_entry(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await set_faults(
        client,
        {"operations": {"*": {"error_rate": 1, "status": 500}, "findDeliveryStores": {}}},
    )
    assert (await client.post(STORES, json=WHERE, headers=auth)).status_code == 200
    pickup = await client.post("/v2/fulfillment/stores/pickup", json=WHERE, headers=auth)
    assert_error(pickup, 500)


async def test_hang_never_answers_within_a_client_timeout(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await set_faults(client, {"operations": {"findDeliveryStores": {"hang": True}}})
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(client.post(STORES, json=WHERE, headers=auth), timeout=0.3)


async def test_hang_with_hang_seconds_ends_in_503_without_doing_the_work(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    slot = (await options(client, auth))[0]["id"]
    await set_faults(
        client, {"operations": {"reserveDeliveryTimeSlot": {"hang": True, "hang_seconds": 0.2}}}
    )
    assert_error(await hold(client, auth, slot), 503, "hang")
    assert (await client.get("/sandbox/stats")).json()["holds_active"] == 0


async def test_hang_after_create_creates_the_order_but_loses_the_answer(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    slot = (await options(client, auth))[0]["id"]
    hold_id = (await hold(client, auth, slot)).json()["hold_id"]
    await set_faults(client, {"operations": {"createDeliveryOrder": {"hang_after_create": True}}})
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(create(client, auth, hold_id, order_id="R-lost"), timeout=0.3)
    order = await client.get("/v2/fulfillment/users/u1/orders/R-lost", headers=auth)
    assert order.status_code == 200
    assert order.json()["status"] == "brand_new"
    # the retry that a careless client would send is refused as a duplicate
    await client.delete("/sandbox/faults")
    assert_error(await create(client, auth, hold_id, order_id="R-lost"), 400, "already exists")


async def test_faults_refuse_unknown_operations_and_misplaced_hang_after_create(
    client: httpx.AsyncClient,
) -> None:
    unknown = await client.put("/sandbox/faults", json={"operations": {"nope": {"hang": True}}})
    assert_error(unknown, 400, "unknown operationId")
    misplaced = {"operations": {"getOrder": {"hang_after_create": True}}}
    assert_error(await client.put("/sandbox/faults", json=misplaced), 400, "hang_after_create")
    bad_status = {"operations": {"getOrder": {"error_rate": 1, "status": 418}}}
    assert_error(await client.put("/sandbox/faults", json=bad_status), 400)
    bad_rate = {"operations": {"getOrder": {"error_rate": 1.5}}}
    assert_error(await client.put("/sandbox/faults", json=bad_rate), 400)


async def test_delete_faults_clears_every_fault(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    everything = {
        "operations": {"*": {"error_rate": 1}},
        "callbacks": {"duplicate_rate": 1, "reorder_window": 3},
        "token_ttl_seconds": 5,
        "error_envelope": "connect",
    }
    await set_faults(client, everything)
    cleared = await client.delete("/sandbox/faults")
    assert cleared.json() == {
        "operations": {},
        "callbacks": {
            "duplicate_rate": 0.0,
            "reorder_window": 1,
            "reorder_wait_ms": 1000,
            "drop_token_rate": 0.0,
        },
        "token_ttl_seconds": None,
        "error_envelope": "spec",
    }
    assert (await client.post(STORES, json=WHERE, headers=auth)).status_code == 200


CREATE_OPS = {
    "delivery": "createDeliveryOrder",
    "pickup": "createPickupOrder",
    "last_mile": "createLastMileOrder",
}


async def _hold_for(client: httpx.AsyncClient, auth: dict[str, str], fulfillment: str) -> str:
    option = (await options(client, auth, fulfillment))[0]["id"]
    if fulfillment == "last_mile":
        return option  # a last-mile service option id is its own hold
    return (await hold(client, auth, option, fulfillment=fulfillment)).json()["hold_id"]


@pytest.mark.parametrize("fulfillment", sorted(CREATE_OPS))
async def test_fail_next_503_on_create_fails_before_creating_anything(
    client: httpx.AsyncClient, auth: dict[str, str], fulfillment: str
) -> None:
    hold_id = await _hold_for(client, auth, fulfillment)
    fault = {CREATE_OPS[fulfillment]: {"fail_next": 1, "status": 503}}
    await set_faults(client, {"operations": fault})
    failed = await create(client, auth, hold_id, fulfillment=fulfillment, order_id="R-503")
    assert_error(failed, 503, "fail_next")
    assert (await client.get("/sandbox/orders")).json() == {"orders": []}
    # nothing was used up: the same request, retried, creates the order with that id
    retried = await create(client, auth, hold_id, fulfillment=fulfillment, order_id="R-503")
    assert retried.status_code == 200, retried.text
    listed = (await client.get("/sandbox/orders")).json()["orders"]
    assert [(o["id"], o["hold_id"]) for o in listed] == [("R-503", hold_id)]


async def test_latency_on_create_delays_the_answer_then_creates(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    hold_id = await _hold_for(client, auth, "delivery")
    await set_faults(client, {"operations": {"createDeliveryOrder": {"latency_ms": 400}}})
    started = time.monotonic()
    response = await create(client, auth, hold_id, order_id="R-slow")
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.4
    assert [o["id"] for o in (await client.get("/sandbox/orders")).json()["orders"]] == ["R-slow"]


async def test_hang_after_create_is_listed_by_the_ground_truth_while_the_answer_hangs(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    hold_id = await _hold_for(client, auth, "pickup")
    fault = {"createPickupOrder": {"latency_ms": 100, "hang_after_create": True}}
    await set_faults(client, {"operations": fault})
    pending = asyncio.create_task(
        create(client, auth, hold_id, fulfillment="pickup", order_id="R-hung")
    )

    async def listed_orders() -> list[dict]:
        answer = await client.get("/sandbox/orders", params={"user_id": "u1"})
        orders: list[dict] = answer.json()["orders"]
        return orders

    listed = await wait_until_async(listed_orders, what="R-hung listed by the ground truth")
    assert [(o["id"], o["status"], o["fulfillment"]) for o in listed] == [
        ("R-hung", "brand_new", "pickup")
    ]
    assert not pending.done()  # created, and still no answer
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending


async def test_hang_after_create_with_hang_seconds_answers_late_with_the_order(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    hold_id = await _hold_for(client, auth, "delivery")
    fault = {"createDeliveryOrder": {"hang_after_create": True, "hang_seconds": 0.3}}
    await set_faults(client, {"operations": fault})
    started = time.monotonic()
    response = await create(client, auth, hold_id, order_id="R-late")
    assert response.status_code == 200
    assert response.json()["id"] == "R-late"
    assert time.monotonic() - started >= 0.3
