"""Ownership (another user's order is 404), per-user rate limits, and CORS."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis.asyncio as redis

from app.platform.errors import RateLimited
from app.platform.rate_limits import RateLimiter
from tests.support.checkout import Checkout
from tests.support.clock import FakeClock
from tests.support.settings import suite_redis_url


def minute_clock(second_of_minute: float) -> FakeClock:
    """A fake wall clock at a given second of a minute window, so a test never straddles two."""
    return FakeClock(time.time() // 60 * 60 + second_of_minute)


async def test_another_users_order_is_404_for_get_and_cancel(checkout: Checkout, user: str) -> None:
    order = (await checkout.place(await checkout.reserve("delivery", user), user)).json()
    intruder = checkout.auth("mallory")
    got = await checkout.bff.get(f"/v1/orders/{order['id']}", headers=intruder)
    assert got.status_code == 404
    assert got.json()["code"] == "not_found"
    canceled = await checkout.bff.post(f"/v1/orders/{order['id']}/cancel", headers=intruder)
    assert canceled.status_code == 404
    # and the order is untouched
    mine = await checkout.bff.get(f"/v1/orders/{order['id']}", headers=checkout.auth(user))
    assert mine.json()["status"] == "brand_new"


async def test_listing_shows_only_ones_own_orders_paged(checkout: Checkout, user: str) -> None:
    other = user + "-b"
    for _ in range(3):
        assert (await checkout.place(await checkout.reserve("pickup", user), user)).is_success
    assert (await checkout.place(await checkout.reserve("pickup", other), other)).is_success

    first = await checkout.bff.get("/v1/orders?limit=2", headers=checkout.auth(user))
    page = first.json()
    assert len(page["orders"]) == 2 and page["next_cursor"]
    second = await checkout.bff.get(
        "/v1/orders",
        params={"limit": 2, "cursor": page["next_cursor"]},
        headers=checkout.auth(user),
    )
    rest = second.json()
    assert len(rest["orders"]) == 1 and rest["next_cursor"] is None
    ids = [o["id"] for o in page["orders"] + rest["orders"]]
    assert len(set(ids)) == 3
    created = [o["created_at"] for o in page["orders"] + rest["orders"]]
    assert created == sorted(created, reverse=True)
    theirs = await checkout.bff.get("/v1/orders", headers=checkout.auth(other))
    assert len(theirs.json()["orders"]) == 1
    assert theirs.json()["orders"][0]["id"] not in ids


async def test_garbage_cursor_is_422(checkout: Checkout, user: str) -> None:
    response = await checkout.bff.get("/v1/orders?cursor=not-a-cursor", headers=checkout.auth(user))
    assert response.status_code == 422
    assert response.json()["code"] == "validation_failed"


async def test_reservations_over_the_limit_are_429_with_retry_after(
    open_checkout: Callable[..., Any], user: str
) -> None:
    async with open_checkout(rate_limit_reservations_per_minute=2) as handle:
        clock = minute_clock(15)
        handle.app.state.bff.checkout.reservations.limiter.clock = clock.time
        store_id = await handle.first_store("pickup", user)
        slot = await handle.first_slot("pickup", store_id, user)
        body = {"fulfillment": "pickup", "store_id": store_id, "slot_id": slot["id"]}
        statuses = []
        for _ in range(3):
            response = await handle.bff.post(
                "/v1/reservations", json=body, headers=handle.auth(user)
            )
            statuses.append(response.status_code)
        assert statuses == [201, 201, 429]
        assert response.json()["code"] == "rate_limited"
        assert response.headers["retry-after"] == "46"  # the window ends 45 s later, plus one
        # another user is not affected
        other = await handle.bff.post(
            "/v1/reservations", json=body, headers=handle.auth(user + "x")
        )
        assert other.status_code == 201
        # and the next minute starts a new window
        clock.advance(60)
        again = await handle.bff.post("/v1/reservations", json=body, headers=handle.auth(user))
        assert again.status_code == 201


async def test_cors_allows_configured_origins_and_exposes_headers(
    open_checkout: Callable[..., Any],
) -> None:
    async with open_checkout(cors_origins=["https://shop.example"]) as handle:
        preflight = await handle.bff.options(
            "/v1/orders",
            headers={
                "Origin": "https://shop.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,idempotency-key,content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
        assert preflight.headers["access-control-allow-credentials"] == "true"
        simple = await handle.bff.get("/livez", headers={"Origin": "https://shop.example"})
        exposed = simple.headers["access-control-expose-headers"].lower()
        assert {"x-request-id", "etag", "retry-after"} <= set(map(str.strip, exposed.split(",")))
        stranger = await handle.bff.get("/livez", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in stranger.headers


async def test_order_placements_over_the_limit_are_429_and_create_nothing(
    open_checkout: Callable[..., Any], user: str
) -> None:
    async with open_checkout(rate_limit_orders_per_minute=1) as handle:
        handle.app.state.bff.checkout.placement.limiter.clock = minute_clock(1).time
        reservation = await handle.reserve("pickup", user)
        first = await handle.place(reservation, user, "first")
        assert first.status_code == 201
        second = await handle.place(await handle.reserve("pickup", user), user, "second")
        assert second.status_code == 429
        assert second.json()["code"] == "rate_limited"
        assert "retry-after" in second.headers
        assert await handle.calls("createPickupOrder") == 1
        # a replay of the first placement is not a new placement: it is not limited
        replay = await handle.place(reservation, user, "first")
        assert replay.status_code == 201
        assert replay.headers["idempotent-replayed"] == "true"
        listed = await handle.bff.get("/v1/orders", headers=handle.auth(user))
        assert len(listed.json()["orders"]) == 1


async def test_a_rate_limit_counts_under_its_namespace_in_one_minute_window() -> None:
    client = redis.Redis.from_url(suite_redis_url())
    namespace = f"ns{uuid.uuid4().hex[:8]}"
    clock = minute_clock(50)
    limiter = RateLimiter(client, "previews", 2, namespace=namespace, clock=clock.time)
    await limiter.hit("u1")
    await limiter.hit("u1")
    with pytest.raises(RateLimited) as refused:
        await limiter.hit("u1")
    assert refused.value.headers == {"Retry-After": "11"}
    keys = await client.keys(f"*{namespace}*")
    assert [k.decode() for k in keys] == [
        f"{namespace}:ratelimit:previews:u1:{int(clock.time() // 60)}"
    ]
    clock.advance(10)
    await limiter.hit("u1")  # a new window
    await client.delete(*await client.keys(f"{namespace}:*"))
    await client.aclose()


async def test_a_rate_limit_window_expires_and_counts_on_after_redis_forgets_the_script() -> None:
    client = redis.Redis.from_url(suite_redis_url())
    namespace = f"ns{uuid.uuid4().hex[:8]}"
    limiter = RateLimiter(client, "orders", 2, namespace=namespace, clock=minute_clock(5).time)
    await limiter.hit("u1")
    (key,) = await client.keys(f"{namespace}:*")
    # The window's key goes with its minute (and one second more): none is left behind.
    assert 55 <= await client.ttl(key) <= 61
    # A Redis restart or failover forgets loaded scripts: the count goes on, the limit holds.
    await client.script_flush()
    await limiter.hit("u1")
    with pytest.raises(RateLimited):
        await limiter.hit("u1")
    assert int(await client.get(key)) == 3
    await client.delete(key)
    await client.aclose()
