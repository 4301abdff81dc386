"""Scenario 2: a replica SIGKILLed mid-placement; shoppers retry on the other replica.

Creates are slow (latency before the sandbox acts), so when r0 dies some creates have reached
the sandbox and will still make their order, and others have not been sent yet: rows are left
pending either way, with their keys claimed by a process that no longer exists.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from tests.faults.flows import keep_placing, reserve_all
from tests.faults.history import new_checkouts

pytestmark = pytest.mark.faults

CREATES = ("createDeliveryOrder", "createPickupOrder")
SHOPPERS = 16


async def test_replica_killed_mid_placement_loses_and_duplicates_nothing(fleet) -> None:
    async with fleet(
        "replica_killed",
        replicas=2,
        BFF_INSTACART_CREATE_DEADLINE_SECONDS="5",
        BFF_IDEMPOTENCY_LOCK_SECONDS="2",
    ) as f:
        checkouts = new_checkouts("killed", SHOPPERS, ("delivery", "pickup"))
        await reserve_all(f, checkouts)
        await f.set_faults({op: {"latency_ms": 1500} for op in CREATES})
        f.count("slow_creates_1500ms")
        f.history.phase = "placing"
        rng = random.Random(2)

        async def shopper(i: int) -> None:
            await asyncio.sleep(i * 0.12)  # some creates sent before the kill, some not
            await keep_placing(f, checkouts[i], ("r0", "r1"), seconds=20, rng=rng)

        async def killer() -> None:
            # half the creates have reached the sandbox (and wait there): r0 dies now
            await f.wait_for("half the creates sent", lambda: _sent(f, SHOPPERS // 2), timeout=20)
            f.history.phase = "after_kill"
            f.kill("r0")
            await f.clear_faults()

        await asyncio.gather(killer(), *(shopper(i) for i in range(SHOPPERS)))
        result = await f.settle_and_check(checkouts)
    assert result["anomalies"] == [], result


async def _sent(f, n: int) -> bool:
    return await f.calls(*CREATES) >= n
