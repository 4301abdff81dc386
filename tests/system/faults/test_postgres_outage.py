"""Scenario 4: the private PostgreSQL cluster stopped and started again under the fleet.

During the outage every order route answers 503 `dependency_unavailable` with Retry-After (a
dependency failure, never a 500), readiness says not ready, and once Postgres is back the
checkouts that waited go through with no lost or doubled order.
"""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest

from local_processes.waiting import wait_until
from tests.system.faults.flows import keep_placing, reserve_all
from tests.system.faults.history import new_checkouts

pytestmark = pytest.mark.faults


async def test_postgres_outage_is_503_with_retry_after_and_recovers(fleet) -> None:
    async with fleet("postgres_outage", replicas=2) as f:
        checkouts = new_checkouts("pgdown", 12, ("delivery", "pickup"))
        before, waiting = checkouts[:4], checkouts[4:]
        await reserve_all(f, checkouts)
        f.history.phase = "before"
        first = await asyncio.gather(*(f.storefront.place("r0", c) for c in before))
        assert [e.status for e in first] == [201] * len(before), first
        order_of = {e.user: e.order_id for e in first}

        await asyncio.to_thread(f.pg.stop, "fast")
        f.count("postgres_stopped")
        f.history.phase = "postgres_down"
        sf = f.storefront
        outage = []
        for round_ in range(2):
            replica = ("r0", "r1")[round_]
            outage += await asyncio.gather(
                *(sf.place(replica, c) for c in waiting),
                *(sf.place(replica, c) for c in before),
                *(sf.list_orders(replica, c.user) for c in before),
                *(sf.get_order(replica, c.user, order_of[c.user]) for c in before),
            )
            outage += [await sf.ready(replica)]

        await asyncio.to_thread(f.pg.start)
        f.history.phase = "postgres_back"
        await asyncio.to_thread(
            wait_until,
            lambda: all(
                httpx.get(s.url + "/readyz", timeout=2).status_code == 200
                for s in f.replicas.values()
            ),
            what="every replica ready",
            timeout=30,
            ignoring=(httpx.TransportError,),
        )
        rng = random.Random(4)
        await asyncio.gather(
            *(keep_placing(f, c, ("r1", "r0"), seconds=15, rng=rng) for c in waiting)
        )
        anomalies = findings(outage, order_of)
        result = await f.settle_and_check(checkouts, scenario_anomalies=anomalies)
    assert result["anomalies"] == [], result


def findings(outage: list, order_of: dict) -> list[dict]:
    anomalies = []
    for e in outage:
        if e.op == "ready":
            # readiness is about the process: the replica stays in the load balancer
            ok = e.status == 200
        elif e.op == "place" and e.status == 201:
            # a replay answered from elsewhere is fine, as long as it is the first answer
            ok = e.replayed and e.order_id == order_of.get(e.user)
        else:
            ok = (e.status, e.code) == (503, "dependency_unavailable") and bool(e.retry_after)
        if not ok:
            anomalies.append(
                {
                    "kind": "outage_answer_not_503_dependency_unavailable",
                    "op": e.op,
                    "replica": e.replica,
                    "status": e.status,
                    "code": e.code,
                    "retry_after": e.retry_after,
                    "error": e.error,
                }
            )
    return anomalies
