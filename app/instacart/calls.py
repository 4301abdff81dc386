"""One upstream call: its total deadline, its attempts (stamina), its breaker, its metrics.

The policy of the operation is data (``OperationPolicy``); this module only applies it. Every
HTTP request of the call, a 401 that the auth flow resends included, is timed, logged and
counted on its own, so the dashboards see what the upstream saw.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pydantic
import stamina
import structlog

from app.instacart.errors import (
    InstacartAuthError,
    InstacartError,
    InstacartInvalidResponse,
    InstacartPoolExhausted,
    InstacartTimeout,
    InstacartUnavailable,
    error_from_response,
)
from app.instacart.policy import Backoff, CircuitBreaker, OperationPolicy
from app.platform.metrics import UPSTREAM_DURATION, UPSTREAM_POOL_EXHAUSTED, UPSTREAM_RETRIES

log = structlog.get_logger("app.instacart")

T = TypeVar("T")

# Sends the request of one attempt; the call is passed so an auth flow can report to it.
Send = Callable[["UpstreamCall"], Awaitable[httpx.Response]]


class UpstreamCall:
    """Runs one operation under its policy. Build one per call; it is not reusable."""

    def __init__(
        self,
        operation: str,
        policy: OperationPolicy,
        breaker: CircuitBreaker,
        backoff: Backoff,
    ) -> None:
        self.operation = operation
        self.policy = policy
        self.breaker = breaker
        self.backoff = policy.backoff or backoff
        self.maybe_sent = False  # some request of this call may have reached the upstream
        self._http_attempts = 0  # every HTTP request, for logs
        self._started: float | None = None  # the request in flight, if any
        self._probe = False  # this call holds the breaker's half-open probe
        self._final: BaseException | None = None  # raised without consulting the retry policy
        self._attempt_num = 0  # attempts spent from the policy's budget (a 401 resend is free)
        self._last_label = ""
        self._next_delay = 0.0
        self._deadline: asyncio.Timeout | None = None

    async def run(
        self, send: Send, parse: Callable[[bytes], T], *, token_refreshed: Callable[[], bool]
    ) -> T:
        """Attempts until success, a failure the policy does not retry, or the deadline."""
        # httpx's read timeout is per chunk; this bounds the whole call, retries included.
        self._deadline = deadline = asyncio.timeout(self.policy.deadline_seconds)
        try:
            async with deadline:
                return await self._attempts(send, parse, token_refreshed)
        except TimeoutError:
            if not deadline.expired():
                raise
            self._end_interrupted("timeout", failed=True)
            raise InstacartTimeout(
                self.operation,
                request_sent=self.maybe_sent,
                detail=f"no answer within the {self.policy.deadline_seconds:g}s deadline",
            ) from None
        except asyncio.CancelledError:
            self._end_interrupted("cancelled", failed=False)
            raise

    async def _attempts(
        self, send: Send, parse: Callable[[bytes], T], token_refreshed: Callable[[], bool]
    ) -> T:
        last_error: InstacartError | None = None
        retrying = stamina.retry_context(
            on=self._retry_delay, attempts=self.policy.max_attempts, timeout=None
        )
        async for attempt in retrying:
            with attempt:
                self._attempt_num = attempt.num
                if last_error is not None:
                    self._retrying(self._next_delay, type(last_error).__name__, self._last_label)
                try:
                    self._probe = self.breaker.before_call(self.operation)
                except InstacartError:
                    # The breaker opened while this call was retrying: report what failed.
                    if last_error is not None:
                        self._final = last_error
                        raise last_error from None
                    raise
                try:
                    return await self._attempt(send, parse, token_refreshed)
                except InstacartError as exc:
                    last_error = exc
                    raise
        raise AssertionError("stamina ends with a result or an exception")  # pragma: no cover

    async def _attempt(
        self, send: Send, parse: Callable[[bytes], T], token_refreshed: Callable[[], bool]
    ) -> T:
        error: InstacartError | None = None
        result: Any = None
        try:
            response = await send(self)
        except InstacartError as exc:
            # Raised by the token provider inside the auth flow, before this request left.
            self._release_probe()
            self._final = error = self._token_failure(exc)
            raise error from exc
        except httpx.PoolTimeout:
            UPSTREAM_POOL_EXHAUSTED.labels(self.policy.pool).inc()
            error = InstacartPoolExhausted(
                self.operation, pool=self.policy.pool, detail="no free connection in time"
            )
            label = "pool_exhausted"
        except httpx.TimeoutException as exc:
            sent = not isinstance(exc, httpx.ConnectTimeout)
            error = InstacartTimeout(self.operation, request_sent=sent, detail=type(exc).__name__)
            label = "timeout"
        except httpx.RequestError as exc:
            sent = not isinstance(exc, httpx.ConnectError)
            error = InstacartUnavailable(
                self.operation, request_sent=sent, detail=type(exc).__name__
            )
            label = "error"
        else:
            label = str(response.status_code)
            if response.is_success:
                try:
                    result = parse(response.content)
                except (pydantic.ValidationError, ValueError) as exc:
                    error = self._invalid_response(response.status_code, exc)
            else:
                error = error_from_response(
                    self.operation,
                    response.status_code,
                    response.content,
                    token_refreshed=token_refreshed(),
                )
        self._finish(label, error)
        if error is not None:
            raise error
        return result  # type: ignore[no-any-return]  # set by the attempt that succeeded

    def _token_failure(self, exc: InstacartError) -> InstacartError:
        if not exc.ambiguous:
            return exc  # credentials rejected, token circuit open: said as they are
        # The token request failed after its own retries. This operation was never sent, so it
        # is not ambiguous (an order create needs no reconciliation), nor worth retrying here.
        return InstacartUnavailable(
            self.operation, request_sent=False, detail=f"no access token ({exc})"
        )

    def _invalid_response(self, status: int, exc: ValueError) -> InstacartInvalidResponse:
        # The validation message quotes the body, which may hold an address.
        count = exc.error_count() if isinstance(exc, pydantic.ValidationError) else 1
        return InstacartInvalidResponse(
            self.operation,
            status=status,
            detail=f"response does not match the specification ({count} errors)",
        )

    def _retry_delay(self, exc: Exception) -> bool | float:
        """stamina's hook: False to stop, else the backoff before the next attempt."""
        if exc is self._final or not isinstance(exc, InstacartError):
            return False
        if not self.policy.should_retry(exc):
            return False
        delay = self.backoff.delay(self._attempt_num)
        when = self._deadline.when() if self._deadline is not None else None
        if when is not None and asyncio.get_running_loop().time() + delay >= when:
            return False  # the real failure says more than a timeout in the middle of a sleep
        self._next_delay = delay
        return delay

    # --- the auth flow's observer ---

    def sending(self) -> None:
        self._http_attempts += 1
        self._started = time.perf_counter()
        self.maybe_sent = True

    def token_rejected(self, duration: float) -> None:
        self._started = None
        error = InstacartAuthError(self.operation, status=401, detail="token rejected")
        self._observe("401", duration, error)
        self._retrying(0.0, "token_rejected")

    # --- accounting ---

    def _finish(self, label: str, error: InstacartError | None) -> None:
        started, self._started = self._started, None
        duration = time.perf_counter() - started if started is not None else 0.0
        self._last_label = label
        self._observe(label, duration, error)
        self._probe = False
        self.breaker.record(error)

    def _release_probe(self) -> None:
        if self._probe:
            self._probe = False
            self.breaker.release_probe()

    def _end_interrupted(self, label: str, *, failed: bool) -> None:
        """Account for the attempt that the deadline (or the caller) interrupted, if any."""
        started, self._started = self._started, None
        if started is None:
            self._release_probe()  # interrupted before sending (waiting for a token)
            return
        error = InstacartTimeout(self.operation) if failed else None
        self._observe(label, time.perf_counter() - started, error)
        if failed:
            self._probe = False
            self.breaker.record_failure()
        else:
            self._release_probe()

    def _observe(self, label: str, duration: float, error: InstacartError | None) -> None:
        UPSTREAM_DURATION.labels(self.operation, label).observe(duration)
        fields: dict[str, Any] = {
            "operation": self.operation,
            "status": label,
            "duration_ms": round(duration * 1000, 1),
            "attempt": self._http_attempts,
        }
        if error is None:
            log.info("upstream.request", **fields)
            return
        fields["error"] = type(error).__name__
        if error.upstream_message:
            fields["upstream_message"] = error.upstream_message
        if error.upstream_code is not None:
            fields["upstream_code"] = error.upstream_code
        if error.counts_as_upstream_failure:
            log.warning("upstream.request", **fields)
        else:
            log.info("upstream.request", **fields)

    def _retrying(self, delay: float, reason: str, status: str | None = None) -> None:
        UPSTREAM_RETRIES.labels(self.operation).inc()
        log.info(
            "upstream.request.retry",
            operation=self.operation,
            attempt=self._http_attempts + 1,
            delay_ms=round(delay * 1000, 1),
            reason=reason,
            status=status,
        )
