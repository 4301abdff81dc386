"""What an Instacart refusal means, from one table, and the storefront error it becomes.

Refusals are classified by status, the real API's error code and `meta.key` (the request field
at fault), in that order of trust; the message is read only when the upstream named neither,
and then with whole-word patterns (a bare "full" would also match "successfully", and "hold"
would match "threshold"). The sandbox answers with `meta.key` in both envelopes and with the
codes below in the real API's envelope; Instacart does not publish its numeric codes, so the
code rows are the sandbox's and more can be added here as they become known.

Upstream bodies never reach the storefront: they may carry addresses. Only our own words and,
where it helps, the upstream's short message go into ``detail``.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass

from app.instacart.errors import (
    CircuitOpenError,
    InstacartCredentialsRejected,
    InstacartError,
    InstacartNotFound,
    InstacartPoolExhausted,
    InstacartRateLimited,
    InstacartServerError,
    InstacartTimeout,
    InstacartUnavailable,
)
from app.platform.errors import (
    AppError,
    NotFound,
    ReservationExpired,
    SlotFulfillmentMismatch,
    SlotInPast,
    SlotNotFound,
    SlotUnavailable,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
    ValidationFailed,
)


class Refusal(enum.StrEnum):
    SLOT_FULL = "slot_full"
    HOLD_UNUSABLE = "hold_unusable"  # unknown, replaced by a newer hold, used, or started
    DUPLICATE_ORDER = "duplicate_order"  # our order id already exists upstream
    OPTION_UNAVAILABLE = "option_unavailable"  # the service option is unknown or gone
    OPTION_MALFORMED = "option_malformed"  # not a service option id at all
    OPTION_STARTED = "option_started"  # its window has started or passed
    OPTION_WRONG_TYPE = "option_wrong_type"  # an option of another fulfillment type
    STATUS_CONFLICT = "status_conflict"  # the order's status does not allow the operation
    STORE_UNKNOWN = "store_unknown"  # no such store
    FULFILLMENT_NOT_OFFERED = "fulfillment_not_offered"  # the store lacks this fulfillment
    INVALID = "invalid"  # a malformed field: the field says which, but it is no other reason


@dataclass(frozen=True, slots=True)
class Rule:
    refusal: Refusal
    status: int = 400
    code: int | None = None
    meta_key: str | None = None
    message: re.Pattern[str] | None = None

    def matches(self, exc: InstacartError) -> bool:
        if exc.status != self.status:
            return False
        if self.code is not None and _as_int(exc.upstream_code) != self.code:
            return False
        if self.meta_key is not None and exc.meta_key != self.meta_key:
            return False
        return self.message is None or bool(self.message.search(exc.upstream_message or ""))


def _as_int(value: int | str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _words(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_SLOT_FULL = _words(r"\bslot\b.*\bfull\b")

# First match wins: codes, then the field at fault, then (last resort) the message alone.
RULES: tuple[Rule, ...] = (
    Rule(Refusal.SLOT_FULL, code=1001),
    Rule(Refusal.HOLD_UNUSABLE, code=1002),
    Rule(Refusal.DUPLICATE_ORDER, code=1003),
    Rule(Refusal.OPTION_UNAVAILABLE, code=1004),
    Rule(Refusal.STATUS_CONFLICT, code=1005),
    Rule(Refusal.OPTION_STARTED, code=1006),
    Rule(Refusal.OPTION_WRONG_TYPE, code=1007),
    # The sandbox (and, as far as is known, Instacart) says "invalid request" for a missing or
    # unknown store, naming the field; any other field with that code is merely malformed.
    Rule(
        Refusal.FULFILLMENT_NOT_OFFERED, meta_key="store_id", message=_words(r"\bdoes not offer\b")
    ),
    Rule(Refusal.STORE_UNKNOWN, meta_key="store_id"),
    Rule(Refusal.OPTION_MALFORMED, code=1000, meta_key="service_option_id"),
    Rule(Refusal.INVALID, code=1000),
    Rule(Refusal.DUPLICATE_ORDER, meta_key="order_id", message=_words(r"\balready exists\b")),
    Rule(Refusal.SLOT_FULL, meta_key="hold_id", message=_SLOT_FULL),
    Rule(Refusal.SLOT_FULL, meta_key="service_option_id", message=_SLOT_FULL),
    Rule(Refusal.HOLD_UNUSABLE, meta_key="hold_id"),
    Rule(Refusal.OPTION_MALFORMED, meta_key="service_option_id", message=_words(r"\bmalformed\b")),
    Rule(Refusal.OPTION_STARTED, meta_key="service_option_id", message=_words(r"\bstarted\b")),
    Rule(
        Refusal.OPTION_WRONG_TYPE, meta_key="service_option_id", message=_words(r"\boption, not\b")
    ),
    Rule(Refusal.OPTION_UNAVAILABLE, meta_key="service_option_id"),
    Rule(Refusal.STATUS_CONFLICT, meta_key="status"),
    Rule(Refusal.SLOT_FULL, message=_SLOT_FULL),
    Rule(Refusal.DUPLICATE_ORDER, message=_words(r"\border_id\b.*\balready exists\b")),
    Rule(Refusal.HOLD_UNUSABLE, message=_words(r"\bhold_id\b|\bheld slot\b.*\bstarted\b")),
    Rule(Refusal.OPTION_UNAVAILABLE, message=_words(r"\bservice_option_id\b")),
    Rule(Refusal.FULFILLMENT_NOT_OFFERED, message=_words(r"\bdoes not offer\b")),
    Rule(Refusal.STORE_UNKNOWN, message=_words(r"\bstore_id\b")),
)


def classify(exc: InstacartError) -> Refusal | None:
    """What a 400 means, or None when no rule knows it."""
    return next((rule.refusal for rule in RULES if rule.matches(exc)), None)


def translate(exc: InstacartError) -> AppError:
    """The storefront error for an upstream failure that has no more specific meaning."""
    if isinstance(exc, CircuitOpenError):
        return UpstreamUnavailable(
            "Instacart is failing; calls are paused briefly.",
            retry_after=max(1, math.ceil(exc.retry_after)),
        )
    if isinstance(exc, InstacartCredentialsRejected) or isinstance(
        exc.__cause__, InstacartCredentialsRejected
    ):
        # Not transient, and not the storefront's doing: the service is misconfigured.
        return UpstreamError("Instacart rejected the service's credentials.")
    if isinstance(exc, InstacartPoolExhausted):
        # Our own capacity, not Instacart's health: shed now, say when to come back.
        return UpstreamUnavailable(
            "The service is at capacity for calls to Instacart; retry shortly.", retry_after=1
        )
    if isinstance(exc, InstacartTimeout):
        return UpstreamTimeout("Instacart did not answer in time.")
    if isinstance(exc, InstacartUnavailable | InstacartServerError | InstacartRateLimited):
        return UpstreamUnavailable("Instacart is unavailable right now.")
    if isinstance(exc, InstacartNotFound):
        return NotFound("Instacart does not know this resource.")
    refusal = classify(exc)
    if refusal is Refusal.HOLD_UNUSABLE:
        return ReservationExpired("The reservation is no longer valid; reserve a slot again.")
    if refusal in _SLOT_REFUSALS:
        error, detail = _SLOT_REFUSALS[refusal]
        return error(detail, param="slot_id")
    if refusal is Refusal.OPTION_MALFORMED:
        message = "slot_id is not a slot id: take one from GET /v1/stores/{store_id}/slots"
        return ValidationFailed(message, errors=[{"field": "slot_id", "message": message}])
    return UpstreamError(f"Instacart refused the request ({exc.operation}).")


# What a refused slot means for the storefront, which names it ``slot_id``.
_SLOT_REFUSALS: dict[Refusal, tuple[type[AppError], str]] = {
    Refusal.SLOT_FULL: (SlotUnavailable, "The time slot is full: choose another."),
    Refusal.OPTION_UNAVAILABLE: (
        SlotNotFound,
        "The store offers no such slot now: list its slots again and choose one of those.",
    ),
    Refusal.OPTION_STARTED: (
        SlotInPast,
        "The slot has already started: list the store's slots again for future ones.",
    ),
    Refusal.OPTION_WRONG_TYPE: (
        SlotFulfillmentMismatch,
        "The slot is of another fulfillment: reserve it with the fulfillment it was listed for.",
    ),
}
