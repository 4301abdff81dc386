"""Live order status read as it flows, from the BFF on a real socket (in-process uvicorn)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from app.orders.state_machine import Actor, OrderStateMachine
from local_processes.waiting import wait_until_async
from sandbox import SandboxConfig, create_sandbox_app
from tests.checkout.live_orders import advance, issue_ticket, placed_order
from tests.support.checkout import Checkout
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
