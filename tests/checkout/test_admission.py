"""Admission control (issue 15, finding 5): past capacity, refuse at once rather than queue."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
from prometheus_client import REGISTRY
from starlette.types import Receive, Scope, Send

from app.platform.admission import AdmissionControl, LoopLoad
from local_processes.waiting import wait_until_async


def _in_flight() -> float:
    return REGISTRY.get_sample_value("bff_admission_in_flight") or 0.0


async def test_past_the_in_flight_limit_a_request_is_refused_at_once(
    open_checkout: Callable[..., Any], user: str
) -> None:
    async with open_checkout(admission_max_in_flight=2) as checkout:
        first = await checkout.reserve("pickup", f"{user}-1")
        second = await checkout.reserve("pickup", f"{user}-2")
        await checkout.faults({"operations": {"createPickupOrder": {"latency_ms": 1500}}})
        placing = [
            asyncio.create_task(checkout.place(first, f"{user}-1")),
            asyncio.create_task(checkout.place(second, f"{user}-2")),
        ]
        await wait_until_async(lambda: _in_flight() >= 2, what="the two placements under way")

        started = time.monotonic()
        refused = await checkout.bff.get("/v1/orders", headers=checkout.auth(user))
        assert time.monotonic() - started < 0.5  # answered at once, not queued behind them
        assert refused.status_code == 503
        assert refused.json()["code"] == "over_capacity"
        assert refused.headers["retry-after"] == "1"
        assert refused.headers["x-request-id"]
        # probes are never refused: the replica stays in rotation
        assert (await checkout.bff.get("/readyz")).status_code == 200

        assert [p.status_code for p in await asyncio.gather(*placing)] == [201, 201]
        listed = await checkout.bff.get("/v1/orders", headers=checkout.auth(f"{user}-1"))
        assert listed.status_code == 200


async def _ok(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def test_a_lagging_event_loop_refuses_storefront_requests_but_not_probes() -> None:
    loop = LoopLoad()
    loop.seconds = 0.5
    admission = AdmissionControl(
        _ok, max_in_flight=100, lag_budget_seconds=0.15, busy_budget=0.85, loop=loop
    )
    transport = httpx.ASGITransport(app=admission)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/v1/orders")).status_code == 503
        assert (await client.post("/v1/orders")).status_code == 503
        assert (await client.get("/readyz")).status_code == 200
        assert (await client.post("/callbacks/instacart")).status_code == 200
        assert (await client.get("/v1/orders/ord_1/events")).status_code == 200
        loop.seconds = 0.01
        assert (await client.get("/v1/orders")).status_code == 200


async def test_a_busy_event_loop_refuses_new_checkouts_but_finishes_placements() -> None:
    loop = LoopLoad()
    loop.busy = 0.95
    admission = AdmissionControl(
        _ok, max_in_flight=100, lag_budget_seconds=0.15, busy_budget=0.85, loop=loop
    )
    transport = httpx.ASGITransport(app=admission)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for method, path in (("POST", "/v1/reservations"), ("GET", "/v1/stores/s1/slots")):
            refused = await client.request(method, path)
            assert refused.status_code == 503
            assert refused.json()["code"] == "over_capacity"
        # a placement follows a reservation already paid for: it is let through
        assert (await client.post("/v1/orders")).status_code == 200
        loop.busy = 0.5
        assert (await client.post("/v1/reservations")).status_code == 200


async def test_the_loop_lag_and_busy_share_are_measured() -> None:
    readings = {"n": 0}

    def monotonic() -> float:
        readings["n"] += 1
        return time.monotonic()

    # The loop thread's CPU time is told, not read: on a shared machine a spinning thread gets
    # what the others leave it, and the share measured would be theirs to decide.
    cpu = {"seconds": 0.0}
    lag = LoopLoad(monotonic, thread_time=lambda: cpu["seconds"])
    lag.start()
    try:
        # Two readings make one sample: a loop that nothing blocks runs it on time.
        await wait_until_async(lambda: readings["n"] >= 2, what="the first sample of the lag")
        assert lag() < 0.1
        time.sleep(0.3)  # the point: block the loop, as an overloaded one is...
        cpu["seconds"] += 0.3  # ...on the CPU all that time
        await wait_until_async(lambda: lag() >= 0.2, what="the stall measured as lag")
        assert lag.busy > 0.5  # blocked on the CPU for most of the last fifth of a second
        # the loop is idle from here on: the average forgets the stall
        await wait_until_async(lambda: lag.busy < 0.3, what="the busy share to fade")
    finally:
        await lag.aclose()
