"""Turning Instacart client errors into the storefront's error codes.

Upstream bodies never reach the storefront: they may carry addresses. Only our own words and,
where it helps, the upstream's short message go into ``detail``.
"""

from __future__ import annotations

import math

from app.errors import (
    AppError,
    NotFound,
    ReservationExpired,
    SlotUnavailable,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from app.instacart.errors import (
    CircuitOpenError,
    InstacartBadRequest,
    InstacartCredentialsRejected,
    InstacartError,
    InstacartNotFound,
    InstacartRateLimited,
    InstacartServerError,
    InstacartTimeout,
    InstacartUnavailable,
)


def _message(exc: InstacartError) -> str:
    return (exc.upstream_message or "").lower()


def is_slot_full(exc: InstacartError) -> bool:
    return isinstance(exc, InstacartBadRequest) and "full" in _message(exc)


def is_slot_unavailable(exc: InstacartError) -> bool:
    """The slot cannot be held: full, or no longer offered (an unknown service option)."""
    return is_slot_full(exc) or (
        isinstance(exc, InstacartBadRequest) and "service_option" in _message(exc)
    )


def is_duplicate_order(exc: InstacartError) -> bool:
    return isinstance(exc, InstacartBadRequest) and "already exists" in _message(exc)


def is_hold_unusable(exc: InstacartError) -> bool:
    """The hold is gone: replaced by a newer one, already used, unknown, or its slot started."""
    message = _message(exc)
    return isinstance(exc, InstacartBadRequest) and ("hold" in message or "started" in message)


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
    if isinstance(exc, InstacartTimeout):
        return UpstreamTimeout("Instacart did not answer in time.")
    if isinstance(exc, InstacartUnavailable | InstacartServerError | InstacartRateLimited):
        return UpstreamUnavailable("Instacart is unavailable right now.")
    if isinstance(exc, InstacartNotFound):
        return NotFound("Instacart does not know this resource.")
    if is_slot_full(exc):
        return SlotUnavailable("The time slot is full.")
    if is_hold_unusable(exc):
        return ReservationExpired("The reservation is no longer valid; reserve a slot again.")
    return UpstreamError(f"Instacart refused the request ({exc.operation}).")
