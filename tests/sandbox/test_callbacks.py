"""Order callbacks sent to the retailer with OAuth client credentials.

Delivery is at least once and in no guaranteed order: retries with backoff, and the
`callbacks` faults (duplicates, reordering, dropped tokens).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from local_processes.waiting import wait_until_async
from sandbox import SandboxConfig, create_sandbox_app
from tests.sandbox.helpers import TOKEN_BODY, assert_error, place_order
from tests.sandbox.retailer import DELIVERY_EVENTS, Retailer, callback_config
from tests.support.clock import FakeClock


@pytest.fixture
def retailer() -> Retailer:
    return Retailer()


@pytest.fixture
def app(clock: FakeClock, retailer: Retailer) -> Any:
    return create_sandbox_app(callback_config(clock, retailer))


@pytest.fixture
async def sandbox_client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as c:
        yield c
    await app.state.callbacks.stop()


async def token_headers(client: httpx.AsyncClient) -> dict[str, str]:
    body = (await client.post("/v2/oauth/token", json=TOKEN_BODY)).json()
    return {"Authorization": f"Bearer {body['access_token']}"}


async def test_status_changes_are_sent_as_callbacks_with_a_client_credentials_token(
    app: Any, sandbox_client: httpx.AsyncClient, retailer: Retailer
) -> None:
    auth = await token_headers(sandbox_client)
    order = await place_order(sandbox_client, auth, order_id="R-cb")
    await sandbox_client.post("/sandbox/orders/R-cb/advance")
    await sandbox_client.post("/sandbox/orders/R-cb/advance", json={"status": "rescheduled"})
    await app.state.callbacks.drain()

    assert retailer.token_requests == [
        {"grant_type": "client_credentials", "client_id": "instacart", "client_secret": "shh"}
    ]
    names = [e["event_name"] for e in retailer.events]
    assert names == ["fulfillment.brand_new", "fulfillment.acknowledged", "fulfillment.rescheduled"]
    assert [e["event_id"] for e in retailer.events] == [1, 2, 3]
    first = retailer.events[0]
    assert first["event_metadata"]["order_id"] == "R-cb"
    assert first["event_metadata"]["delivery_window"] == order["service_option"]
    assert first["event_timestamp"] == "2025-06-02T16:00:00Z"
    assert first["retailer_id"] == "retailer-1"
    summary = (await sandbox_client.get("/sandbox/callbacks")).json()
    assert summary["delivered"] == 3 and summary["failed"] == 0


async def test_a_rejected_token_is_renewed_and_the_event_retried(
    app: Any, sandbox_client: httpx.AsyncClient, retailer: Retailer
) -> None:
    retailer.reject_next = 1
    auth = await token_headers(sandbox_client)
    await place_order(sandbox_client, auth, order_id="R-retry")
    await app.state.callbacks.drain()
    assert len(retailer.token_requests) == 2
    assert [e["event_name"] for e in retailer.events] == ["fulfillment.brand_new"]


async def walk_to_the_end(client: httpx.AsyncClient, order_id: str) -> None:
    for _ in range(len(DELIVERY_EVENTS) - 1):
        response = await client.post(f"/sandbox/orders/{order_id}/advance")
        assert response.status_code == 200, response.text


async def put_callback_faults(client: httpx.AsyncClient, **faults: Any) -> None:
    response = await client.put("/sandbox/faults", json={"callbacks": faults})
    assert response.status_code == 200, response.text


async def test_a_receiver_that_fails_twice_then_succeeds_gets_the_event_on_the_third_attempt(
    app: Any, sandbox_client: httpx.AsyncClient, retailer: Retailer
) -> None:
    retailer.fail_next = 2
    auth = await token_headers(sandbox_client)
    await place_order(sandbox_client, auth, order_id="R-503")
    await app.state.callbacks.drain()

    assert retailer.attempts == 3
    assert retailer.names == ["fulfillment.brand_new"]
    summary = (await sandbox_client.get("/sandbox/callbacks")).json()
    assert (summary["delivered"], summary["retries"], summary["failed"]) == (1, 2, 0)


async def test_delivery_gives_up_after_the_configured_attempts_and_goes_on(
    clock: FakeClock, retailer: Retailer
) -> None:
    app = create_sandbox_app(callback_config(clock, retailer, callback_max_attempts=3))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sandbox"
    ) as client:
        retailer.fail_next = 3
        auth = await token_headers(client)
        await place_order(client, auth, order_id="R-lost")
        await client.post("/sandbox/orders/R-lost/advance")
        await app.state.callbacks.drain()
        summary = (await client.get("/sandbox/callbacks")).json()
    await app.state.callbacks.stop()

    assert retailer.attempts == 3 + 1
    assert retailer.names == ["fulfillment.acknowledged"]
    assert (summary["delivered"], summary["retries"], summary["failed"]) == (1, 2, 1)
    assert [(r["event_id"], r["status"]) for r in summary["recent"]] == [(1, 503), (2, 200)]


def test_backoff_is_exponential_with_jitter_and_capped(
    clock: FakeClock, retailer: Retailer
) -> None:
    config = callback_config(
        clock, retailer, callback_backoff_seconds=1.0, callback_backoff_max_seconds=4.0
    )
    sender = create_sandbox_app(config).state.callbacks
    for retry, (low, high) in {1: (0.5, 1), 2: (1, 2), 3: (2, 4), 4: (2, 4), 9: (2, 4)}.items():
        delays = [sender._backoff_seconds(retry) for _ in range(50)]
        assert all(low <= d <= high for d in delays), (retry, delays)
        assert len(set(delays)) > 1  # jittered, so that many senders do not retry in step


def test_callback_settings_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_CALLBACK_MAX_ATTEMPTS", "7")
    monkeypatch.setenv("SANDBOX_CALLBACK_BACKOFF_SECONDS", "0.5")
    config = SandboxConfig.from_env()
    assert (config.callback_max_attempts, config.callback_backoff_seconds) == (7, 0.5)
    with pytest.raises(ValueError, match="callback_max_attempts"):
        SandboxConfig(callback_max_attempts=0)


async def test_duplicates_resend_delivered_events_later_with_the_same_event_id(
    app: Any, sandbox_client: httpx.AsyncClient, retailer: Retailer
) -> None:
    await put_callback_faults(sandbox_client, duplicate_rate=1.0)
    auth = await token_headers(sandbox_client)
    await place_order(sandbox_client, auth, order_id="R-dup")
    await walk_to_the_end(sandbox_client, "R-dup")
    await app.state.callbacks.drain()

    assert sorted(retailer.ids) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    for event_id in range(1, 6):
        first, second = [e for e in retailer.events if e["event_id"] == event_id]
        assert first == second  # the same event, not a new one with the same id
    # each duplicate comes after its original; none is duplicated again
    seen: set[int] = set()
    for event_id in retailer.ids:
        assert event_id in seen or retailer.ids.count(event_id) == 2
        seen.add(event_id)
    summary = (await sandbox_client.get("/sandbox/callbacks")).json()
    assert (summary["delivered"], summary["duplicates"]) == (5, 5)
    assert sum(r["duplicate"] for r in summary["recent"]) == 5


async def shuffled_ids(clock: FakeClock, seed: int) -> list[int]:
    """The event ids one order's five callbacks arrive in, with a reorder window of 5."""
    retailer = Retailer()
    app = create_sandbox_app(callback_config(clock, retailer, seed=seed))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sandbox"
    ) as client:
        # a long wait, so that the window always fills, however slow the machine
        await put_callback_faults(client, reorder_window=5, reorder_wait_ms=30_000)
        auth = await token_headers(client)
        await place_order(client, auth, order_id="R-mix")
        await walk_to_the_end(client, "R-mix")
        await app.state.callbacks.drain()
    await app.state.callbacks.stop()
    assert sorted(retailer.names) == sorted(DELIVERY_EVENTS)
    return retailer.ids


