"""Admission control: past capacity, refuse at once rather than queue.

A replica on one core holds about 50 checkouts a second with a 2 s Instacart create; at 75 a
second every request waits on a saturated event loop and customers see tens of seconds. Three
signals say a request would wait too long, and each refuses it with 503 `over_capacity` and
`Retry-After` before anything is read or parsed, so that a refusal costs almost nothing and the
requests already admitted keep their latency:

- requests of the storefront API in progress in this process (`BFF_ADMISSION_MAX_IN_FLIGHT`);
- the event loop's lag, sampled every 20 ms (`BFF_ADMISSION_LAG_BUDGET_MS`): a callback that
  runs that much later than it asked for means every request waits that much longer;
- how busy the event loop's thread is, the share of wall time it spent on the CPU over the last
  fifth of a second or so (`BFF_ADMISSION_LOOP_BUSY_PERCENT`). Lag shows a queue once it has
  formed; the busy share shows it forming. Only what starts a checkout (slots, reservations,
  reads) is refused for it: a placement follows a reservation already paid for, and finishing
  the checkouts already begun is what the capacity is for.

Probes, metrics, callbacks from Instacart and live event streams are never refused here: they
cost little, and refusing them would take the replica out of rotation or lose Instacart's news.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from app.platform.errors import OverCapacity
from app.platform.metrics import ADMISSION_IN_FLIGHT, ADMISSION_REFUSED
from app.platform.problems import app_error_response

_SAMPLE_SECONDS = 0.02
# A late sample is remembered, fading by half every 100 ms: one on-time sample after a stall
# must not hide that the loop was stalled a moment ago.
_FADE_PER_SAMPLE = 0.5 ** (_SAMPLE_SECONDS / 0.1)
# The busy share is an average whose weights halve every this many seconds.
_BUSY_HALF_LIFE = 0.15


class LoopLoad:
    """How late the event loop runs a callback (the latest stall, fading) and how busy its
    thread is, measured by a task that sleeps in a loop; the lifespan starts and stops it (0
    until started)."""

    def __init__(
        self,
        monotonic: Callable[[], float] = time.monotonic,
        thread_time: Callable[[], float] = time.thread_time,
    ) -> None:
        self.monotonic = monotonic
        self.thread_time = thread_time
        self.seconds = 0.0
        self.busy = 0.0  # share of wall time on the CPU, 0 to 1
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._sample())

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _sample(self) -> None:
        # Started on the loop's thread: thread_time is the loop's own CPU time.
        cpu = self.thread_time()
        while True:
            asked = self.monotonic()
            await asyncio.sleep(_SAMPLE_SECONDS)
            now, cpu_now = self.monotonic(), self.thread_time()
            elapsed = now - asked
            late = max(0.0, elapsed - _SAMPLE_SECONDS)
            self.seconds = max(late, self.seconds * _FADE_PER_SAMPLE)
            if elapsed > 0:
                share = min(1.0, (cpu_now - cpu) / elapsed)
                keep = 0.5 ** (elapsed / _BUSY_HALF_LIFE)
                self.busy = keep * self.busy + (1 - keep) * share
            cpu = cpu_now

    def __call__(self) -> float:
        return self.seconds


def _costly(scope: Scope) -> bool:
    """The storefront API, but not its long-lived event streams."""
    path: str = scope.get("path", "")
    return path.startswith("/v1/") and not path.endswith("/events")


def _places_an_order(scope: Scope) -> bool:
    return scope.get("method") == "POST" and scope.get("path") == "/v1/orders"


class AdmissionControl:
    """Pure ASGI: counts the storefront requests in progress and refuses past the limits."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_in_flight: int,
        lag_budget_seconds: float,
        busy_budget: float,
        loop: LoopLoad,
    ) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.lag_budget = lag_budget_seconds
        self.busy_budget = busy_budget
        self.loop = loop
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _costly(scope):
            await self.app(scope, receive, send)
            return
        reason = None
        if self.in_flight >= self.max_in_flight:
            reason = "in_flight"
        elif self.loop.seconds > self.lag_budget:
            reason = "loop_lag"
        elif self.loop.busy > self.busy_budget and not _places_an_order(scope):
            reason = "loop_busy"
        if reason is not None:
            ADMISSION_REFUSED.labels(reason).inc()
            error = OverCapacity("The service is at capacity; retry in a moment.")
            await app_error_response(error, scope.get("path"))(scope, receive, send)
            return
        self.in_flight += 1
        ADMISSION_IN_FLIGHT.set(self.in_flight)
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            ADMISSION_IN_FLIGHT.set(self.in_flight)
