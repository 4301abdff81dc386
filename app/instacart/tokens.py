"""The Instacart access token, shared by every replica through Redis.

A token lives 24 hours and Instacart asks that it be reused for its whole life, so the fleet
makes one token request per lifetime, not one per replica or per request:

- each process keeps the token in memory and only looks at Redis when its copy is due;
- the token is refreshed ahead of expiry (1/24 of its lifetime, an hour for 24 h, plus jitter);
- one refresh at a time: an ``asyncio.Lock`` inside the process, ``SET NX PX`` across processes;
  losers poll Redis briefly and reuse the winner's token;
- a token the upstream rejects is dropped only if it is still the one that was sent
  (compare-and-delete), so a slow request cannot throw away a fresh token;
- Redis down: the process carries on with a token of its own and retries Redis later.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis.asyncio as aioredis
import redis.exceptions
import structlog

from app.instacart.models import TokenResponse
from app.metrics import TOKEN_REFRESHES

log = structlog.get_logger("app.instacart.tokens")

# Deletes the shared token only if it is still the one the caller holds.
_DELETE_IF_TOKEN = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local ok, data = pcall(cjson.decode, raw)
if (not ok) or data['access_token'] == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# Releases the refresh lock only if this process still owns it.
_RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


@dataclass(frozen=True)
class AccessToken:
    value: str = field(repr=False)
    expires_at: float  # unix time, shared between processes
    lifetime: float  # seconds the upstream granted (expires_in), to place the refresh point

    def to_json(self) -> bytes:
        return orjson.dumps(
            {"access_token": self.value, "expires_at": self.expires_at, "lifetime": self.lifetime}
        )

    @classmethod
    def from_json(cls, raw: bytes | str, now: float) -> AccessToken | None:
        try:
            data = orjson.loads(raw)
            expires_at = float(data["expires_at"])
            lifetime = float(data.get("lifetime") or max(expires_at - now, 0.0))
            return cls(value=str(data["access_token"]), expires_at=expires_at, lifetime=lifetime)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            return None


@dataclass(frozen=True)
class RefreshPolicy:
    """When to refresh: ``fraction`` of the lifetime early, within [floor, ceiling], + jitter."""

    fraction: float = 1 / 24
    floor_seconds: float = 1.0
    ceiling_seconds: float = 3600.0
    jitter: float = 0.25  # each process adds up to this fraction to the margin, at random

    def margin(self, lifetime: float, jitter_draw: float) -> float:
        """``jitter_draw`` in [0, 1] is drawn once per process, so its refresh point is stable."""
        # The floor never eats more than a quarter of a (very short) lifetime.
        floor = min(self.floor_seconds, lifetime / 4)
        base = min(max(lifetime * self.fraction, floor), self.ceiling_seconds)
        return base * (1 + self.jitter * jitter_draw)


def token_key(prefix: str, client_id: str) -> str:
    digest = hashlib.sha256(client_id.encode()).hexdigest()[:16]
    return f"{prefix}:{digest}"


class TokenProvider:
    """Hands out a valid access token, fetching one only when the whole fleet needs one."""

    def __init__(
        self,
        fetch: Callable[[], Awaitable[TokenResponse]],
        redis: aioredis.Redis | None,
        *,
        client_id: str,
        key_prefix: str = "bff:instacart:token",
        refresh: RefreshPolicy | None = None,
        lock_ttl_seconds: float = 15.0,
        wait_seconds: float = 10.0,
        poll_seconds: float = 0.05,
        redis_retry_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fetch = fetch
        self._redis = redis
        self._key = token_key(key_prefix, client_id)
        self._lock_key = f"{self._key}:lock"
        self._refresh = refresh or RefreshPolicy()
        self._jitter_draw = random.random()
        self._lock_ttl_ms = int(lock_ttl_seconds * 1000)
        self._wait_seconds = wait_seconds
        self._poll_seconds = poll_seconds
        self._redis_retry_seconds = redis_retry_seconds
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: AccessToken | None = None
        self._refresh_at = 0.0
        self._redis_down_until = 0.0  # monotonic; while in the future, Redis is not tried
        self._redis_down_logged = False

    @property
    def key(self) -> str:
        return self._key

    def _usable(self, token: AccessToken | None) -> bool:
        return token is not None and token.expires_at > self._clock()

    async def get(self) -> str:
        """A token to send now. Fast path: the in-memory copy, no I/O."""
        if self._token is not None and self._clock() < self._refresh_at:
            return self._token.value
        async with self._lock:
            # Another task of this process may have refreshed while this one waited.
            if self._token is not None and self._clock() < self._refresh_at:
                return self._token.value
            try:
                token = await self._obtain()
            except Exception:
                # The token endpoint failed; a token that is due but not expired still works.
                current = self._token
                if current is not None and self._usable(current):
                    self._refresh_at = min(self._clock() + 5.0, current.expires_at)
                    return current.value
                raise
            self._adopt(token)
            return token.value

    async def invalidate(self, sent: str) -> None:
        """The upstream rejected ``sent``: forget it, here and in Redis, if it is still current."""
        current = self._token is not None and self._token.value == sent
        if current:
            self._token = None
            self._refresh_at = 0.0
        if self._redis_available():
            try:
                await self._redis_call(
                    self._redis.eval(_DELETE_IF_TOKEN, 1, self._key, sent)  # type: ignore[union-attr]
                )
            except _REDIS_ERRORS:
                self._mark_redis_down()
        log.info("instacart.token.invalidated", was_current=current)

    def _adopt(self, token: AccessToken) -> None:
        self._token = token
        self._refresh_at = self._refresh_point(token)

    def _refresh_point(self, token: AccessToken) -> float:
        return token.expires_at - self._refresh.margin(token.lifetime, self._jitter_draw)

    def _fresh_enough(self, token: AccessToken | None) -> bool:
        """A shared token this process would not refresh yet."""
        return token is not None and self._clock() < self._refresh_point(token)

    async def _obtain(self) -> AccessToken:
        if not self._redis_available():
            return await self._fetch_token()
        try:
            return await self._obtain_shared()
        except _REDIS_ERRORS:
            self._mark_redis_down()
            # A shared token may have been read before Redis failed; keep what this process has.
            if self._fresh_enough(self._token):
                return self._token  # type: ignore[return-value]
            return await self._fetch_token()

    async def _obtain_shared(self) -> AccessToken:
        shared = await self._read_shared()
        if self._fresh_enough(shared):
            return shared  # type: ignore[return-value]
        lock_value = secrets.token_hex(16)
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self._wait_seconds
        while True:
            if await self._redis_call(
                self._redis.set(self._lock_key, lock_value, nx=True, px=self._lock_ttl_ms)  # type: ignore[union-attr]
            ):
                try:
                    # The previous holder may have stored a token just before releasing.
                    shared = await self._read_shared()
                    if self._fresh_enough(shared):
                        return shared  # type: ignore[return-value]
                    token = await self._fetch_token()
                    try:
                        await self._write_shared(token)
                    except _REDIS_ERRORS:
                        self._mark_redis_down()
                    return token
                finally:
                    await self._release_lock(lock_value)
            # Another process is refreshing: wait for its token.
            await asyncio.sleep(self._poll_seconds)
            shared = await self._read_shared()
            if self._fresh_enough(shared):
                return shared  # type: ignore[return-value]
            if loop.time() >= give_up_at:
                # The holder is stuck or slow; a token of our own beats failing the request.
                log.warning("instacart.token.lock_wait_exceeded", waited_s=self._wait_seconds)
                if self._usable(shared):
                    return shared  # type: ignore[return-value]
                return await self._fetch_token()

    async def _fetch_token(self) -> AccessToken:
        started = self._clock()
        try:
            response = await self._fetch()
        except Exception:
            TOKEN_REFRESHES.labels("failure").inc()
            log.warning("instacart.token.refresh_failed")
            raise
        TOKEN_REFRESHES.labels("success").inc()
        # Measured from before the request, so the local expiry is never later than upstream's.
        token = AccessToken(
            value=response.access_token,
            expires_at=started + response.expires_in,
            lifetime=float(response.expires_in),
        )
        log.info("instacart.token.refreshed", expires_in=response.expires_in)
        return token

    async def _read_shared(self) -> AccessToken | None:
        raw = await self._redis_call(self._redis.get(self._key))  # type: ignore[union-attr]
        if raw is None:
            return None
        token = AccessToken.from_json(raw, self._clock())
        return token if self._usable(token) else None

    async def _write_shared(self, token: AccessToken) -> None:
        ttl_ms = int((token.expires_at - self._clock()) * 1000)
        if ttl_ms > 0:
            await self._redis_call(self._redis.set(self._key, token.to_json(), px=ttl_ms))  # type: ignore[union-attr]

    async def _release_lock(self, value: str) -> None:
        # On a Redis failure the lock simply expires on its own.
        with contextlib.suppress(*_REDIS_ERRORS):
            await self._redis_call(self._redis.eval(_RELEASE_LOCK, 1, self._lock_key, value))  # type: ignore[union-attr]

    async def _redis_call(self, awaitable: Awaitable[Any]) -> Any:
        result = await awaitable
        if self._redis_down_logged:
            self._redis_down_logged = False
            log.info("instacart.token.redis_recovered")
        return result

    def _redis_available(self) -> bool:
        return self._redis is not None and time.monotonic() >= self._redis_down_until

    def _mark_redis_down(self) -> None:
        self._redis_down_until = time.monotonic() + self._redis_retry_seconds
        if not self._redis_down_logged:
            self._redis_down_logged = True
            log.warning(
                "instacart.token.redis_unavailable",
                retry_in_s=self._redis_retry_seconds,
                detail="using a process-local token until Redis answers again",
            )
