"""What the storefront does: reserve for every shopper, and retry a checkout the way the API
tells it to (same key, any replica, until a 201 or a definitive refusal)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence

from tests.system.faults.harness import Fleet
from tests.system.faults.history import RETRYABLE_4XX, Checkout, Exchange


def should_retry(e: Exchange) -> bool:
    if e.status is None:  # no answer: the replica died, or the connection did
        return True
    return e.status >= 500 or (e.status, e.code) in RETRYABLE_4XX


async def reserve_all(fleet: Fleet, checkouts: Sequence[Checkout]) -> None:
    """One reservation per checkout on the first slot of the first store (no faults yet)."""
    replica = fleet.live_replica()
    slots = {}
    for fulfillment in sorted({c.fulfillment for c in checkouts}):
        slots[fulfillment] = await fleet.storefront.find_slot(
            replica, checkouts[0].user, fulfillment
        )
    gate = asyncio.Semaphore(8)

    async def one(c: Checkout) -> None:
        async with gate:
            e = await fleet.storefront.reserve(replica, c, *slots[c.fulfillment])
            assert e.status == 201, e

    await asyncio.gather(*(one(c) for c in checkouts))


async def keep_placing(
    fleet: Fleet,
    checkout: Checkout,
    replicas: Sequence[str],
    *,
    seconds: float,
    rng: random.Random,
    pause: tuple[float, float] = (0.15, 0.4),
    max_pause: float = 2.0,
    body_tag: str = "a",
) -> Exchange:
    """Place, and on an open outcome retry the same key on the next replica until a deadline,
    backing off (jittered, growing to `max_pause`)."""
    deadline = time.monotonic() + seconds
    turn = 0
    while True:
        live = [r for r in replicas if r not in fleet.killed]
        assert live, "every replica of this checkout is dead"
        replica = live[turn % len(live)]
        turn += 1
        e = await fleet.storefront.place(replica, checkout, body_tag)
        if not should_retry(e) or time.monotonic() > deadline:
            return e
        # the storefront's backoff before its retry (the behaviour under test), not a wait
        await asyncio.sleep(min(max_pause, rng.uniform(*pause) * 1.4 ** (turn - 1)))
