"""One Redis subscription per process, fanned out to every event stream the process serves.

A stream used to hold a pub/sub connection of its own for its whole life (minutes): a fleet of
20 replicas with a few hundred streams each passes Redis's default limit of 10,000 clients, and
every stream opened a connection before it sent a byte. Here a process holds one connection. The
first stream of an order subscribes to the order's channel and waits for Redis to confirm it (so
that no change published after the stream reads Postgres can be missed); the last one to close
unsubscribes; one reader task hands each message to the streams of its channel.

Redis is for speed, never correctness. When the connection breaks, every listener is told it is
no longer live (its stream re-reads Postgres at once and then polls it) and the reader connects
again with backoff, subscribing to every channel still wanted; a listener is live again once Redis
confirms its channel.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import orjson
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.orders.events import OrderChange

log = structlog.get_logger("app.live_status.fan_out")

# A stream reads its order's changes as they come; should it fall this far behind, the oldest
# are dropped (each change carries the whole order, and the stream re-reads Postgres anyway).
BACKLOG = 16
RECONNECT_FIRST_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 5.0
# How long one read of the connection waits before the reader looks at its state again.
READ_SECONDS = 1.0
# A stream waits this long for Redis to confirm its channel before it reads the order; past it,
# it starts by polling Postgres.
CONFIRM_SECONDS = 2.0


class Listener:
    """One stream's view of its order's channel."""

    def __init__(self) -> None:
        self.live = False  # True while Redis has confirmed the channel's subscription
        self._backlog: deque[OrderChange] = deque(maxlen=BACKLOG)
        self._wake = asyncio.Event()
        self._live_again = asyncio.Event()

    async def next_change(self, wait_seconds: float) -> OrderChange | None:
        """The next change published, or None after `wait_seconds` or as soon as the listener
        stops being live (its stream then reads Postgres)."""
        if not self._backlog:
            self._wake.clear()
            with anyio.move_on_after(wait_seconds):
                await self._wake.wait()
        return self._backlog.popleft() if self._backlog else None

    async def wait_live(self, seconds: float) -> None:
        with anyio.move_on_after(seconds):
            await self._live_again.wait()

    def deliver(self, change: OrderChange) -> None:
        self._backlog.append(change)
        self._wake.set()

    def set_live(self, live: bool) -> None:
        self.live = live
        if live:
            self._live_again.set()
        else:
            self._live_again.clear()
            self._wake.set()


class OrderEventsFanOut:
    """Subscribes once per channel for however many streams of the process follow it."""

    def __init__(
        self,
        redis: Redis,
        channel_of: Callable[[str], str],
        *,
        confirm_seconds: float = CONFIRM_SECONDS,
    ) -> None:
        self.redis = redis
        self.channel_of = channel_of
        self.confirm_seconds = confirm_seconds
        self._listeners: dict[str, set[Listener]] = {}
        self._confirmed: set[str] = set()
        self._pubsub: Any = None  # redis-py's PubSub, connected (its asyncio class is untyped)
        # One command at a time on the connection, in the order they were asked for: an
        # unsubscribe and the next stream's subscribe to the same channel must not swap.
        self._commands = asyncio.Lock()
        self._wanted = asyncio.Event()  # wakes an idle reader: a first channel is wanted
        # The last connection attempt failed: a new stream starts polling without waiting.
        self._unreachable = False
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def channels(self) -> int:
        """Channels this process follows now."""
        return len(self._listeners)

    def start(self) -> None:
        self._task = asyncio.create_task(self._read_forever(), name="order-events-fan-out")

    async def aclose(self) -> None:
        self._closing = True
        self._wanted.set()
        if self._task is not None:
            self._task.cancel()
            # A read that swallows the cancellation still ends within READ_SECONDS, and the
            # loop then sees that it is closing.
            await asyncio.wait({self._task}, timeout=READ_SECONDS * 2)
        await self._drop_connection()

    @contextlib.asynccontextmanager
    async def subscribe(self, order_id: str) -> AsyncIterator[Listener]:
        """Follow an order's channel; returns once Redis confirmed it, or after
        `confirm_seconds` with a listener that is not live (its stream polls Postgres)."""
        channel = self.channel_of(order_id)
        listener = Listener()
        listeners = self._listeners.setdefault(channel, set())
        listeners.add(listener)
        try:
            if channel in self._confirmed:
                listener.set_live(True)
            elif len(listeners) == 1:
                await self._command("subscribe", channel)
            if not self._unreachable:
                await listener.wait_live(self.confirm_seconds)
            yield listener
        finally:
            listeners.discard(listener)
            if not listeners and self._listeners.get(channel) is listeners:
                del self._listeners[channel]
                self._confirmed.discard(channel)
                with anyio.CancelScope(shield=True):
                    await self._command("unsubscribe", channel)

    async def _command(self, name: str, channel: str) -> None:
        """Best effort: with no connection the reader connects and subscribes to every channel
        wanted then; on a broken one redis-py reconnects and subscribes again."""
        async with self._commands:
            pubsub = self._pubsub
            if pubsub is None:
                self._wanted.set()
                return
            try:
                await getattr(pubsub, name)(channel)
            except (RedisError, OSError) as exc:
                log.info("order_events.command_failed", command=name, error=type(exc).__name__)

    async def _read_forever(self) -> None:
        backoff = RECONNECT_FIRST_SECONDS
        while not self._closing:
            if not self._listeners:
                self._wanted.clear()
                await self._wanted.wait()
                continue
            try:
                pubsub = await self._connect()
                backoff = RECONNECT_FIRST_SECONDS
                while pubsub is not None and not self._closing:
                    message = await pubsub.get_message(timeout=READ_SECONDS)
                    if message is not None:
                        self._dispatch(message)
            except (RedisError, OSError) as exc:
                log.warning("order_events.connection_lost", error=type(exc).__name__)
                self._unreachable = True
            await self._drop_connection()
            if not self._closing:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, RECONNECT_MAX_SECONDS)

    async def _connect(self) -> Any:
        """Connect by subscribing to every channel wanted; None when none is wanted any more."""
        async with self._commands:
            wanted = list(self._listeners)
            if not wanted:
                return None
            pubsub = self.redis.pubsub()
            self._pubsub = pubsub
            await pubsub.subscribe(*wanted)
            return pubsub

    async def _drop_connection(self) -> None:
        self._confirmed.clear()
        for listeners in self._listeners.values():
            for listener in listeners:
                listener.set_live(False)
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = _text(message.get("channel"))
        listeners = self._listeners.get(channel, ())
        if message.get("type") == "subscribe":
            self._unreachable = False
            if listeners:
                self._confirmed.add(channel)
            for listener in listeners:
                listener.set_live(True)
            return
        if message.get("type") != "message":
            return
        try:
            data = orjson.loads(message["data"])
            change = OrderChange(int(data["version"]), dict(data["order"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("order_events.bad_message")
            return
        for listener in listeners:
            listener.deliver(change)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
