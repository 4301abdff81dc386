"""Scenario 2: a replica SIGKILLed mid-placement; shoppers retry on the other replica.

r0 dies while eight creates are in flight: the pickup creates are slow but will make their
order (the sandbox finishes a call whose client left), the delivery creates hang unprocessed
and make none. Either way a row is left pending, its key claimed by a process that no longer
exists. Eight more shoppers arrive after the kill.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from tests.system.faults.flows import keep_placing, reserve_all
from tests.system.faults.history import new_checkouts

pytestmark = pytest.mark.faults

CREATES = ("createDeliveryOrder", "createPickupOrder")
SHOPPERS = 16
# The dead replica's placements keep their lease until it lapses (nobody renews it any more):
# 3 s here. Retries meanwhile are 409 request_in_progress; the shoppers retry well past that.
LEASE_SECONDS = 3
PATIENCE = 25


async def test_replica_killed_mid_placement_loses_and_duplicates_nothing(fleet) -> None:
    async with fleet(
        "replica_killed",
        replicas=2,
        BFF_INSTACART_CREATE_DEADLINE_SECONDS="2",
        BFF_IDEMPOTENCY_LOCK_SECONDS="2",
        BFF_PLACEMENT_LEASE_SECONDS=str(LEASE_SECONDS),
    ) as f:
        checkouts = new_checkouts("killed", SHOPPERS, ("delivery", "pickup"))
        await reserve_all(f, checkouts)
        await f.set_faults(
            {
                "createDeliveryOrder": {"hang": True, "hang_seconds": 30},
                "createPickupOrder": {"latency_ms": 1500},
            }
        )
        f.history.phase = "placing"
        rng = random.Random(2)

        async def shopper(i: int) -> None:
            await asyncio.sleep(i * 0.05)  # the first half before the kill, the rest after
            await keep_placing(f, checkouts[i], ("r0", "r1"), seconds=PATIENCE, rng=rng)

        async def killer() -> None:
            # the first half's creates have reached the sandbox (and wait there): r0 dies now
            await f.wait_for("half the creates sent", lambda: _sent(f, SHOPPERS // 2), timeout=20)
            f.history.phase = "after_kill"
            f.kill("r0")
            f.count("creates_in_flight_at_kill", await f.calls(*CREATES))
            await f.clear_faults()

        await asyncio.gather(killer(), *(shopper(i) for i in range(SHOPPERS)))
        result = await f.settle_and_check(checkouts)
    assert result["anomalies"] == [], result


async def _sent(f, n: int) -> bool:
    return await f.calls(*CREATES) >= n
