"""One order's live status as Server-Sent Events, from any replica.

A stream subscribes to the order's channel first and reads the order from Postgres second, so
that no change falls in between; it sends the order as it is, then every newer version
published, and ends after a terminal status. Versions already sent (this stream's, or the
client's Last-Event-ID) are dropped, so duplicates and reorderings of pub/sub do no harm.

Redis is for speed, never correctness: while its channel's subscription is not live (Redis
down, the process's one pub/sub connection reconnecting: app/live_status/fan_out.py) the stream
polls Postgres for a newer version every few seconds, and with one it still re-reads Postgres
now and then, for a publish that failed or a message lost while the subscription reconnected.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import anyio
import orjson
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.live_status.fan_out import Listener, OrderEventsFanOut
from app.orders.events import OrderChange
from app.orders.repository import OrdersRepository
from app.orders.view import order_view
from app.orders.vocabulary import PlacementState
from app.orders.vocabulary import is_terminal as is_terminal_status
from app.platform.dependency_failures import is_dependency_failure
from app.platform.errors import NotFound, RateLimited
from app.platform.metrics import EVENT_STREAMS_OPEN

log = structlog.get_logger("app.live_status.streams")

# How long a browser waits before reconnecting after a stream ends or breaks.
RECONNECT_MILLISECONDS = 2000
HEARTBEAT = b": heartbeat\n\n"
SHUTDOWN_NOTICE = 1.0  # seconds


@dataclass(frozen=True, slots=True)
class StreamTimings:
    heartbeat_seconds: float
    max_seconds: float
    poll_seconds: float  # without a subscription
    recheck_seconds: float  # with one


def status_frame(change: OrderChange) -> bytes:
    """One `status` event; its id is the order's version, which Last-Event-ID echoes."""
    return b"event: status\nid: %d\ndata: %s\n\n" % (change.version, orjson.dumps(change.order))


def is_terminal(change: OrderChange) -> bool:
    return is_terminal_status(change.order.get("status"))


