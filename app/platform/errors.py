"""The AppError family: errors with a status and a stable ``code`` the storefront branches on.

Free of FastAPI, so the domain can raise them; ``app.platform.problems`` renders them as
problem+json. Every code the service answers with is a class here (the framework's own HTTP
errors too), so that the error catalogue (``app.platform.error_catalogue``) can hold one entry
per class and a test can prove that none is missing.
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
        param: str | None = None,
        extensions: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.headers = dict(headers or {})
        self.errors = list(errors or [])
        # The request parameter at fault, as the client spells it (``slot_id``, ``items.0``).
        self.param = param if param is not None else (self.errors[0]["field"] if errors else None)
        # Further members of the problem (RFC 9457 extensions), such as ``order_id``.
        self.extensions = dict(extensions or {})


class ValidationFailed(AppError):
    status, code, title = 422, "validation_failed", "The request is not valid"


class Unauthenticated(AppError):
    status, code, title = 401, "unauthenticated", "Authentication required"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError):
    status, code, title = 403, "forbidden", "Not allowed"


class BadRequest(AppError):
    status, code, title = 400, "bad_request", "Bad request"


class NotFound(AppError):
    status, code, title = 404, "not_found", "Not found"


class StoreNotFound(AppError):
    status, code, title = 404, "store_not_found", "No such store"


class SlotNotFound(AppError):
    status, code, title = 404, "slot_not_found", "No such time slot"


class ReservationNotFound(AppError):
    status, code, title = 404, "reservation_not_found", "No such reservation"


class MethodNotAllowed(AppError):
    status, code, title = 405, "method_not_allowed", "Method not allowed"


class NotAcceptable(AppError):
    status, code, title = 406, "not_acceptable", "No acceptable representation"


class RequestTimeout(AppError):
    status, code, title = 408, "request_timeout", "The request was not received in time"


class PayloadTooLarge(AppError):
    status, code, title = 413, "payload_too_large", "The request body is too large"


class UnsupportedMediaType(AppError):
    status, code, title = 415, "unsupported_media_type", "The body is not JSON"


class HttpError(AppError):
    """Any other refusal by HTTP itself; its status is the one the protocol gave."""

    status, code, title = 400, "http_error", "The request was refused"


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
    status, code, title = 409, "slot_unavailable", "The time slot is full"


class SlotInPast(AppError):
    status, code, title = 422, "slot_in_past", "The time slot has already started"


class SlotFulfillmentMismatch(AppError):
    status, code, title = 422, "slot_fulfillment_mismatch", "The slot is of another fulfillment"


class FulfillmentNotOffered(AppError):
    status, code, title = (
        422,
        "fulfillment_not_offered",
        "The store does not offer this fulfillment",
    )


class ReservationExpired(AppError):
    status, code, title = 409, "reservation_expired", "The reservation expired"


class ReservationUsed(AppError):
    status, code, title = 409, "reservation_used", "The reservation was used by an order"

    def __init__(self, order_id: str | None) -> None:
        detail = (
            f"This reservation was used by your order {order_id}: show that order, or reserve "
            "a slot again for a new one."
            if order_id
            else "This reservation was used by an order: reserve a slot again."
        )
        extensions = {"order_id": order_id} if order_id else None
        super().__init__(detail, param="reservation_id", extensions=extensions)


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


class DemoTokenUnavailable(AppError):
    status, code, title = 409, "demo_token_unavailable", "The demo cannot sign tokens here"


class InternalError(AppError):
    status, code, title = 500, "internal_error", "Internal error"


class UpstreamError(AppError):
    status, code, title = 502, "upstream_error", "Instacart answered with an error"


class UpstreamUnavailable(RetryLater):
    status, code, title = 503, "upstream_unavailable", "Instacart is unavailable"
    retry_after = 5


class UpstreamTimeout(AppError):
    status, code, title = 504, "upstream_timeout", "Instacart did not answer in time"
