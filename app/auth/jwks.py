"""Signing keys from a JWKS URL: fetched asynchronously, cached, refetched on rotation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection
from typing import Any

import httpx
import jwt
import structlog

log = structlog.get_logger("app.auth.jwks")

# Asymmetric algorithms a JWKS key may be bound to. HMAC keys ("oct") are never taken from a
# JWKS: a shared secret published at a URL is no secret.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)
_KEY_TYPES = frozenset({"RSA", "EC"})
_MAX_JWKS_BYTES = 1024 * 1024


class JWKSError(Exception):
    """Base class for key lookup failures; the message never carries key material."""


class JWKSUnavailable(JWKSError):
    """No keys could be fetched yet, so no token can be checked (a dependency failure)."""


class UnknownSigningKey(JWKSError):
    """The token names a key that the key set does not hold, even after a refetch."""


class JWKSCache:
    """Keys of one JWKS URL, shared by every request of the process.

    Keys are refetched after ``ttl_seconds``; an unknown ``kid`` triggers a refetch at most once
    per ``min_refetch_interval_seconds``; concurrent callers share one fetch; a failed fetch keeps
    the last good keys.
    """

    def __init__(
        self,
        url: str,
        http_client: httpx.AsyncClient | None = None,
        *,
        algorithms: Collection[str] = ASYMMETRIC_ALGORITHMS,
        ttl_seconds: float = 600.0,
        min_refetch_interval_seconds: float = 60.0,
        failure_backoff_seconds: float = 10.0,
        timeout_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._url = url
        self._owns_client = http_client is None
        self._client = http_client
        self._algorithms = frozenset(algorithms) & ASYMMETRIC_ALGORITHMS
        self._ttl = ttl_seconds
        self._min_refetch_interval = min_refetch_interval_seconds
        self._failure_backoff = failure_backoff_seconds
        self._timeout = timeout_seconds
        self._clock = clock
        self.on_change = on_change

        self._keys: dict[str, jwt.PyJWK] = {}  # by kid
        self._all_keys: list[jwt.PyJWK] = []  # including keys without a kid
        self._raw: list[dict[str, Any]] | None = None
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last fetch attempt, successful or not
        self._last_failed = False
        self._last_failure: str | None = None  # what went wrong, in a line fit for a log
        self._inflight: asyncio.Task[None] | None = None
        self.fetch_count = 0

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    async def get_key(self, kid: str | None, alg: str) -> jwt.PyJWK:
        """The key for ``kid`` (or the only key for ``alg`` when the token names none)."""
        now = self._clock()
        stale = self._fetched_at is None or now - self._fetched_at >= self._ttl
        if stale and self._may_attempt(now, self._failure_backoff):
            await self.refresh()
        if self._fetched_at is None:
            raise JWKSUnavailable("the signing keys could not be fetched")

        key = self._lookup(kid, alg)
        if key is None and self._may_attempt(self._clock(), self._min_refetch_interval):
            # The issuer may have rotated its keys since the last fetch.
            await self.refresh()
            key = self._lookup(kid, alg)
        if key is None:
            raise UnknownSigningKey("no signing key matches the token")
        return key

    async def refresh(self) -> None:
        """Fetch the key set now; concurrent callers share one request."""
        task = self._inflight
        if task is None or task.done():
            self._attempted_at = self._clock()
            task = asyncio.get_running_loop().create_task(self._fetch())
            self._inflight = task
        # Shielded: a cancelled request must not cancel the fetch other requests wait for.
        await asyncio.shield(task)

    async def wait_for_keys(
        self, deadline_seconds: float, *, first_pause: float = 0.5, longest_pause: float = 5.0
    ) -> None:
        """Fetch until a key set is in hand, trying again after growing pauses for up to
        ``deadline_seconds``; JWKSUnavailable naming the URL's host and the last failure if not.

        For a starting process: it cannot check a single token without keys, and a blip at the
        identity provider shorter than the deadline must not stop it."""
        deadline = time.monotonic() + deadline_seconds
        pause, attempts = first_pause, 0
        while True:
            attempts += 1
            try:
                # Each attempt may take what is left, and at least a second: the last one,
                # made at the deadline, must still be able to fail for a reason of its own.
                async with asyncio.timeout(max(deadline - time.monotonic(), 1.0)):
                    await self.refresh()
            except TimeoutError:
                self._last_failure = "no answer in time"
            if self._fetched_at is not None:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise JWKSUnavailable(
                    f"the signing keys at {httpx.URL(self._url).host} could not be fetched in "
                    f"{deadline_seconds:g} s ({attempts} attempts, the last: {self._last_failure})"
                )
            await asyncio.sleep(min(pause, remaining))
            pause = min(pause * 2, longest_pause)

    async def aclose(self) -> None:
        if self._inflight is not None and not self._inflight.done():
            self._inflight.cancel()
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    def _may_attempt(self, now: float, interval: float) -> bool:
        if self._inflight is not None and not self._inflight.done():
            return True  # join the fetch in flight rather than answer from stale state
        return self._attempted_at is None or now - self._attempted_at >= interval

    def _lookup(self, kid: str | None, alg: str) -> jwt.PyJWK | None:
        if kid is not None:
            key = self._keys.get(kid)
            return key if key is not None and key.algorithm_name == alg else None
        # No kid: only unambiguous when exactly one key fits the algorithm.
        candidates = [k for k in self._all_keys if k.algorithm_name == alg]
        return candidates[0] if len(candidates) == 1 else None

    async def _fetch(self) -> None:
        self.fetch_count += 1
        try:
            raw = await self._download()
            all_keys = self._parse(raw)
        except Exception as exc:
            # Keep the last good keys; one warning per failed fetch, with no response body.
            self._last_failed = True
            self._last_failure = _describe(exc)
            log.warning(
                "auth.jwks.fetch_failed",
                url=self._url,
                error=type(exc).__name__,
                reason=self._last_failure,
                status=getattr(getattr(exc, "response", None), "status_code", None),
                keeping_keys=len(self._all_keys),
            )
            return
        changed = self._raw is not None and raw != self._raw
        self._all_keys, self._raw = all_keys, raw
        self._keys = {k.key_id: k for k in all_keys if k.key_id}
        self._fetched_at = self._clock()
        if self._last_failed:
            log.info("auth.jwks.fetch_recovered", url=self._url, keys=len(all_keys))
        self._last_failed = False
        if changed and self.on_change is not None:
            self.on_change()

    async def _download(self) -> list[dict[str, Any]]:
        if self._client is None:
            self._client = httpx.AsyncClient()
        response = await self._client.get(
            self._url, timeout=self._timeout, headers={"Accept": "application/json"}
        )
        response.raise_for_status()
        if len(response.content) > _MAX_JWKS_BYTES:
            raise JWKSError("the key set is too large")
        body = response.json()
        keys = body.get("keys") if isinstance(body, dict) else None
        if not isinstance(keys, list):
            raise JWKSError("the response is not a JWK set")
        return [k for k in keys if isinstance(k, dict)]

    def _parse(self, raw: list[dict[str, Any]]) -> list[jwt.PyJWK]:
        keys: list[jwt.PyJWK] = []
        for jwk in raw:
            if jwk.get("kty") not in _KEY_TYPES or jwk.get("use", "sig") != "sig":
                continue
            try:
                key = jwt.PyJWK(jwk)
            except jwt.PyJWTError:
                continue  # an unusable key must not take the usable ones down with it
            if key.algorithm_name not in self._algorithms:
                continue
            keys.append(key)
        if not keys:
            raise JWKSError("the key set holds no usable signing key")
        return keys


def _describe(exc: Exception) -> str:
    """A failed fetch in one line, without the response body (an error page may echo anything)."""
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, JWKSError):
        return str(exc)
    detail = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
