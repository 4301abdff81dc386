"""The age of the oldest unresolved placement, as the reconciler's loop measures it on every
replica: real rows in a database of the test's own, time from an injected clock."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from prometheus_client import REGISTRY

from app.lifespan import state_of
from app.orders.reconciler import Reconciler, run_periodically
from local_processes.postgres import upgrade
from local_processes.waiting import wait_until_async
from tests.db.factories import make_order
from tests.support.checkout import Checkout
from tests.support.clock import FakeClock

AGE = "bff_placements_unresolved_oldest_age_seconds"
GRACE = "bff_reconcile_grace_seconds"
BACKLOG = "bff_reconcile_backlog"


def whole_seconds_now() -> float:
    """Now, to the second: ages then come out exact, with no microseconds rounded off."""
    return float(int(time.time()))


def reconciler(checkout: Checkout, *, grace_seconds: float, clock: FakeClock) -> Reconciler:
    state = state_of(checkout.app)
    return Reconciler(
        state.instacart,
        state.sessions,
        grace_seconds=grace_seconds,
        lease_seconds=checkout.settings.placement_lease_seconds,
        events=state.checkout.events,
        clock=clock.time,
    )


async def insert(
    checkout: Checkout, user: str, age: timedelta, clock: FakeClock, **row: Any
) -> str:
    order = make_order(user, created_at=clock.utc() - age, **row)
    async with state_of(checkout.app).sessions() as session, session.begin():
        session.add(order)
    return order.id


async def test_the_gauge_is_the_age_of_the_oldest_pending_or_unknown_placement(
    fresh_database_url: str, open_checkout: Callable[..., Any], user: str
) -> None:
    await asyncio.to_thread(upgrade, fresh_database_url)  # no other test's rows in it
    clock = FakeClock(whole_seconds_now())
    async with open_checkout(database_url=fresh_database_url) as checkout:
        watcher = reconciler(checkout, grace_seconds=120, clock=clock)
        assert await watcher.measure_unresolved() == 0
        assert REGISTRY.get_sample_value(GRACE) == 120

        await insert(checkout, user, timedelta(seconds=300), clock)  # pending, the default
        assert await watcher.measure_unresolved() == 300
        clock.advance(60)
        assert await watcher.measure_unresolved() == 360
        assert REGISTRY.get_sample_value(AGE) == 360

        # Resolved placements, however old, are not counted; an older unknown one is.
        await insert(checkout, user, timedelta(days=3), clock, placement_state="created")
        await insert(checkout, user, timedelta(days=2), clock, placement_state="failed")
        assert await watcher.measure_unresolved() == 360
        await insert(checkout, user, timedelta(seconds=900), clock, placement_state="unknown")
        assert await watcher.measure_unresolved() == 900

        # Settled by a round (Instacart has neither order: both failed), the gauge drops to 0.
        summary = await reconciler(checkout, grace_seconds=0, clock=clock).run_once()
        assert summary.failed == 2
        assert await watcher.measure_unresolved() == 0
        scraped = (await checkout.bff.get("/metrics")).text
        assert f"{AGE} 0.0" in scraped and f"{GRACE} 120.0" in scraped


async def test_every_replica_measures_even_when_another_holds_the_round(
    fresh_database_url: str, open_checkout: Callable[..., Any], user: str
) -> None:
    await asyncio.to_thread(upgrade, fresh_database_url)
    clock = FakeClock(whole_seconds_now())
    async with open_checkout(database_url=fresh_database_url) as checkout:
        await insert(
            checkout,
            user,
            timedelta(seconds=420),
            clock,
            placement_state="unknown",
            updated_at=clock.utc() - timedelta(seconds=420),
        )
        lock_key = f"test:reconciler-lock:{uuid.uuid4().hex}"
        redis = state_of(checkout.app).redis
        await redis.set(lock_key, "another replica", px=60_000)  # this replica never wins it
        watcher = reconciler(checkout, grace_seconds=120, clock=clock)
        loop = asyncio.create_task(
            run_periodically(watcher, redis, lock_key=lock_key, interval_seconds=0.05)
        )
        try:
            await wait_until_async(
                lambda: REGISTRY.get_sample_value(AGE) == 420, what="the loop's measurement"
            )
            # The backlog too: a gauge only the round's winner set would stand still here.
            assert REGISTRY.get_sample_value(BACKLOG, {"kind": "placements"}) == 1
            clock.advance(30)
            await wait_until_async(
                lambda: REGISTRY.get_sample_value(AGE) == 450, what="the next round's"
            )
        finally:
            loop.cancel()
            await asyncio.gather(loop, return_exceptions=True)
            await redis.delete(lock_key)
        # The round was another replica's: the row is still there, unknown.
        assert await watcher.measure_unresolved() == 450
