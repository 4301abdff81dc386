"""Live order changes, published on Redis so that a stream on any replica sees them.

Whoever changes what a customer sees of an order (a callback, a read that found a newer
status, a cancel, the reconciler) publishes the order after its transaction commits, on the
order's own channel. A message is ``{"version": int, "order": <Order as the API shows it>}``;
the version is the order row's, bumped with every visible change, so a reader can drop what it
has already sent and resume from a Last-Event-ID.

Redis is for speed here, never the record: a publish that fails is logged and forgotten (the
stream reads Postgres again on its own), and Postgres always holds the current order.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.orders.tables import OrderRow
from app.orders.view import order_view

log = structlog.get_logger("app.orders.events")


@dataclass(frozen=True, slots=True)
class OrderChange:
    version: int
    order: dict[str, Any]  # the Order as the storefront API shows it (JSON-ready)


class OrderEvents:
    def __init__(self, redis: Redis, namespace: str) -> None:
        self.redis = redis
        self.namespace = namespace

    def channel(self, order_id: str) -> str:
        return f"{self.namespace}:order-events:{order_id}"

    async def publish(self, row: OrderRow) -> None:
        """Tell every replica's streams about the order as it now is."""
        order = order_view(row).model_dump(mode="json")
        message = orjson.dumps({"version": row.version, "order": order})
        try:
            await self.redis.publish(self.channel(row.id), message)
        except (RedisError, OSError) as exc:
            log.warning("order_events.publish_failed", order_id=row.id, error=type(exc).__name__)

    @contextlib.asynccontextmanager
    async def subscribe(self, order_id: str) -> AsyncIterator[Subscription]:
        """Subscribe before reading the current order, so that no change falls in between.

        Raises RedisError/OSError when Redis cannot be reached (the caller then polls
        Postgres instead).
        """
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.channel(order_id))
            yield Subscription(pubsub)
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]  # unannotated in redis-py


class Subscription:
    def __init__(self, pubsub: Any) -> None:
        self._pubsub = pubsub

    async def next_change(self, wait_seconds: float) -> OrderChange | None:
        """The next change published, or None when none came within `wait_seconds`."""
        deadline = time.monotonic() + wait_seconds
        while (remaining := deadline - time.monotonic()) > 0:
            message = await self._pubsub.get_message(
                ignore_subscribe_messages=True, timeout=remaining
            )
            if message is None or message.get("type") != "message":
                continue
            try:
                data = orjson.loads(message["data"])
                return OrderChange(int(data["version"]), dict(data["order"]))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                log.warning("order_events.bad_message")
        return None
