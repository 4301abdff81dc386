"""Per-user rate limits in Redis: a fixed window per minute, shared by every replica."""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.platform.errors import RateLimited

log = structlog.get_logger("app.platform.rate_limits")

# Count and keep the window's key alive in one command: a MULTI/INCR/EXPIRE/EXEC pipeline cost
# four replies and a pipeline object per hit, about 40 % more CPU per hit (docs/performance.md,
# "Per-request overhead"). Atomic, as the transaction was: no key is left without its expiry.
# One key, so a Redis Cluster routes it like any command.
_COUNT_IN_WINDOW = """
local count = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
return count
"""
_WINDOW_TTL_SECONDS = 61


class RateLimiter:
    """Counts a user's calls to one action per minute window; over the limit is a 429."""

    def __init__(
        self,
        redis: Redis,
        action: str,
        per_minute: int,
        *,
        namespace: str = "bff",
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``clock`` is wall time: every replica must agree on where a minute window starts."""
        self.redis = redis
        self.action = action
        self.per_minute = per_minute
        self.prefix = f"{namespace}:ratelimit:{action}:"
        self.clock = clock
        # EVALSHA, loading the script again when a Redis restart or failover forgot it.
        self._count = redis.register_script(_COUNT_IN_WINDOW)

    async def check(self, user_id: str) -> None:
        """429 if `user_id` has already used up this minute's calls; counts nothing."""
        now = self.clock()
        window = int(now // 60)
        try:
            raw = await self.redis.get(f"{self.prefix}{user_id}:{window}")
        except (RedisError, OSError) as exc:
            log.warning("ratelimit.redis_unavailable", action=self.action, error=type(exc).__name__)
            return
        if raw is not None and int(raw) >= self.per_minute:
            raise self._refusal(window, now)

    async def hit(self, user_id: str) -> None:
        now = self.clock()
        window = int(now // 60)
        key = f"{self.prefix}{user_id}:{window}"
        try:
            count = int(await self._count(keys=[key], args=[_WINDOW_TTL_SECONDS]))
        except (RedisError, OSError) as exc:
            # Failing open: a Redis outage must not stop customers from checking out.
            log.warning("ratelimit.redis_unavailable", action=self.action, error=type(exc).__name__)
            return
        if count > self.per_minute:
            raise self._refusal(window, now)

    def _refusal(self, window: int, now: float) -> RateLimited:
        retry_after = int((window + 1) * 60 - now) + 1
        return RateLimited(
            retry_after, f"At most {self.per_minute} {self.action} per minute; try again shortly."
        )
