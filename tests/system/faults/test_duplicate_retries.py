"""Scenario 6: duplicated and reordered retries of one checkout, on both replicas at once.

Per shopper: the same request twice at the same instant on r0 and r1, the same key with another
body while the first runs (422) and reordered before it for some shoppers, a late duplicate
while the create is slow, then a retry after success (a replay) and the other body again (422).
"""

from __future__ import annotations

import asyncio

import pytest

from tests.system.faults.flows import reserve_all
from tests.system.faults.history import Checkout, new_checkouts

pytestmark = pytest.mark.faults

CREATES = ("createDeliveryOrder", "createPickupOrder")


async def test_duplicated_and_reordered_retries_make_one_order(fleet) -> None:
    async with fleet("duplicate_retries", replicas=2, BFF_IDEMPOTENCY_REPLAY_WAIT_SECONDS="3") as f:
        checkouts = new_checkouts("dup", 12, ("delivery", "pickup"))
        await reserve_all(f, checkouts)
        await f.set_faults({op: {"latency_ms": 600} for op in CREATES})
        f.count("slow_creates_600ms")
        f.history.phase = "racing"
        place = f.storefront.place

        async def later(seconds: float, coro):
            await asyncio.sleep(seconds)  # when the retry arrives: the race under test
            return await coro

        def bodies(i: int) -> tuple[str, str]:
            # reordered: for odd shoppers the other body arrives first and owns the key
            return ("a", "b") if i % 2 == 0 else ("b", "a")

        async def race(i: int, c: Checkout) -> None:
            first, other = bodies(i)
            await asyncio.gather(
                place("r0", c, first),
                later(0.02, place("r1", c, first)),
                later(0.02, place("r0", c, first)),
                later(0.15, place("r1", c, other)),
                later(0.3, place("r1", c, first)),
            )

        async def after(i: int, c: Checkout) -> None:
            first, other = bodies(i)
            await place("r0", c, first)
            await place("r1", c, other)

        await asyncio.gather(*(race(i, c) for i, c in enumerate(checkouts)))
        f.history.phase = "after"
        await asyncio.gather(*(after(i, c) for i, c in enumerate(checkouts)))
        anomalies = findings(f.history.of("place"), checkouts)
        result = await f.settle_and_check(checkouts, scenario_anomalies=anomalies)
    assert result["anomalies"] == [], result


def findings(placed: list, checkouts: list[Checkout]) -> list[dict]:
    """The body that won the key is answered (201, or 409 while running); the other is 422."""
    anomalies = []
    for c in checkouts:
        answers = [e for e in placed if e.user == c.user]
        winner = next((e.body_tag for e in answers if e.status == 201), None)
        if winner is None:
            anomalies.append({"kind": "no_201_for_either_body", "user": c.user})
        for e in answers:
            if e.body_tag != winner and (e.status, e.code) != (422, "idempotency_key_reused"):
                anomalies.append(
                    {"kind": "other_body_not_refused", "seq": e.seq, "status": e.status}
                )
            if e.body_tag == winner and e.status not in (201, 409):
                anomalies.append(
                    {"kind": "same_body_not_answered", "seq": e.seq, "status": e.status}
                )
    return anomalies