class OrderStreams:
    """Opens streams; one per process, shared by every request."""

    def __init__(
        self,
        fan_out: OrderEventsFanOut,
        sessions: async_sessionmaker[AsyncSession],
        timings: StreamTimings,
        *,
        max_per_user: int = 10,
        max_per_order: int = 5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fan_out = fan_out
        self.sessions = sessions
        self.timings = timings
        self.clock = clock
        self.closing = False
        # Each open stream holds a request, a listener and a task: one token must not open
        # hundreds. Counted in this process (a replica's own resources are what it bounds).
        self.max_per_user = max_per_user
        self.max_per_order = max_per_order
        self._per_user: Counter[str] = Counter()
        self._per_order: Counter[str] = Counter()

    def begin_shutdown(self) -> None:
        """The process is stopping: every stream ends within a second (clients reconnect,
        with Last-Event-ID, to a replica that stays)."""
        self.closing = True

    async def current(self, user_id: str, order_id: str) -> OrderChange:
        """The order as its owner sees it now; NotFound for anyone else's or an unplaced one."""
        async with self.sessions() as session:
            row = await OrdersRepository(session).get_for_user(order_id, user_id)
        if row is None or row.placement_state != PlacementState.CREATED:
            raise NotFound("No such order.")
        return OrderChange(row.version, order_view(row).model_dump(mode="json"))

    async def open(self, user_id: str, order_id: str, last_event_id: int | None) -> OrderStream:
        """Subscribe, then read the order. NotFound (before anything is sent) if not theirs.

        The caller must `aclose()` the stream, whether or not it iterates it.
        """
        if self._per_user[user_id] >= self.max_per_user:
            raise RateLimited(5, f"At most {self.max_per_user} open event streams per user.")
        if self._per_order[order_id] >= self.max_per_order:
            raise RateLimited(5, f"At most {self.max_per_order} open event streams per order.")
        resources = contextlib.AsyncExitStack()
        try:
            subscription = await resources.enter_async_context(self.fan_out.subscribe(order_id))
            first = await self.current(user_id, order_id)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await resources.aclose()
            raise
        EVENT_STREAMS_OPEN.inc()
        self._per_user[user_id] += 1
        self._per_order[order_id] += 1
        return OrderStream(self, resources, subscription, user_id, first, last_event_id)

    def release(self, user_id: str, order_id: str) -> None:
        """A stream of `user_id` on `order_id` has closed: its place in the budgets is free."""
        for counts, key in ((self._per_user, user_id), (self._per_order, order_id)):
            counts[key] -= 1
            if counts[key] <= 0:
                del counts[key]


class OrderStream:
    """The frames of one stream: iterate it once, then `aclose()` it (idempotent)."""

    def __init__(
        self,
        streams: OrderStreams,
        resources: contextlib.AsyncExitStack,
        subscription: Listener,
        user_id: str,
        first: OrderChange,
        last_event_id: int | None,
    ) -> None:
        self._streams = streams
        self._resources = resources
        self._subscription = subscription
        self._user_id = user_id
        self.first = first
        self.order_id = str(first.order["id"])
        self.last_sent = -1 if last_event_id is None else last_event_id
        self._closed = False
        self._next_read = 0.0
        self._live = subscription.live

    @property
    def finished(self) -> bool:
        """True when the client has already seen the order end: there is nothing to stream."""
        return self.last_sent >= self.first.version and is_terminal(self.first)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        EVENT_STREAMS_OPEN.dec()
        self._streams.release(self._user_id, self.order_id)
        # Shielded: a client that left cancels us, and the Redis connection must still go back.
        with anyio.CancelScope(shield=True):
            await self._resources.aclose()

    async def frames(self) -> AsyncIterator[bytes]:
        try:
            async for frame in self._frames():
                yield frame
        finally:
            await self.aclose()

    async def _frames(self) -> AsyncIterator[bytes]:
        timings, clock = self._streams.timings, self._streams.clock
        now = clock()
        ends_at = now + timings.max_seconds
        self._schedule_read(now)
        head = b"retry: %d\n\n" % RECONNECT_MILLISECONDS
        if self.first.version > self.last_sent:
            yield head + status_frame(self.first)
            self.last_sent = self.first.version
            if is_terminal(self.first):
                return
        else:
            yield head
        next_heartbeat = clock() + timings.heartbeat_seconds
        while (now := clock()) < ends_at and not self._streams.closing:
            # At most a second at a time, so a stopping process is noticed promptly.
            wait = min(ends_at, next_heartbeat, self._next_read, now + SHUTDOWN_NOTICE) - now
            change = await self._next_change(max(wait, 0.0))
            now = clock()
            if change is None and now >= self._next_read:
                change = await self._read()
                if change is None:
                    return  # Postgres unreachable: the client reconnects and we start afresh
                self._schedule_read(now)
            if change is not None and change.version > self.last_sent:
                yield status_frame(change)
                self.last_sent = change.version
                next_heartbeat = now + timings.heartbeat_seconds
                if is_terminal(change):
                    return
            elif now >= next_heartbeat:
                yield HEARTBEAT
                next_heartbeat = now + timings.heartbeat_seconds
        log.debug("order_stream.max_duration", order_id=self.order_id)

    def _schedule_read(self, now: float) -> None:
        timings = self._streams.timings
        period = timings.recheck_seconds if self._subscription.live else timings.poll_seconds
        self._next_read = now + period

    async def _next_change(self, wait: float) -> OrderChange | None:
        change = await self._subscription.next_change(wait)
        live = self._subscription.live
        if self._live and not live:
            # The subscription is gone: read Postgres now, then poll it until it is back.
            log.warning("order_stream.subscription_lost", order_id=self.order_id)
            self._next_read = self._streams.clock()
        self._live = live
        return change

    async def _read(self) -> OrderChange | None:
        try:
            return await self._streams.current(self._user_id, self.order_id)
        except NotFound:
            return None  # orders are not deleted; should one be, the stream just ends
        except Exception as exc:
            if not is_dependency_failure(exc):
                raise
            log.warning(
                "order_stream.read_failed", order_id=self.order_id, error=type(exc).__name__
            )
            return None
