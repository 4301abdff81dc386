"""Scenario 6: duplicated and reordered retries of one checkout, on both replicas at once.

Per shopper: the same request twice at the same instant on r0 and r1, the same key with another
body while the first runs (422) and reordered before it for some shoppers, a late duplicate
while the create is slow, then a retry after success (a replay) and the other body again (422).
"""

from __future__ import annotations

import asyncio

import pytest

from tests.faults.flows import reserve_all
from tests.faults.history import Checkout, new_checkouts

pytestmark = pytest.mark.faults

CREATES = ("createDeliveryOrder", "createPickupOrder")


async def test_duplicated_and_reordered_retries_make_one_order(fleet) -> None:
    async with fleet("duplicate_retries", replicas=2, BFF_IDEMPOTENCY_REPLAY_WAIT_SECONDS="3") as f:
        checkouts = new_checkouts("dup", 12, ("delivery", "pickup"))
        await reserve_all(f, checkouts)
        await f.set_faults({op: {"latency_ms": 600} for op in CREATES})
        f.history.phase = "racing"
        place = f.storefront.place

        async def later(seconds: float, coro):
            await asyncio.sleep(seconds)
            return await coro

        async def shopper(i: int, c: Checkout) -> None:
            # reordered: for odd shoppers the other body arrives first and owns the key
            first, other = ("a", "b") if i % 2 == 0 else ("b", "a")
            await asyncio.gather(
                place("r0", c, first),
                later(0.02, place("r1", c, first)),
                later(0.02, place("r0", c, first)),
                later(0.15, place("r1", c, other)),
                later(0.3, place("r1", c, first)),
            )
            f.history.phase = "after"
            await place("r0", c, first)
            await place("r1", c, other)

        await asyncio.gather(*(shopper(i, c) for i, c in enumerate(checkouts)))
        result = await f.settle_and_check(checkouts)

    anomalies = result["anomalies"]
    for c in checkouts:
        answers = [e for e in f.history.of("place") if e.user == c.user and e.phase != "probe"]
        winner = next(e.body_tag for e in answers if e.status == 201)
        for e in answers:
            if e.body_tag != winner and (e.status, e.code) != (422, "idempotency_key_reused"):
                anomalies.append(
                    {"kind": "other_body_not_refused", "seq": e.seq, "status": e.status}
                )
            if e.body_tag == winner and e.status not in (201, 409):
                anomalies.append(
                    {"kind": "same_body_not_answered", "seq": e.seq, "status": e.status}
                )
    assert anomalies == [], result