async def test_a_reorder_window_shuffles_events_deterministically_for_a_seed(
    clock: FakeClock,
) -> None:
    first = await shuffled_ids(clock, seed=0)
    assert sorted(first) == [1, 2, 3, 4, 5]
    assert first != [1, 2, 3, 4, 5]
    assert await shuffled_ids(clock, seed=0) == first
    others = [await shuffled_ids(clock, seed=seed) for seed in (1, 2, 3)]
    assert any(ids != first for ids in others)


async def test_a_reorder_window_that_does_not_fill_sends_what_it_has_after_the_wait(
    app: Any, sandbox_client: httpx.AsyncClient, retailer: Retailer
) -> None:
    await put_callback_faults(sandbox_client, reorder_window=10, reorder_wait_ms=50)
    auth = await token_headers(sandbox_client)
    await place_order(sandbox_client, auth, order_id="R-few")
    async with asyncio.timeout(5):
        await app.state.callbacks.drain()
    assert retailer.names == ["fulfillment.brand_new"]


async def test_drop_token_rate_makes_the_sender_ask_for_a_new_token(
    app: Any, sandbox_client: httpx.AsyncClient, retailer: Retailer
) -> None:
    await put_callback_faults(sandbox_client, drop_token_rate=1.0)
    auth = await token_headers(sandbox_client)
    await place_order(sandbox_client, auth, order_id="R-tok")
    await walk_to_the_end(sandbox_client, "R-tok")
    await app.state.callbacks.drain()
    assert len(retailer.token_requests) == 5
    assert retailer.names == DELIVERY_EVENTS  # no window: still in order


