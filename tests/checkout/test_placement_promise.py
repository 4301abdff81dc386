"""A 201 is a promise: the four ways issue 7 found to break it, each pinned down in-process.

1. the reconciler racing a slow re-send must not fail an order Instacart then confirms;
2. a replay answers from Postgres, whatever happened to the reservation or to Redis;
3. Postgres down is a 503 with Retry-After, never a 500;
4. "already exists" with a lookup that finds nothing is bounded, then settled later.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete

from app.platform.database.session import build_sessionmaker
from app.reservations.tables import ReservationRow
from local_processes.waiting import wait_until_async
from tests.checkout.placements import lease_of, placement_of, reconciler_for, wait_for_lease


async def test_reconciler_racing_a_slow_resend_leaves_the_order_visible(
    open_checkout: Callable[..., Any], user: str
) -> None:
    async with open_checkout() as checkout:
        reservation = await checkout.reserve("delivery", user)
        # nothing is created upstream: a definitive 503, which the service cannot tell apart
        await checkout.faults(
            {"operations": {"createDeliveryOrder": {"fail_next": 1, "status": 503}}}
        )
        assert (await checkout.place(reservation, user, "race")).status_code == 503
        [(order_id, state)] = await placement_of(checkout, user)
        assert state == "unknown"

        # The retry's lookup finds nothing and it re-sends the create, which takes a while ...
        await checkout.faults({"operations": {"createDeliveryOrder": {"latency_ms": 600}}})
        retry = asyncio.create_task(checkout.place(reservation, user, "race"))
        await wait_for_lease(checkout, user, attempt=2)
        # ... while the reconciler runs with no grace at all: it must leave the row alone.
        summary = await reconciler_for(checkout).run_once()
        assert (summary.examined, summary.failed) == (0, 0)

        answer = await retry
        assert answer.status_code == 201, answer.text
        assert answer.json()["id"] == order_id
        listed = await checkout.bff.get("/v1/orders", headers=checkout.auth(user))
        assert [o["id"] for o in listed.json()["orders"]] == [order_id]
        replay = await checkout.place(reservation, user, "race")
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.json() == answer.json()
        upstream = (await checkout.sandbox.get("/sandbox/orders", params={"user_id": user})).json()
        assert [o["id"] for o in upstream["orders"]] == [order_id]


async def test_a_replay_needs_neither_the_reservation_nor_redis(
    open_checkout: Callable[..., Any], user: str
) -> None:
    async with open_checkout() as checkout:
        reservation = await checkout.reserve("pickup", user)
        placed = await checkout.place(reservation, user, "keep")
        assert placed.status_code == 201
        sessions = build_sessionmaker(checkout.app.state.bff.engine)
        async with sessions() as session, session.begin():
            await session.execute(delete(ReservationRow).where(ReservationRow.user_id == user))
        # the same Postgres, a Redis that is not there
        async with open_checkout(
            redis_url="redis://127.0.0.1:1/0",
            instacart_client_id=checkout.settings.instacart_client_id,
            cache_namespace=checkout.settings.cache_namespace,
        ) as without_redis:
            replay = await without_redis.place(reservation, user, "keep")
        assert replay.status_code == 201, replay.text
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.json() == placed.json()


async def test_postgres_down_is_503_with_retry_after_never_500(
    open_checkout: Callable[..., Any], user: str
) -> None:
    async with open_checkout(
        database_url="postgresql+asyncpg://postgres@127.0.0.1:1/none"
    ) as checkout:
        headers = checkout.auth(user)
        answers = [
            await checkout.bff.get("/v1/orders", headers=headers),
            await checkout.bff.get("/v1/orders/ord_x", headers=headers),
            await checkout.bff.post(
                "/v1/orders",
                json={
                    "reservation_id": "res_x",
                    "items": [{"upc": "0001111041700", "quantity": 1}],
                },
                headers=headers | {"Idempotency-Key": "k"},
            ),
        ]
        for answer in answers:
            assert answer.status_code == 503, answer.text
            assert answer.json()["code"] == "dependency_unavailable"
            assert int(answer.headers["retry-after"]) >= 1
        # the process stays ready (the load balancer keeps it); the dependency is reported
        assert (await checkout.bff.get("/readyz")).status_code == 200
        assert (await checkout.bff.get("/healthz/dependencies")).status_code == 503


async def test_already_exists_but_not_found_is_bounded_then_settled(
    open_checkout: Callable[..., Any], user: str
) -> None:
    async with open_checkout(instacart_create_deadline_seconds=0.5) as checkout:
        reservation = await checkout.reserve("delivery", user)
        # the first create lands upstream but its answer never comes back
        await checkout.faults(
            {"operations": {"createDeliveryOrder": {"hang_after_create": True, "hang_seconds": 5}}}
        )
        assert (await checkout.place(reservation, user, "loop")).status_code == 504
        # now Instacart says "already exists" to every create, and its lookup says 404
        await checkout.faults({"operations": {"getOrder": {"fail_next": 10, "status": 404}}})
        looping = await checkout.place(reservation, user, "loop")
        assert looping.status_code == 503, looping.text
        assert looping.json()["code"] == "upstream_unavailable"
        # two rounds at most: lookup, create, lookup, create
        assert await checkout.calls("getOrder") == 2
        assert await checkout.calls("createDeliveryOrder") == 3
        [(order_id, state)] = await placement_of(checkout, user)
        assert state == "unknown"

        await checkout.sandbox.delete("/sandbox/faults")
        settled = await checkout.place(reservation, user, "loop")
        assert settled.status_code == 201
        assert settled.json()["id"] == order_id


async def test_a_create_longer_than_the_lease_keeps_its_lease_renewed(
    open_checkout: Callable[..., Any], user: str
) -> None:
    async with open_checkout(placement_lease_seconds=0.3) as checkout:
        reservation = await checkout.reserve("pickup", user)
        await checkout.faults({"operations": {"createPickupOrder": {"latency_ms": 1200}}})
        placing = asyncio.create_task(checkout.place(reservation, user, "long"))
        await wait_for_lease(checkout, user, attempt=1)
        first_lease = await lease_of(checkout, user)
        assert first_lease is not None

        async def renewed() -> bool:
            lease = await lease_of(checkout, user)
            return lease is not None and lease > first_lease

        await wait_until_async(renewed, what="the holder to renew its lease past the first one")
        # a reconciler with no grace at all still finds nothing to take over
        assert (await reconciler_for(checkout).run_once()).examined == 0
        placed = await placing
        assert placed.status_code == 201, placed.text
        assert [state for _, state in await placement_of(checkout, user)] == ["created"]
