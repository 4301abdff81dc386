"""Scenario 3: completed keys replay after the reservations left Redis, and with Redis stopped.

Postgres holds the first answer of every completed key, so neither a FLUSHALL (eviction,
failover) nor a stopped Redis may change it. Checkouts reserved before the flush and placed
after it still complete: a Redis loss costs no checkout in progress.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from tests.system.faults.flows import keep_placing, reserve_all
from tests.system.faults.history import new_checkouts

pytestmark = pytest.mark.faults


async def test_replays_answer_from_postgres_without_redis(fleet) -> None:
    async with fleet("replay_without_redis", replicas=2) as f:
        checkouts = new_checkouts("replay", 10, ("delivery", "pickup"))
        completed, in_progress = checkouts[:6], checkouts[6:]
        await reserve_all(f, checkouts)
        f.history.phase = "before"
        first = await asyncio.gather(*(f.storefront.place("r0", c) for c in completed))
        assert [e.status for e in first] == [201] * len(completed), first
        order_of = {e.user: e.order_id for e in first}

        f.history.phase = "flushed"
        await asyncio.to_thread(f.redis.flushall)
        f.count("redis_flushall")
        flushed = await asyncio.gather(*(f.storefront.place("r1", c) for c in completed))
        late = await asyncio.gather(*(f.storefront.place("r1", c) for c in in_progress))

        f.history.phase = "redis_down"
        await asyncio.to_thread(f.redis.stop)
        f.count("redis_stopped")
        down = await asyncio.gather(*(f.storefront.place("r0", c) for c in completed))
        lists = await asyncio.gather(*(f.storefront.list_orders("r1", c.user) for c in completed))
        await asyncio.to_thread(f.redis.start)

        f.history.phase = "redis_back"
        rng = random.Random(3)
        await asyncio.gather(
            *(keep_placing(f, c, ("r0", "r1"), seconds=10, rng=rng) for c in in_progress)
        )
        anomalies = findings(order_of, [*flushed, *down], late, lists)
        result = await f.settle_and_check(checkouts, scenario_anomalies=anomalies)
    assert result["anomalies"] == [], result


def findings(order_of: dict, replays: list, late: list, lists: list) -> list[dict]:
    anomalies = []
    for e in replays:
        if (e.status, e.order_id, e.replayed) != (201, order_of[e.user], True):
            anomalies.append(_anomaly("completed_key_not_replayed", e))
    for e in late:
        if e.status != 201:
            anomalies.append(_anomaly("reservation_lost_with_redis", e))
    for e in lists:
        if e.status != 200 or order_of[e.user] not in e.order_ids:
            anomalies.append(_anomaly("orders_unlisted_without_redis", e))
    return anomalies


def _anomaly(kind: str, e) -> dict:
    return {
        "kind": kind,
        "user": e.user,
        "phase": e.phase,
        "status": e.status,
        "code": e.code,
        "order_id": e.order_id,
        "replayed": e.replayed,
    }