@pytest.mark.parametrize(
    "faults",
    [
        {"duplicate_rate": 1.5},
        {"reorder_window": 0},
        {"reorder_wait_ms": -1},
        {"drop_token_rate": -0.1},
        {"shuffle": True},
    ],
)
async def test_invalid_callback_faults_are_refused(
    sandbox_client: httpx.AsyncClient, faults: dict[str, Any]
) -> None:
    response = await sandbox_client.put("/sandbox/faults", json={"callbacks": faults})
    assert_error(response, 400)
    assert response.json()["meta"]["key"].startswith("callbacks.")


async def test_a_slow_receiver_never_slows_the_api_and_stop_abandons_its_queue(
    app: Any, sandbox_client: httpx.AsyncClient, retailer: Retailer
) -> None:
    retailer.open.clear()
    auth = await token_headers(sandbox_client)
    async with asyncio.timeout(5):
        await place_order(sandbox_client, auth, order_id="R-slow")
        await walk_to_the_end(sandbox_client, "R-slow")
        summary = (await sandbox_client.get("/sandbox/callbacks")).json()
    assert (summary["pending"], summary["delivered"]) == (5, 0)
    # the first event reaches the receiver, and waits there
    await wait_until_async(lambda: retailer.attempts, what="the first callback at the receiver")
    async with asyncio.timeout(2):
        await app.state.callbacks.stop()
    assert retailer.events == []
    left = app.state.callbacks.summary()
    assert (left["pending"], left["delivered"]) == (4, 0)  # the one in flight was cancelled
    # after stop, a change is dropped rather than starting a new sender
    await sandbox_client.post("/sandbox/orders/R-slow/advance", json={"status": "rescheduled"})
    assert app.state.callbacks.summary() == left


async def test_a_retailer_without_callback_routes_only_counts_failures(
    clock: FakeClock,
) -> None:
    config = callback_config(clock, Retailer(), callback_max_attempts=2)
    config.callback_transport = httpx.ASGITransport(app=FastAPI())  # every path is 404
    app = create_sandbox_app(config)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sandbox"
    ) as client:
        auth = await token_headers(client)
        await place_order(client, auth, order_id="R-404")
        await app.state.callbacks.drain()
        summary = (await client.get("/sandbox/callbacks")).json()
        assert (await client.get("/v2/fulfillment/users/u1/orders/R-404", headers=auth)).is_success
    await app.state.callbacks.stop()
    assert (summary["delivered"], summary["failed"]) == (0, 1)


def test_event_ids_start_at_random_so_two_sandboxes_never_share_one() -> None:
    senders = [
        create_sandbox_app(SandboxConfig(callback_url="http://r/cb")).state.callbacks
        for _ in range(3)
    ]
    assert len({next(sender._ids) for sender in senders}) == 3
