"""Per-operation call policy: total deadline, attempts, which failures retry, backoff, breaker.

Retries are decided by what an operation does upstream, not by its HTTP method: finding stores
and previewing slots are POSTs that only read, so they retry; creating an order never retries.
"""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import structlog

from app.instacart.errors import (
    CircuitOpenError,
    InstacartError,
    InstacartRateLimited,
    _TransportFailure,
)
from app.platform.metrics import UPSTREAM_CIRCUIT_OPEN

log = structlog.get_logger("app.instacart.policy")


class RetryOn(enum.Enum):
    """Which failures an operation retries."""

    # Transport errors, timeouts, 408, 429, 500, 502, 503, 504.
    RETRYABLE = "retryable"
    # Only failures that prove the upstream did not act: the connection was never made (connect
    # error, connect or pool timeout) or 429 (refused before processing).
    UNSENT = "unsent"
    NEVER = "never"


@dataclass(frozen=True)
class Backoff:
    """Jittered exponential backoff: attempt n waits between d/2 and d, d = base * 2**(n-1)."""

    base_seconds: float = 0.1
    max_seconds: float = 1.0

    def delay(self, attempt: int) -> float:
        ceiling: float = min(self.max_seconds, self.base_seconds * (2 ** (attempt - 1)))
        jitter: float = random.uniform(0, ceiling / 2)
        return ceiling / 2 + jitter


@dataclass(frozen=True)
class OperationPolicy:
    """How one operation is called: total deadline, attempts, which failures retry, backoff."""

    operation_class: str
    deadline_seconds: float  # the whole call, retries and backoff included
    max_attempts: int = 3
    retry_on: RetryOn = RetryOn.RETRYABLE
    pool: str = "default"  # "default" or "create": which connection pool carries the call
    backoff: Backoff | None = None  # None: the client's backoff

    def should_retry(self, error: InstacartError) -> bool:
        if self.retry_on is RetryOn.NEVER or isinstance(error, CircuitOpenError):
            return False
        if self.retry_on is RetryOn.RETRYABLE:
            return error.retryable
        if isinstance(error, _TransportFailure):
            return not error.request_sent
        return isinstance(error, InstacartRateLimited)


READ = "read"
HOLD = "hold"
CREATE = "create"
WRITE = "write"
TOKEN = "token"

_READ = OperationPolicy(READ, deadline_seconds=5.0)
_HOLD = OperationPolicy(HOLD, deadline_seconds=5.0)
# The real API takes several seconds to create an order.
_CREATE = OperationPolicy(
    CREATE, deadline_seconds=30.0, max_attempts=1, retry_on=RetryOn.NEVER, pool="create"
)
_WRITE = OperationPolicy(WRITE, deadline_seconds=10.0, retry_on=RetryOn.UNSENT)
_TOKEN = OperationPolicy(TOKEN, deadline_seconds=10.0)

DEFAULT_POLICIES: Mapping[str, OperationPolicy] = {
    "generateAccessToken": _TOKEN,
    "findDeliveryStores": _READ,
    "findPickupStores": _READ,
    "findLastMileStores": _READ,
    "previewDeliveryTimeSlots": _READ,
    "previewPickupTimeSlots": _READ,
    "getOrder": _READ,
    # A user holds one slot at a time and a new hold replaces the previous one, so a repeated
    # reserve is harmless: at worst the retry's hold replaces the first attempt's hold.
    "reserveDeliveryTimeSlot": _HOLD,
    "reservePickupTimeSlot": _HOLD,
    # "Previews and reserves": every option returned is also a hold, replaced by the next call.
    "previewLastMileServiceOptions": _HOLD,
    "createDeliveryOrder": _CREATE,
    "createPickupOrder": _CREATE,
    "createLastMileOrder": _CREATE,
    # Not safe to repeat blindly (a repeated cancel answers 400 once the first one landed), so
    # only failures that prove the request was not acted on are retried.
    "cancelOrder": _WRITE,
    "stageLastMileOrder": _WRITE,
}


def build_policies(
    overrides: Mapping[str, OperationPolicy] | None = None,
    *,
    deadline_scale: float | None = None,
) -> dict[str, OperationPolicy]:
    """The default table with per-operation overrides; ``deadline_scale`` multiplies deadlines."""
    table = dict(DEFAULT_POLICIES)
    if deadline_scale is not None:
        table = {
            op: replace(p, deadline_seconds=p.deadline_seconds * deadline_scale)
            for op, p in table.items()
        }
    table.update(overrides or {})
    return table


@dataclass
class BreakerConfig:
    failure_threshold: int = 5
    cooldown_seconds: float = 10.0


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class CircuitBreaker:
    """Consecutive-failure breaker for one operation class, local to the process.

    Only failures that say the upstream is unhealthy count (transport errors, timeouts, 408,
    5xx); any other HTTP answer, 4xx included, proves the upstream is alive and counts as a
    success. After the cool-down one probe call is let through (half-open): its success closes
    the circuit, its failure opens it again.
    """

    name: str
    config: BreakerConfig = field(default_factory=BreakerConfig)
    clock: Callable[[], float] = time.monotonic
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    _probe_in_flight: bool = False

    def __post_init__(self) -> None:
        UPSTREAM_CIRCUIT_OPEN.labels(self.name).set(0)

    def before_call(self, operation: str) -> bool:
        """Raise ``CircuitOpenError`` if the call may not go out; return True for a probe."""
        if self.state is BreakerState.CLOSED:
            return False
        remaining = self.opened_at + self.config.cooldown_seconds - self.clock()
        if self.state is BreakerState.OPEN and remaining <= 0:
            self.state = BreakerState.HALF_OPEN
            log.info("upstream.circuit.half_open", operation_class=self.name)
        if self.state is BreakerState.HALF_OPEN and not self._probe_in_flight:
            self._probe_in_flight = True
            return True
        raise CircuitOpenError(
            operation, operation_class=self.name, retry_after=max(remaining, 0.0)
        )

    def record_success(self) -> None:
        self._probe_in_flight = False
        self.failures = 0
        if self.state is not BreakerState.CLOSED:
            self.state = BreakerState.CLOSED
            UPSTREAM_CIRCUIT_OPEN.labels(self.name).set(0)
            log.info("upstream.circuit.closed", operation_class=self.name)

    def record_failure(self) -> None:
        self._probe_in_flight = False
        self.failures += 1
        if self.state is BreakerState.HALF_OPEN or (
            self.state is BreakerState.CLOSED and self.failures >= self.config.failure_threshold
        ):
            self.state = BreakerState.OPEN
            self.opened_at = self.clock()
            UPSTREAM_CIRCUIT_OPEN.labels(self.name).set(1)
            log.warning(
                "upstream.circuit.opened",
                operation_class=self.name,
                failures=self.failures,
                cooldown_seconds=self.config.cooldown_seconds,
            )

    def release_probe(self) -> None:
        """The probe ended without a verdict (the caller was cancelled): let another one try."""
        self._probe_in_flight = False

    def record(self, error: InstacartError | None) -> None:
        if error is None or not error.counts_as_upstream_failure:
            self.record_success()
        else:
            self.record_failure()


CREATE_OPERATIONS = ("createDeliveryOrder", "createPickupOrder", "createLastMileOrder")


def create_deadlines(seconds: float) -> dict[str, OperationPolicy]:
    """Overrides giving every order-creating operation a total deadline of ``seconds``."""
    return {op: replace(DEFAULT_POLICIES[op], deadline_seconds=seconds) for op in CREATE_OPERATIONS}
