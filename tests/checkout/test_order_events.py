"""Live order status: tickets, ownership and the edges of the stream, in-process."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
import pytest

from local_processes.waiting import wait_until_async
from tests.checkout.live_orders import issue_ticket, placed_order
from tests.support.checkout import Checkout
from tests.support.event_streams import events_path


async def test_a_ticket_is_short_lived_and_says_when_it_expires(
    checkout: Checkout, user: str
) -> None:
    order = await placed_order(checkout, user)
    started = time.time()
    response = await checkout.bff.post(
        f"{events_path(order['id'])}/ticket", headers=checkout.auth(user)
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"ticket", "expires_at"}
    assert len(body["ticket"]) >= 40
    expires = datetime.fromisoformat(body["expires_at"]).timestamp()
    assert started + 55 <= expires <= time.time() + 61
    # Stored hashed: the ticket itself is no key and no value in Redis.
    redis = checkout.app.state.bff.redis
    tickets = checkout.app.state.bff.stream_tickets
    assert await redis.exists(tickets.key(body["ticket"])) == 1
    async for key in redis.scan_iter(match=f"{checkout.settings.cache_namespace}:*"):
        assert body["ticket"] not in key.decode()
        value = await redis.get(key) if await redis.type(key) == b"string" else b""
        assert body["ticket"].encode() not in (value or b"")


async def test_another_users_stream_and_ticket_are_404(checkout: Checkout, user: str) -> None:
    order = await placed_order(checkout, user)
    intruder = checkout.auth(f"{user}-other")
    ticket = await checkout.bff.post(f"{events_path(order['id'])}/ticket", headers=intruder)
    assert ticket.status_code == 404
    assert ticket.json()["code"] == "not_found"
    stream = await checkout.bff.get(events_path(order["id"]), headers=intruder)
    assert stream.status_code == 404
    assert stream.json()["code"] == "not_found"
    # and an order that does not exist looks the same
    missing = await checkout.bff.get(events_path("no-such-order"), headers=checkout.auth(user))
    assert missing.status_code == 404


async def test_a_stream_without_credentials_is_401(checkout: Checkout, user: str) -> None:
    order = await placed_order(checkout, user)
    response = await checkout.bff.get(events_path(order["id"]))
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("forged", ["forged", "x" * 43, "x" * 5000, "tick\u00e9t"])
async def test_a_forged_ticket_is_401(checkout: Checkout, user: str, forged: str) -> None:
    order = await placed_order(checkout, user)
    response = await checkout.bff.get(events_path(order["id"]), params={"ticket": forged})
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"
    assert forged not in response.text


async def test_a_ticket_for_another_order_is_401_and_spent(checkout: Checkout, user: str) -> None:
    first = await placed_order(checkout, user)
    second = await placed_order(checkout, user)
    ticket = await issue_ticket(checkout, first["id"], user)
    response = await checkout.bff.get(events_path(second["id"]), params={"ticket": ticket})
    assert response.status_code == 401
    assert "another order" in response.json()["detail"]
    # Single use means single use, even for a mistake: it no longer opens its own order either.
    again = await checkout.bff.get(events_path(first["id"]), params={"ticket": ticket})
    assert again.status_code == 401


async def test_an_expired_ticket_is_401(open_checkout: Callable[..., Any], user: str) -> None:
    async with open_checkout(stream_ticket_ttl_seconds=0.2) as checkout:
        order = await placed_order(checkout, user)
        ticket = await issue_ticket(checkout, order["id"], user)
        key = checkout.app.state.bff.stream_tickets.key(ticket)

        async def expired() -> bool:
            return await checkout.app.state.bff.redis.exists(key) == 0

        await wait_until_async(expired, what="the ticket to expire in Redis")
        response = await checkout.bff.get(events_path(order["id"]), params={"ticket": ticket})
        assert response.status_code == 401
        assert "expired" in response.json()["detail"]


async def test_tickets_with_redis_down_are_503_with_retry_after(
    open_checkout: Callable[..., Any], user: str
) -> None:
    async with open_checkout(redis_url="redis://127.0.0.1:1/0") as checkout:
        order = await placed_order(checkout, user)
        issued = await checkout.bff.post(
            f"{events_path(order['id'])}/ticket", headers=checkout.auth(user)
        )
        assert issued.status_code == 503
        assert issued.json()["code"] == "dependency_unavailable"
        assert int(issued.headers["retry-after"]) >= 1
        redeemed = await checkout.bff.get(events_path(order["id"]), params={"ticket": "t" * 43})
        assert redeemed.status_code == 503
        assert int(redeemed.headers["retry-after"]) >= 1


async def test_a_finished_order_streams_its_status_and_ends(checkout: Checkout, user: str) -> None:
    order = await placed_order(checkout, user)
    canceled = await checkout.bff.post(
        f"/v1/orders/{order['id']}/cancel", headers=checkout.auth(user)
    )
    assert canceled.status_code == 200, canceled.text
    # A terminal order's stream ends at once, so even a buffering transport reads it whole.
    response = await checkout.bff.get(events_path(order["id"]), headers=checkout.auth(user))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-accel-buffering"] == "no"
    blocks = [b for b in response.text.split("\n\n") if b]
    assert blocks[0] == "retry: 2000"
    lines = blocks[1].split("\n")
    assert lines[0] == "event: status"
    version = int(lines[1].removeprefix("id: "))
    data = orjson.loads(lines[2].removeprefix("data: "))
    assert data == canceled.json()
    assert len(blocks) == 2

    # Having seen it (Last-Event-ID), the browser is told there is nothing more: 204 stops it.
    seen = await checkout.bff.get(
        events_path(order["id"]),
        headers=checkout.auth(user) | {"Last-Event-ID": str(version)},
    )
    assert seen.status_code == 204
    assert seen.content == b""
    # An id that is not one of ours counts as none.
    garbage = await checkout.bff.get(
        events_path(order["id"]), headers=checkout.auth(user) | {"Last-Event-ID": "abc"}
    )
    assert garbage.status_code == 200
    assert "event: status" in garbage.text


async def test_the_stream_is_documented_as_event_stream(checkout: Checkout) -> None:
    schema = (await checkout.bff.get("/openapi.json")).json()
    stream = schema["paths"]["/v1/orders/{order_id}/events"]["get"]
    assert stream["operationId"] == "orders-events"
    assert "text/event-stream" in stream["responses"]["200"]["content"]
    ticket = schema["paths"]["/v1/orders/{order_id}/events/ticket"]["post"]
    assert ticket["operationId"] == "orders-events-ticket"
    assert "201" in ticket["responses"]


async def test_streams_and_tickets_have_per_user_budgets(
    open_checkout: Callable[..., Any], user: str
) -> None:
    async with open_checkout(
        event_stream_max_per_user=2, rate_limit_stream_tickets_per_minute=3
    ) as checkout:
        placed = await checkout.place(await checkout.reserve("pickup", user), user)
        order_id = placed.json()["id"]
        streams = checkout.app.state.bff.order_streams
        held = [await streams.open(user, order_id, None) for _ in range(2)]
        refused = await checkout.bff.get(
            f"/v1/orders/{order_id}/events", headers=checkout.auth(user)
        )
        assert refused.status_code == 429
        assert refused.json()["code"] == "rate_limited"
        assert int(refused.headers["retry-after"]) >= 1
        await held[0].aclose()
        again = await streams.open(user, order_id, None)  # a closed stream frees its place
        for stream in (held[1], again):
            await stream.aclose()

        path = f"/v1/orders/{order_id}/events/ticket"
        answers = [
            (await checkout.bff.post(path, headers=checkout.auth(user))).status_code
            for _ in range(4)
        ]
        assert answers == [201, 201, 201, 429]
