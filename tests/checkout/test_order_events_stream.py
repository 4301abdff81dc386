"""Live order status read as it flows, from the BFF on a real socket (in-process uvicorn)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from redis import asyncio as aioredis
from redis.exceptions import RedisError

from app.orders.state_machine import Actor, OrderStateMachine
from local_processes.redis_server import PrivateRedis
from local_processes.waiting import wait_until_async
from sandbox import SandboxConfig, create_sandbox_app
from tests.checkout.live_orders import advance, issue_ticket, placed_order
from tests.support.checkout import Checkout
from tests.support.ci import tools_required
from tests.support.event_streams import EventReader, events_path, serving


def streams_open() -> float:
    return REGISTRY.get_sample_value("bff_event_streams_open") or 0.0


@pytest.fixture
def open_served(open_checkout: Callable[..., Any]) -> Callable[..., Any]:
    """``async with open_served(**overrides) as (checkout, client)``: a client on a socket."""

    @contextlib.asynccontextmanager
    async def build(**overrides: Any) -> AsyncIterator[tuple[Checkout, httpx.AsyncClient]]:
        values: dict[str, Any] = {"order_refresh_seconds": 0} | overrides
        async with (
            open_checkout(**values) as checkout,
            serving(checkout.app) as url,
            httpx.AsyncClient(base_url=url, timeout=10) as client,
        ):
            yield checkout, client

    return build


async def test_the_stream_shows_the_order_then_each_change_then_ends_at_a_terminal_status(
    open_served: Callable[..., Any], user: str
) -> None:
    async with open_served() as (checkout, client):
        order = await placed_order(checkout, user)
        headers = checkout.auth(user)  # a mobile app's bearer header, no ticket
        async with client.stream("GET", events_path(order["id"]), headers=headers) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-store"
            assert response.headers["x-accel-buffering"] == "no"
            events = EventReader(response)
            first = await events.status()
            assert first is not None
            assert first["order"] == order  # the order as GET /v1/orders/{id} shows it
            seen = [first]
            for status in ("acknowledged", "picking", "delivered"):
                assert await advance(checkout, order["id"], user, status) == status
                event = await events.status()
                assert event is not None, f"no event for {status}"
                assert event["order"]["status"] == status
                seen.append(event)
            assert await events.frame() is None  # a clean end after the terminal status
        ids = [event["id"] for event in seen]
        assert ids == sorted(set(ids))


async def test_last_event_id_skips_what_was_seen(
    open_served: Callable[..., Any], user: str
) -> None:
    async with open_served(event_stream_heartbeat_seconds=0.2) as (checkout, client):
        order = await placed_order(checkout, user)
        headers = checkout.auth(user)
        async with client.stream("GET", events_path(order["id"]), headers=headers) as response:
            first = await EventReader(response).status()
        assert first is not None
        resumed = headers | {"Last-Event-ID": str(first["id"])}
        async with client.stream("GET", events_path(order["id"]), headers=resumed) as response:
            events = EventReader(response)
            assert await events.frame() == {"retry": "2000"}
            # Heartbeats flow and nothing already seen is sent again...
            assert await events.frame() == {"comment": "heartbeat"}
            await advance(checkout, order["id"], user, "acknowledged")
            # ...only the change: the next frame that is not a heartbeat.
            while (frame := await events.frame()) == {"comment": "heartbeat"}:
                pass
            assert frame is not None
            assert frame["event"] == "status"
            assert int(frame["id"]) > first["id"]
            assert '"status":"acknowledged"' in frame["data"]


async def test_a_ticket_opens_the_stream_without_authorization_once(
    open_served: Callable[..., Any], user: str
) -> None:
    async with open_served() as (checkout, client):
        order = await placed_order(checkout, user)
        ticket = await issue_ticket(checkout, order["id"], user)
        path = events_path(order["id"])
        async with client.stream("GET", path, params={"ticket": ticket}) as response:
            assert response.status_code == 200
            first = await EventReader(response).status()
            assert first is not None
            assert first["order"]["id"] == order["id"]
        used = await client.get(path, params={"ticket": ticket})
        assert used.status_code == 401
        assert used.json()["code"] == "unauthenticated"


async def test_heartbeats_keep_a_quiet_stream_alive(
    open_served: Callable[..., Any], user: str
) -> None:
    async with open_served(event_stream_heartbeat_seconds=0.1) as (checkout, client):
        order = await placed_order(checkout, user)
        headers = checkout.auth(user)
        async with client.stream("GET", events_path(order["id"]), headers=headers) as response:
            events = EventReader(response)
            assert await events.status() is not None
            for _ in range(3):
                assert await events.frame(timeout=5) == {"comment": "heartbeat"}


async def test_a_stream_ends_after_its_maximum_duration(
    open_served: Callable[..., Any], user: str
) -> None:
    async with open_served(event_stream_max_seconds=0.5) as (checkout, client):
        order = await placed_order(checkout, user)
        headers = checkout.auth(user)
        async with client.stream("GET", events_path(order["id"]), headers=headers) as response:
            events = EventReader(response)
            assert await events.status() is not None
            # the browser reconnects with Last-Event-ID; the order is not over
            assert await events.status(timeout=10) is None


async def test_a_client_that_leaves_releases_its_stream(
    open_served: Callable[..., Any], user: str
) -> None:
    async with open_served() as (checkout, client):
        order = await placed_order(checkout, user)
        before = streams_open()
        headers = checkout.auth(user)
        async with client.stream("GET", events_path(order["id"]), headers=headers) as response:
            assert await EventReader(response).status() is not None
            assert streams_open() == before + 1
        # the connection is gone: the server notices, ends the stream, returns its connection

        await wait_until_async(
            lambda: streams_open() == before, what="the server to end the abandoned stream"
        )


async def test_a_change_published_by_any_replica_reaches_the_stream(
    open_served: Callable[..., Any], user: str
) -> None:
    # Postgres is re-read only every 10 minutes here: the change must come through pub/sub.
    async with open_served(event_stream_recheck_seconds=600) as (checkout, client):
        order = await placed_order(checkout, user)
        headers = checkout.auth(user)
        async with client.stream("GET", events_path(order["id"]), headers=headers) as response:
            events = EventReader(response)
            first = await events.status()
            assert first is not None
            services = checkout.app.state.bff.checkout
            async with services.orders.sessions() as session, session.begin():
                row = await OrderStateMachine(session).record_status(
                    order["id"], Actor.READER, "picking", datetime.now(UTC)
                )
            assert row is not None
            await services.events.publish(row)
            await services.events.publish(row)  # a duplicate is dropped
            event = await events.status()
            assert event is not None
            assert event["id"] == row.version > first["id"]
            assert event["order"]["status"] == "picking"
            row = await _record(checkout, order["id"], "delivered")
            await services.events.publish(row)
            last = await events.status()
            assert last is not None
            assert last["order"]["status"] == "delivered"
            assert await events.frame() is None


async def _record(checkout: Checkout, order_id: str, status: str) -> Any:
    async with checkout.app.state.bff.checkout.orders.sessions() as session, session.begin():
        row = await OrderStateMachine(session).record_status(
            order_id, Actor.READER, status, datetime.now(UTC)
        )
    assert row is not None
    return row


async def test_with_redis_down_the_stream_still_delivers_changes_by_polling(
    open_served: Callable[..., Any], user: str
) -> None:
    async with open_served(redis_url="redis://127.0.0.1:1/0", event_stream_poll_seconds=0.2) as (
        checkout,
        client,
    ):
        order = await placed_order(checkout, user)
        headers = checkout.auth(user)
        async with client.stream("GET", events_path(order["id"]), headers=headers) as response:
            assert response.status_code == 200
            events = EventReader(response)
            first = await events.status()
            assert first is not None
            await advance(checkout, order["id"], user, "acknowledged")
            changed = await events.status()
            assert changed is not None
            assert changed["order"]["status"] == "acknowledged"
            await advance(checkout, order["id"], user, "canceled")
            final = await events.status()
            assert final is not None
            assert final["order"]["status"] == "canceled"
            assert await events.frame() is None


async def test_a_change_seen_by_another_replica_reaches_a_stream_on_this_one(
    open_checkout: Callable[..., Any], user: str
) -> None:
    sandbox_app = create_sandbox_app(SandboxConfig(client_id=f"events-{uuid.uuid4().hex[:8]}"))
    async with (
        open_checkout(sandbox_app=sandbox_app, order_refresh_seconds=0) as streaming,
        open_checkout(sandbox_app=sandbox_app, order_refresh_seconds=0) as other,
        serving(streaming.app) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as client,
    ):
        order = await placed_order(other, user)
        headers = streaming.auth(user)
        async with client.stream("GET", events_path(order["id"]), headers=headers) as response:
            events = EventReader(response)
            assert (await events.status() or {}).get("order") == order
            for status in ("acknowledged", "delivered"):
                await advance(other, order["id"], user, status)  # the other replica sees it
                event = await events.status()
                assert event is not None
                assert event["order"]["status"] == status
            assert await events.frame() is None


def _channel(checkout: Checkout, order_id: str) -> str:
    return f"{checkout.app.state.bff.settings.cache_namespace}:order-events:{order_id}"


async def _subscribers(redis_url: str, *channels: str) -> list[int]:
    """How many Redis clients follow each channel (PUBSUB NUMSUB)."""
    async with aioredis.Redis.from_url(redis_url) as redis:
        return [int(count) for _, count in await redis.pubsub_numsub(*channels)]


async def test_a_replicas_streams_share_one_redis_subscription(
    open_served: Callable[..., Any], user: str
) -> None:
    redis_url = os.environ["BFF_REDIS_URL"]
    async with (
        open_served(event_stream_recheck_seconds=600) as (checkout, client),
        contextlib.AsyncExitStack() as streams,
    ):
        orders = [await placed_order(checkout, user) for _ in range(2)]
        channels = [_channel(checkout, order["id"]) for order in orders]
        readers = []
        for order, count in zip(orders, (3, 2), strict=True):
            for _ in range(count):
                response = await streams.enter_async_context(
                    client.stream("GET", events_path(order["id"]), headers=checkout.auth(user))
                )
                reader = EventReader(response)
                assert await reader.status() is not None
                readers.append((order["id"], reader))
        # Five streams, two orders: one subscription per order, not one per stream.
        assert await _subscribers(redis_url, *channels) == [1, 1]
        row = await _record(checkout, orders[0]["id"], "picking")
        await checkout.app.state.bff.checkout.events.publish(row)
        for order_id, reader in readers:
            if order_id == orders[0]["id"]:
                event = await reader.status()
                assert event is not None
                assert event["order"]["status"] == "picking"
        await streams.aclose()

        async def unsubscribed() -> bool:
            return await _subscribers(redis_url, *channels) == [0, 0]

        # the last stream of an order unsubscribes
        await wait_until_async(unsubscribed, what="both orders' subscriptions gone")


async def test_the_shared_subscription_comes_back_after_redis_restarts(
    open_served: Callable[..., Any], user: str, tmp_path: Path
) -> None:
    with tools_required():
        redis = PrivateRedis(tmp_path)
    await asyncio.to_thread(redis.start)
    try:
        # Postgres is re-read only every 10 minutes: after the restart, the change must come
        # through the subscription the process made again.
        async with open_served(
            redis_url=redis.url, event_stream_recheck_seconds=600, event_stream_poll_seconds=600
        ) as (checkout, client):
            order = await placed_order(checkout, user)
            channel = _channel(checkout, order["id"])
            headers = checkout.auth(user)
            async with client.stream("GET", events_path(order["id"]), headers=headers) as response:
                events = EventReader(response)
                assert await events.status() is not None
                assert await _subscribers(redis.url, channel) == [1]
                await asyncio.to_thread(redis.stop)
                await asyncio.to_thread(redis.start)

                async def subscribed_again() -> bool:
                    return await _subscribers(redis.url, channel) == [1]

                await wait_until_async(subscribed_again, what="the subscription made again")

                async def publisher_reconnected() -> bool:
                    # The publishing client's pooled connection broke with the restart too.
                    with contextlib.suppress(RedisError):
                        return bool(await checkout.app.state.bff.redis.ping())
                    return False

                await wait_until_async(publisher_reconnected, what="the publisher reconnected")
                row = await _record(checkout, order["id"], "picking")
                await checkout.app.state.bff.checkout.events.publish(row)
                event = await events.status()
                assert event is not None
                assert event["order"]["status"] == "picking"
    finally:
        await asyncio.to_thread(redis.stop)
