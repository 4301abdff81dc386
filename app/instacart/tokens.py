"""The Instacart access token, shared by every replica through Redis.

A token lives 24 hours and Instacart asks that it be reused for its whole life, so the fleet
makes one token request per lifetime, not one per replica or per request:

- each process keeps the token in memory and only looks at Redis when its copy is due;
- the token is refreshed ahead of expiry (1/24 of its lifetime, an hour for 24 h, plus jitter);
- one refresh at a time: inside the process a single task that every caller awaits through
  ``asyncio.shield`` (a caller that is cancelled or times out never cancels the fetch the others
  wait for); across processes redis-py's ``Lock``, held longer than the token request may take,
  while the other processes poll Redis for the winner's token even longer than that;
- a token the upstream rejects is dropped only if it is still the one that was sent
  (compare-and-delete), so a slow request cannot throw away a fresh token;
- Redis down: the process carries on with a token of its own and retries Redis later.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeGuard

import redis.asyncio as aioredis
import redis.exceptions
import structlog
from opentelemetry.instrumentation.utils import suppress_instrumentation

from app.instacart.access_token import AccessToken, RefreshPolicy, token_key
from app.instacart.models import TokenResponse
from app.platform.metrics import TOKEN_REFRESHES

log = structlog.get_logger("app.instacart.tokens")

# Deletes the shared token only if it is still the one the caller holds.
_DELETE_IF_TOKEN = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local ok, data = pcall(cjson.decode, raw)
if (not ok) or data['access_token'] == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


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
        fetch_deadline_seconds: float = 10.0,
        lock_ttl_seconds: float | None = None,
        wait_seconds: float | None = None,
        poll_seconds: float = 0.05,
        redis_retry_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """``fetch_deadline_seconds`` bounds ``fetch``; the lock and the waits outlast it.

        ``clock`` is wall time (expiry is shared between processes); ``monotonic`` and ``sleep``
        pace the waits. Tests pass fakes of all three to move time instead of sleeping.
        """
        lock_ttl = lock_ttl_seconds if lock_ttl_seconds is not None else fetch_deadline_seconds + 5
        wait = wait_seconds if wait_seconds is not None else lock_ttl + 5
        if not fetch_deadline_seconds < lock_ttl < wait:
            # A lock that expires while its holder still fetches, or waiters that give up before
            # it expires, both let the whole fleet fetch at once when the endpoint is slow.
            raise ValueError("need fetch deadline < lock ttl < wait")
        self._fetch = fetch
        self._redis = redis
        self._key = token_key(key_prefix, client_id)
        self._lock_key = f"{self._key}:lock"
        self._refresh = refresh or RefreshPolicy()
        self._jitter_draw = random.random()
        self._lock_ttl = lock_ttl
        self._wait_seconds = wait
        self._poll_seconds = poll_seconds
        self._redis_retry_seconds = redis_retry_seconds
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        self._refreshing: asyncio.Task[str] | None = None
        self._token: AccessToken | None = None
        self._refresh_at = 0.0
        self._redis_down_until = 0.0  # monotonic; while in the future, Redis is not tried
        self._redis_down_logged = False

    @property
    def key(self) -> str:
        return self._key

    def _usable(self, token: AccessToken | None) -> TypeGuard[AccessToken]:
        return token is not None and token.expires_at > self._clock()

    async def get(self) -> str:
        """A token to send now. Fast path: the in-memory copy, no I/O."""
        if self._token is not None and self._clock() < self._refresh_at:
            return self._token.value
        task = self._refreshing
        if task is None:
            task = asyncio.get_running_loop().create_task(self._refresh_token())
            task.add_done_callback(self._refresh_done)
            self._refreshing = task
        # The fetch belongs to no caller: one that is cancelled (or hits its deadline) leaves
        # it running for the others, and for itself next time.
        return await asyncio.shield(task)

    async def aclose(self) -> None:
        """Stop a refresh in flight (at shutdown, before its HTTP client closes)."""
        task = self._refreshing
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _refresh_done(self, task: asyncio.Task[str]) -> None:
        if self._refreshing is task:
            self._refreshing = None
        if not task.cancelled():
            task.exception()  # retrieved here, so a refresh nobody awaited any more is not logged

    async def _refresh_token(self) -> str:
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
                    self._shared_redis.eval(_DELETE_IF_TOKEN, 1, self._key, sent)
                )
            except _REDIS_ERRORS:
                self._mark_redis_down()
        log.info("instacart.token.invalidated", was_current=current)

    @property
    def _shared_redis(self) -> aioredis.Redis:
        """The shared store; only the paths taken while `_redis_available()` reach it."""
        assert self._redis is not None
        return self._redis

    def _adopt(self, token: AccessToken) -> None:
        self._token = token
        self._refresh_at = self._refresh_point(token)

    def _refresh_point(self, token: AccessToken) -> float:
        return token.expires_at - self._refresh.margin(token.lifetime, self._jitter_draw)

    def _fresh_enough(self, token: AccessToken | None) -> TypeGuard[AccessToken]:
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
                return self._token
            return await self._fetch_token()

    async def _obtain_shared(self) -> AccessToken:
        shared = await self._read_shared()
        if self._fresh_enough(shared):
            return shared
        # Each waiter polls the token itself rather than blocking on the lock, so it sees the
        # winner's token as soon as it is written.
        lock = self._shared_redis.lock(
            self._lock_key, timeout=self._lock_ttl, blocking=False, thread_local=False
        )
        give_up_at = self._monotonic() + self._wait_seconds
        while True:
            if await self._redis_call(lock.acquire(blocking=False)):
                try:
                    # The previous holder may have stored a token just before releasing.
                    shared = await self._read_shared()
                    if self._fresh_enough(shared):
                        return shared
                    token = await self._fetch_token()
                    try:
                        await self._write_shared(token)
                    except _REDIS_ERRORS:
                        self._mark_redis_down()
                    return token
                finally:
                    # Not ours any more (it expired): redis-py leaves the new holder's alone.
                    # On a Redis failure the lock expires on its own.
                    with contextlib.suppress(redis.exceptions.LockError, *_REDIS_ERRORS):
                        await lock.release()
            await self._sleep(self._poll_seconds)
            with suppress_instrumentation():  # a waiter's reads: no trace span per poll
                shared = await self._read_shared()
            if self._fresh_enough(shared):
                return shared
            if self._monotonic() >= give_up_at:
                # The holder outlived its own lock and deadline; a token of our own beats
                # failing the request.
                log.warning("instacart.token.lock_wait_exceeded", waited_s=self._wait_seconds)
                if self._usable(shared):
                    return shared
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
        raw = await self._redis_call(self._shared_redis.get(self._key))
        if raw is None:
            return None
        token = AccessToken.from_json(raw, self._clock())
        return token if self._usable(token) else None

    async def _write_shared(self, token: AccessToken) -> None:
        ttl_ms = int((token.expires_at - self._clock()) * 1000)
        if ttl_ms > 0:
            await self._redis_call(self._shared_redis.set(self._key, token.to_json(), px=ttl_ms))

    async def _redis_call(self, awaitable: Awaitable[Any]) -> Any:
        result = await awaitable
        if self._redis_down_logged:
            self._redis_down_logged = False
            log.info("instacart.token.redis_recovered")
        return result

    def _redis_available(self) -> bool:
        return self._redis is not None and self._monotonic() >= self._redis_down_until

    def _mark_redis_down(self) -> None:
        self._redis_down_until = self._monotonic() + self._redis_retry_seconds
        if not self._redis_down_logged:
            self._redis_down_logged = True
            log.warning(
                "instacart.token.redis_unavailable",
                retry_in_s=self._redis_retry_seconds,
                detail="using a process-local token until Redis answers again",
            )
