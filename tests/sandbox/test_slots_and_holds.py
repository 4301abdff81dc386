"""Slot previews, holds, capacity and hold replacement."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.sandbox.helpers import PREVIEW, START, assert_error, create, hold, options
from tests.support.clock import FakeClock


def parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


async def test_preview_lists_two_hour_future_windows_for_seven_days(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    slots = await options(client, auth, "delivery", "store-sf-001")
    # 7 windows a day (08:00-22:00 store time) for the next 7 days
    assert len(slots) == 49
    first = slots[0]
    # 10:00 in San Francisco (PDT) is the first window starting after 09:00
    assert first == {
        "id": "delivery.store-sf-001.20250602T1700Z",
        "date": "2025-06-02",
        "window_starts_at": "2025-06-02T17:00:00Z",
        "window_ends_at": "2025-06-02T19:00:00Z",
        "fulfillment_type": "delivery",
    }
    starts = [parse(s["window_starts_at"]) for s in slots]
    assert all(START < s <= START + timedelta(days=7) for s in starts)
    assert all(parse(s["window_ends_at"]) - parse(s["window_starts_at"]) == timedelta(hours=2)
               for s in slots)  # fmt: skip


async def test_preview_is_deterministic(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    assert await options(client, auth) == await options(client, auth, user="someone-else")


async def test_preview_refuses_unknown_store_or_unoffered_fulfillment(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    unknown = await client.post(PREVIEW["delivery"].format(user="u1"),
                                json={"store_id": "store-xx-999"}, headers=auth)  # fmt: skip
    assert_error(unknown, 400, "unknown store_id")
    # store-sf-003 offers delivery only
    pickup = await client.post(PREVIEW["pickup"].format(user="u1"),
                               json={"store_id": "store-sf-003"}, headers=auth)  # fmt: skip
    assert_error(pickup, 400, "does not offer pickup")
    missing = await client.post(PREVIEW["delivery"].format(user="u1"), json={}, headers=auth)
    assert_error(missing, 400, "store_id is required")


async def test_preview_refuses_delivery_address_outside_the_area(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    body = {"store_id": "store-sf-001", "address": {"postal_code": "10001"}}
    response = await client.post(PREVIEW["delivery"].format(user="u1"), json=body, headers=auth)
    assert_error(response, 400, "outside")


async def test_hold_lasts_ten_minutes(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    option = (await options(client, auth))[0]
    response = await hold(client, auth, option["id"])
    assert response.status_code == 200
    body = response.json()
    assert body["hold_id"].startswith("hold_")
    assert parse(body["expires_at"]) == START + timedelta(minutes=10)
    assert body["service_option"] == option


async def test_pickup_hold_route_is_shaped_like_the_delivery_hold(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    option = (await options(client, auth, "pickup"))[0]
    response = await hold(client, auth, option["id"], fulfillment="pickup")
    assert response.status_code == 200
    assert set(response.json()) == {"hold_id", "expires_at", "service_option"}
    # a delivery slot cannot be held on the pickup route
    delivery_option = (await options(client, auth))[0]
    assert_error(await hold(client, auth, delivery_option["id"], fulfillment="pickup"), 400)


async def test_hold_of_unknown_or_past_slot_is_400(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    assert_error(await hold(client, auth, "no-such-slot"), 400, "service_option_id")
    past = "delivery.store-sf-001.20250602T1500Z"  # 08:00-10:00 local, already started
    assert_error(await hold(client, auth, past), 400, "service_option_id")
    misaligned = "delivery.store-sf-001.20250602T1730Z"
    assert_error(await hold(client, auth, misaligned), 400, "service_option_id")


async def test_holds_beyond_capacity_are_refused_with_slot_full(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    option = (await options(client, auth))[0]["id"]  # capacity 2 in these tests
    assert (await hold(client, auth, option, user="a")).status_code == 200
    assert (await hold(client, auth, option, user="b")).status_code == 200
    assert_error(await hold(client, auth, option, user="c"), 400, "slot full")
    # a full slot no longer appears in previews
    assert option not in [o["id"] for o in await options(client, auth)]


async def test_second_hold_replaces_the_first_and_gives_capacity_back(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    first, second = [o["id"] for o in (await options(client, auth))[:2]]
    old = (await hold(client, auth, first, user="a")).json()["hold_id"]
    assert (await hold(client, auth, first, user="b")).status_code == 200
    assert_error(await hold(client, auth, first, user="c"), 400, "slot full")
    assert (await hold(client, auth, second, user="a")).status_code == 200
    # user a's first hold was released, so c now fits
    assert (await hold(client, auth, first, user="c")).status_code == 200
    assert_error(await create(client, auth, old, user="a"), 400, "replaced")


async def test_holding_the_same_slot_again_does_not_use_more_capacity(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    option = (await options(client, auth))[0]["id"]
    for _ in range(3):
        assert (await hold(client, auth, option, user="a")).status_code == 200
    assert (await hold(client, auth, option, user="b")).status_code == 200


async def test_expired_unused_holds_give_capacity_back(
    client: httpx.AsyncClient, auth: dict[str, str], clock: FakeClock
) -> None:
    option = (await options(client, auth))[0]["id"]
    await hold(client, auth, option, user="a")
    await hold(client, auth, option, user="b")
    assert_error(await hold(client, auth, option, user="c"), 400, "slot full")
    clock.advance(minutes=10)
    assert (await hold(client, auth, option, user="c")).status_code == 200


async def test_failed_hold_keeps_the_previous_hold(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    first, second = [o["id"] for o in (await options(client, auth))[:2]]
    mine = (await hold(client, auth, first, user="a")).json()["hold_id"]
    await hold(client, auth, second, user="b")
    await hold(client, auth, second, user="c")
    assert_error(await hold(client, auth, second, user="a"), 400, "slot full")
    assert (await create(client, auth, mine, user="a")).status_code == 200


async def test_concurrent_holds_never_exceed_capacity(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    option = (await options(client, auth))[0]["id"]
    results = await asyncio.gather(*(hold(client, auth, option, user=f"u{i}") for i in range(20)))
    assert sorted(r.status_code for r in results) == [200] * 2 + [400] * 18


async def test_holds_and_tokens_ended_long_ago_are_forgotten(
    app: Any, client: httpx.AsyncClient, auth: dict[str, str], clock: FakeClock
) -> None:
    option = (await options(client, auth))[0]["id"]
    await hold(client, auth, option)
    state = app.state.sandbox
    clock.advance(days=2)
    state._prune(clock.utc())
    assert state.holds == {} and state.user_holds == {} and state.tokens == {}
