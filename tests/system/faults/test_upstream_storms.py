"""Scenario 1: upstream error and hang storms, ambiguous creates, two replicas.

Creates fail with 503 and 500, hang after creating (the BFF's deadline ends first: the order
exists but the answer is lost), or are slow; getOrder fails now and then. Each shopper retries
the same key on the other replica until it has its order, while the background reconciler
(on both replicas) settles what the storm left ambiguous.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from tests.system.faults.flows import keep_placing, reserve_all
from tests.system.faults.history import new_checkouts

pytestmark = pytest.mark.faults

CREATES = ("createDeliveryOrder", "createPickupOrder")

# (name, operations, other fields of the fault set)
PHASES = [
    (
        "errors",
        {
            "createDeliveryOrder": {"error_rate": 0.5, "status": 503, "latency_ms": 100},
            "createPickupOrder": {"error_rate": 0.5, "status": 500, "latency_ms": 100},
            "getOrder": {"error_rate": 0.2, "status": 503},
        },
        {},
    ),
    (
        "hangs",
        {
            op: {"hang_after_create": True, "hang_seconds": 2.5}  # past the 1.5 s deadline
            for op in CREATES
        }
        | {"getOrder": {"error_rate": 0.2, "status": 503}},
        {},
    ),
    (
        "mixed",
        {op: {"error_rate": 0.3, "status": 503, "latency_ms": 300} for op in CREATES}
        | {"getOrder": {"latency_ms": 200, "error_rate": 0.1, "status": 500}},
        {"error_envelope": "connect"},  # the real API's error bodies, not the spec's
    ),
]
PHASE_SECONDS = 4.0


async def test_storms_of_errors_and_hangs_lose_and_duplicate_nothing(fleet) -> None:
    async with fleet(
        "upstream_storms",
        replicas=2,
        BFF_INSTACART_CREATE_DEADLINE_SECONDS="1.5",
        BFF_IDEMPOTENCY_LOCK_SECONDS="2",
        # the background reconciler settles ambiguous rows while shoppers retry them
        BFF_RECONCILER_ENABLED="true",
        BFF_RECONCILE_GRACE_SECONDS="2",
        BFF_RECONCILE_INTERVAL_SECONDS="0.5",
    ) as f:
        checkouts = new_checkouts("storm", 24, ("delivery", "pickup"))
        await reserve_all(f, checkouts)
        rng = random.Random(1)

        async def storm() -> None:
            for name, operations, extra in PHASES:
                f.history.phase = name
                await f.set_faults(operations, **extra)
                f.count(f"phase_{name}")
                await asyncio.sleep(PHASE_SECONDS)  # the storm's length, not a wait for state
            await f.clear_faults()
            f.history.phase = "calm"

        async def shopper(i: int) -> None:
            await asyncio.sleep(i * 0.45)  # arrivals spread over the storm
            replicas = ("r0", "r1") if i % 2 == 0 else ("r1", "r0")
            await keep_placing(f, checkouts[i], replicas, seconds=22, rng=rng)

        await asyncio.gather(storm(), *(shopper(i) for i in range(len(checkouts))))
        result = await f.settle_and_check(checkouts)
    assert result["anomalies"] == [], result
