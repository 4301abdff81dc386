"""Fault injection per operationId: latency, errors, hangs, lost answers, and the error envelope.

The shape set by `PUT /sandbox/faults` (every field optional):

    {"operations": {"<operationId>" | "*": {"latency_ms": 0, "error_rate": 0.0,
                                             "status": 503, "fail_next": 0, "hang": false,
                                             "hang_after_create": false, "hang_seconds": null}},
     "callbacks": {"duplicate_rate": 0.0, "reorder_window": 1, "reorder_wait_ms": 1000,
                   "drop_token_rate": 0.0},
     "token_ttl_seconds": null,
     "error_envelope": "spec"}

An operation without an entry of its own uses the "*" entry, if any. Every fault runs before
authentication and before the body is read, so an injected error never changes any state;
only `hang_after_create` lets the operation run (and create the order) first.

`callbacks` is read by `callbacks.py` as it sends each event. Its draws (duplicates, shuffles,
dropped tokens) come from `callback_rng`, seeded from the sandbox's seed and re-seeded by every
PUT, so the same PUT followed by the same status changes gives the same deliveries.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Any

from sandbox.errors import Envelope
from sandbox.models import CallbackFaults, FaultsConfig, FaultSpec

# operationIds of the specification, plus the pickup hold the sandbox adds (UPSTREAM.md 2.2)
OPERATION_IDS = (
    "generateAccessToken",
    "findDeliveryStores",
    "findPickupStores",
    "findLastMileStores",
    "previewDeliveryTimeSlots",
    "previewPickupTimeSlots",
    "reserveDeliveryTimeSlot",
    "reservePickupTimeSlot",
    "createDeliveryOrder",
    "createPickupOrder",
    "getOrder",
    "cancelOrder",
    "previewLastMileServiceOptions",
    "createLastMileOrder",
    "stageLastMileOrder",
)
CREATE_OPERATIONS = frozenset({"createDeliveryOrder", "createPickupOrder", "createLastMileOrder"})


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """What to do to one call: wait, then fail with `error_status`, or hang."""

    latency_seconds: float = 0.0
    error_status: int | None = None
    error_reason: str = ""
    hang_seconds: float | None = None
    hang_after_create_seconds: float | None = None


NO_FAULT = FaultPlan()


class Faults:
    """The current fault configuration and its counters; deterministic for a given seed."""

    def __init__(self, seed: int, default_hang_seconds: float) -> None:
        self._seed = seed
        self._default_hang = default_hang_seconds
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self.config = FaultsConfig()
            self._fail_left: dict[str, int] = {}
            self._rng = random.Random(self._seed)
            self.callback_rng = random.Random(self._seed)

    def set(self, config: FaultsConfig) -> None:
        with self._lock:
            self.config = config
            self._fail_left = {op: spec.fail_next for op, spec in config.operations.items()}
            self.callback_rng = random.Random(self._seed)

    def as_json(self) -> dict[str, Any]:
        with self._lock:
            body = self.config.model_dump(mode="json")
            for op, left in self._fail_left.items():
                body["operations"][op]["fail_next"] = left
            return body

    @property
    def token_ttl_seconds(self) -> int | None:
        return self.config.token_ttl_seconds

    @property
    def callbacks(self) -> CallbackFaults:
        return self.config.callbacks

    @property
    def error_envelope(self) -> Envelope:
        return self.config.error_envelope

    def plan(self, operation_id: str) -> FaultPlan:
        with self._lock:
            key = operation_id if operation_id in self.config.operations else "*"
            spec: FaultSpec | None = self.config.operations.get(key)
            if spec is None:
                return NO_FAULT
            error_status, reason = None, ""
            if self._fail_left.get(key, 0) > 0:
                self._fail_left[key] -= 1
                error_status, reason = spec.status, "fail_next"
            elif spec.error_rate > 0 and self._rng.random() < spec.error_rate:
                error_status, reason = spec.status, "error_rate"
            hang_for = spec.hang_seconds if spec.hang_seconds is not None else self._default_hang
            return FaultPlan(
                latency_seconds=spec.latency_ms / 1000,
                error_status=error_status,
                error_reason=reason,
                hang_seconds=hang_for if spec.hang else None,
                hang_after_create_seconds=(
                    hang_for
                    if spec.hang_after_create and operation_id in CREATE_OPERATIONS
                    else None
                ),
            )
