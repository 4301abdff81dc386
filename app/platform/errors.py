"""The AppError family: errors with a status and a stable ``code`` the storefront branches on.

Free of FastAPI, so the domain can raise them; ``app.platform.problems`` renders them as
problem+json.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class AppError(Exception):
    """An error with a stable ``code`` that the storefront can branch on."""

    status: int = 500
    code: str = "internal_error"
    title: str = "Internal error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        errors: Sequence[Mapping[str, str]] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.headers = dict(headers or {})
        self.errors = list(errors or [])


class ValidationFailed(AppError):
    status, code, title = 422, "validation_failed", "The request is not valid"


class Unauthenticated(AppError):
    status, code, title = 401, "unauthenticated", "Authentication required"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError):
    status, code, title = 403, "forbidden", "Not allowed"


class NotFound(AppError):
    status, code, title = 404, "not_found", "Not found"


class RequestTimeout(AppError):
    status, code, title = 408, "request_timeout", "The request was not received in time"


class PayloadTooLarge(AppError):
    status, code, title = 413, "payload_too_large", "The request body is too large"


class RateLimited(AppError):
    status, code, title = 429, "rate_limited", "Too many requests"

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})


class RetryLater(AppError):
    """A 503 that says when to come back: ``Retry-After`` is the class's own unless given."""

    status = 503
    retry_after: int = 1

    def __init__(self, detail: str | None = None, retry_after: int | None = None) -> None:
        seconds = self.retry_after if retry_after is None else retry_after
        super().__init__(detail, headers={"Retry-After": str(seconds)})


class OverCapacity(RetryLater):
    status, code, title = 503, "over_capacity", "The service is at capacity"


class DependencyUnavailable(RetryLater):
    status, code, title = 503, "dependency_unavailable", "A dependency of the service is down"
    retry_after = 2


class IdempotencyKeyMissing(AppError):
    status, code, title = 400, "idempotency_key_missing", "An Idempotency-Key header is required"


class SlotUnavailable(AppError):
    status, code, title = 409, "slot_unavailable", "The time slot is full or gone"


class ReservationExpired(AppError):
    status, code, title = 409, "reservation_expired", "The reservation expired"


class OrderNotCancelable(AppError):
    status, code, title = 409, "order_not_cancelable", "The order can no longer be canceled"


class OrderNotStageable(AppError):
    status, code, title = 409, "order_not_stageable", "The order cannot be staged"


class RequestInProgress(AppError):
    status, code, title = 409, "request_in_progress", "The same request is still being processed"


class IdempotencyKeyReused(AppError):
    status, code, title = (
        422,
        "idempotency_key_reused",
        "The Idempotency-Key was used for another request",
    )


class UpstreamError(AppError):
    status, code, title = 502, "upstream_error", "Instacart answered with an error"


class UpstreamUnavailable(RetryLater):
    status, code, title = 503, "upstream_unavailable", "Instacart is unavailable"
    retry_after = 5


class UpstreamTimeout(AppError):
    status, code, title = 504, "upstream_timeout", "Instacart did not answer in time"
