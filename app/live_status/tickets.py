"""Short-lived, single-use tickets that open one order's event stream.

A browser's `EventSource` cannot send an Authorization header, and a JWT in a URL ends up in
proxy and browser logs where it stays valid for an hour. A ticket is worth one stream of one
order for a minute, so a ticket that leaks is worth nothing. Tickets live in Redis (any
replica redeems them), stored under their SHA-256 so that a dump of Redis holds none; a
ticket is redeemed with GETDEL, which is atomic: two requests with one ticket get one stream.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.platform.errors import DependencyUnavailable, Unauthenticated
from app.platform.rate_limits import RateLimiter

log = structlog.get_logger("app.live_status.tickets")

# token_urlsafe(32) is 43 characters; anything much longer is not one of ours.
_MAX_TICKET_CHARS = 128


@dataclass(frozen=True, slots=True)
class StreamTicket:
    ticket: str
    expires_at: datetime


class StreamTickets:
    def __init__(
        self,
        redis: Redis,
        namespace: str,
        ttl_seconds: float,
        *,
        limiter: RateLimiter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.namespace = namespace
        self.ttl_ms = max(1, round(ttl_seconds * 1000))
        self.limiter = limiter
        self.clock = clock

    def key(self, ticket: str) -> str:
        digest = hashlib.sha256(ticket.encode()).hexdigest()
        return f"{self.namespace}:stream-ticket:{digest}"

    async def issue(self, user_id: str, order_id: str) -> StreamTicket:
        """A new ticket for `order_id`'s stream, on behalf of its owner `user_id`; 429 past
        the user's tickets per minute."""
        if self.limiter is not None:
            await self.limiter.hit(user_id)
        ticket = secrets.token_urlsafe(32)
        value = orjson.dumps({"user_id": user_id, "order_id": order_id})
        try:
            await self.redis.set(self.key(ticket), value, px=self.ttl_ms, nx=True)
        except (RedisError, OSError) as exc:
            log.warning("stream_ticket.issue_failed", error=type(exc).__name__)
            raise DependencyUnavailable("Stream tickets are unavailable; retry shortly.") from None
        expires_at = datetime.fromtimestamp(self.clock() + self.ttl_ms / 1000, UTC)
        return StreamTicket(ticket, expires_at)

    async def redeem(self, ticket: str, order_id: str) -> str:
        """The user id the ticket was issued to; the ticket is spent whatever the answer.

        Raises Unauthenticated for a used, expired, forged or other-order ticket.
        """
        if not ticket or len(ticket) > _MAX_TICKET_CHARS or not ticket.isascii():
            raise Unauthenticated("the stream ticket is not valid")
        try:
            raw = await self.redis.getdel(self.key(ticket))
        except (RedisError, OSError) as exc:
            log.warning("stream_ticket.redeem_failed", error=type(exc).__name__)
            raise DependencyUnavailable("Stream tickets are unavailable; retry shortly.") from None
        if raw is None:
            raise Unauthenticated("the stream ticket is not valid, already used or expired")
        try:
            value = orjson.loads(raw)
            user_id, issued_for = str(value["user_id"]), str(value["order_id"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise Unauthenticated("the stream ticket is not valid") from None
        if issued_for != order_id:
            raise Unauthenticated("the stream ticket is for another order")
        return user_id
