"""Scenario 5: the reconciler racing a slow re-send (issue 7, case 1).

The first create gets a definitive 503 (the sandbox creates nothing), so the row is `unknown`.
The shopper retries at once (the key's claim lapses after 1 s at the latest); the retry finds
no order upstream and sends the create again, which the sandbox takes 3 s to answer. The
background reconciler (grace 1.5 s, every 0.3 s, on both replicas) meets the same row while
that create is in flight.
The retry's 201 must be an order its owner sees, and the key must replay it.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from tests.system.faults.flows import keep_placing, reserve_all
from tests.system.faults.history import new_checkouts

pytestmark = pytest.mark.faults

CREATES = ("createDeliveryOrder", "createPickupOrder")
SHOPPERS = 8


async def test_reconciler_racing_a_slow_resend_hides_no_order(fleet) -> None:
    async with fleet(
        "reconciler_race",
        replicas=2,
        BFF_RECONCILER_ENABLED="true",
        BFF_RECONCILE_GRACE_SECONDS="1.5",
        BFF_RECONCILE_INTERVAL_SECONDS="0.3",
        BFF_IDEMPOTENCY_LOCK_SECONDS="1",
        BFF_IDEMPOTENCY_REPLAY_WAIT_SECONDS="0.2",
        BFF_INSTACART_CREATE_DEADLINE_SECONDS="10",
        BFF_INSTACART_BREAKER_FAILURE_THRESHOLD="100",
    ) as f:
        checkouts = new_checkouts("race", SHOPPERS, ("delivery", "pickup"))
        await reserve_all(f, checkouts)
        per_op = SHOPPERS // len(CREATES)
        await f.set_faults({op: {"fail_next": per_op, "status": 503} for op in CREATES})
        f.history.phase = "refused"
        first = await asyncio.gather(*(f.storefront.place("r0", c) for c in checkouts))
        f.count("create_503_fail_next", sum(1 for e in first if e.status == 503))
        # every first attempt was refused before anything was created
        assert [(e.status, e.code) for e in first] == [(503, "upstream_unavailable")] * SHOPPERS

        await f.set_faults({op: {"latency_ms": 3000} for op in CREATES})
        f.count("slow_creates", 1)
        f.history.phase = "resent"
        rng = random.Random(5)
        await asyncio.gather(
            *(
                keep_placing(
                    f, c, ("r1", "r0"), seconds=15, rng=rng, pause=(0.05, 0.1), max_pause=0.1
                )
                for c in checkouts
            )
        )
        result = await f.settle_and_check(checkouts)
    assert result["anomalies"] == [], result
