"""Live order changes, published on Redis so that a stream on any replica sees them.

Whoever changes what a customer sees of an order (a callback, a read that found a newer
status, a cancel, the reconciler) publishes the order after its transaction commits, on the
order's own channel. A message is ``{"version": int, "order": <Order as the API shows it>}``;
the version is the order row's, bumped with every visible change, so a reader can drop what it
has already sent and resume from a Last-Event-ID. Each process follows the channels of its open
streams over one connection (app/live_status/fan_out.py).

Redis is for speed here, never the record: a publish that fails is logged and forgotten (the
stream reads Postgres again on its own), and Postgres always holds the current order.
"""

from __future__ import annotations

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
