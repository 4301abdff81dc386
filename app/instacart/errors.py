"""The error family of the Instacart Connect client.

Every error keeps the operation (the upstream operationId), the HTTP status when there was one,
and the upstream message and code. Request and response bodies are never kept: they carry
addresses and phone numbers.
"""

from __future__ import annotations

from typing import Any

import orjson

# Statuses after which the same request may succeed if sent again.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

# 4xx answers that say nothing about the request itself: who may call, and how often.
_NOT_ABOUT_THE_REQUEST = frozenset({401, 403, 408, 429})

# Upstream messages are short; anything longer is cut so a misbehaving upstream cannot flood logs.
_MAX_MESSAGE_CHARS = 300


class InstacartError(Exception):
    """Base of every error raised by the Instacart client."""

    def __init__(
        self,
        operation: str,
        *,
        status: int | None = None,
        upstream_message: str | None = None,
        upstream_code: int | str | None = None,
        meta_key: str | None = None,
        detail: str | None = None,
    ) -> None:
        self.operation = operation
        self.status = status
        self.upstream_message = upstream_message
        self.upstream_code = upstream_code
        self.meta_key = meta_key
        self.detail = detail
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [self.operation]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.detail:
            parts.append(self.detail)
        if self.upstream_message:
            parts.append(self.upstream_message)
        if self.upstream_code is not None:
            parts.append(f"code={self.upstream_code}")
        if self.meta_key:
            parts.append(f"field={self.meta_key}")
        return ": ".join(parts)

    @property
    def retryable(self) -> bool:
        """True when sending the same request again may succeed."""
        return self.status in RETRYABLE_STATUSES

    @property
    def ambiguous(self) -> bool:
        """True when the upstream may have acted on the request although it failed.

        An order create that fails ambiguously must be resolved by ``get_order`` on the retailer
        order id, never by creating again.
        """
        return False

    @property
    def refuses_request(self) -> bool:
        """True when Instacart itself answered this request and refused it for what it asked.

        Only such an answer may settle an order as never placed. A refusal on our side (breaker
        open, pool exhausted, no connection), a timeout, a 5xx, an authentication failure or a
        rate limit says nothing about an earlier create that may still land.
        """
        return (
            self.status is not None
            and 400 <= self.status < 500
            and self.status not in _NOT_ABOUT_THE_REQUEST
        )

    @property
    def counts_as_upstream_failure(self) -> bool:
        """True for failures that say the upstream is unhealthy: the circuit breaker counts them."""
        return False


class InstacartBadRequest(InstacartError):
    """400: the upstream refused the request (invalid field, slot full, duplicate order id...)."""


class InstacartAuthError(InstacartError):
    """401: the access token was not accepted."""


class InstacartCredentialsRejected(InstacartAuthError):
    """401 again after a fresh token, or 401 from the token endpoint: credentials are rejected."""


class InstacartForbidden(InstacartError):
    """403: the credentials are not allowed this operation."""


class InstacartNotFound(InstacartError):
    """404: no such order (or user) upstream."""


class InstacartRateLimited(InstacartError):
    """429: too many requests. Instacart sends no Retry-After."""


class InstacartServerError(InstacartError):
    """5xx: the upstream failed; it may or may not have acted on the request."""

    @property
    def ambiguous(self) -> bool:
        return True

    @property
    def counts_as_upstream_failure(self) -> bool:
        return True


class InstacartInvalidResponse(InstacartError):
    """A 2xx answer whose body is not what the specification promises.

    The upstream did act on the request, so for a create this is ambiguous.
    """

    @property
    def ambiguous(self) -> bool:
        return True


class _TransportFailure(InstacartError):
    """A failure with no usable HTTP answer; ``request_sent`` says whether it left this process."""

    def __init__(self, operation: str, *, request_sent: bool, **kwargs: Any) -> None:
        self.request_sent = request_sent
        super().__init__(operation, **kwargs)

    @property
    def retryable(self) -> bool:
        return True

    @property
    def ambiguous(self) -> bool:
        return self.request_sent

    @property
    def counts_as_upstream_failure(self) -> bool:
        return True


class InstacartTimeout(_TransportFailure):
    """No answer in time: an httpx timeout, HTTP 408, or the call's total deadline."""

    def __init__(self, operation: str, *, request_sent: bool = True, **kwargs: Any) -> None:
        super().__init__(operation, request_sent=request_sent, **kwargs)


class InstacartUnavailable(_TransportFailure):
    """The upstream could not be reached (connection refused or reset, DNS, protocol error)."""

    def __init__(self, operation: str, *, request_sent: bool = False, **kwargs: Any) -> None:
        super().__init__(operation, request_sent=request_sent, **kwargs)


class InstacartPoolExhausted(InstacartUnavailable):
    """Every connection of the pool stayed busy for the pool's wait: this process is at its
    capacity. The request was not sent; it is not Instacart's failure (the breaker ignores it)
    and retrying at once would only queue again."""

    def __init__(self, operation: str, *, pool: str, **kwargs: Any) -> None:
        self.pool = pool
        super().__init__(operation, request_sent=False, **kwargs)

    @property
    def retryable(self) -> bool:
        return False

    @property
    def counts_as_upstream_failure(self) -> bool:
        return False


class CircuitOpenError(InstacartError):
    """The circuit breaker of the operation's class is open: the call was not attempted."""

    def __init__(self, operation: str, *, operation_class: str, retry_after: float) -> None:
        self.operation_class = operation_class
        self.retry_after = retry_after
        super().__init__(
            operation,
            detail=f"circuit '{operation_class}' is open, retry in {retry_after:.1f}s",
        )

    @property
    def retryable(self) -> bool:
        # Retrying at once would fail fast again; the caller should wait ``retry_after``.
        return False


_BY_STATUS: dict[int, type[InstacartError]] = {
    400: InstacartBadRequest,
    401: InstacartAuthError,
    403: InstacartForbidden,
    404: InstacartNotFound,
    429: InstacartRateLimited,
}


def parse_error_body(body: bytes) -> tuple[str | None, int | str | None, str | None]:
    """Read ``(message, code, meta_key)`` from either upstream error envelope.

    The specification's envelope is ``{"error": "msg", "status": 400}``; the real API answers
    ``{"error": {"message": "msg", "code": 1234}, "meta": {"key": "field"}}``. Anything else
    (HTML from a proxy, empty body) yields ``(None, None, None)``.
    """
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None, None, None
    if not isinstance(data, dict):
        return None, None, None
    message: str | None = None
    code: int | str | None = None
    meta_key: str | None = None
    error = data.get("error")
    if isinstance(error, str):
        message = error
    elif isinstance(error, dict):
        if isinstance(error.get("message"), str):
            message = error["message"]
        if isinstance(error.get("code"), int | str):
            code = error["code"]
    elif isinstance(data.get("message"), str):
        message = data["message"]
    meta = data.get("meta")
    if isinstance(meta, dict) and isinstance(meta.get("key"), str):
        meta_key = meta["key"]
    if message is not None and len(message) > _MAX_MESSAGE_CHARS:
        message = message[:_MAX_MESSAGE_CHARS] + "..."
    return message, code, meta_key


def error_from_response(
    operation: str, status: int, body: bytes, *, token_refreshed: bool = False
) -> InstacartError:
    """Map a non-2xx upstream answer to its error class, keeping only the upstream message."""
    message, code, meta_key = parse_error_body(body)
    kwargs: dict[str, Any] = {
        "status": status,
        "upstream_message": message,
        "upstream_code": code,
        "meta_key": meta_key,
    }
    if status == 401 and (token_refreshed or operation == "generateAccessToken"):
        return InstacartCredentialsRejected(
            operation, detail="credentials or token rejected", **kwargs
        )
    if status == 408:
        return InstacartTimeout(operation, request_sent=True, **kwargs)
    if status >= 500:
        return InstacartServerError(operation, **kwargs)
    return _BY_STATUS.get(status, InstacartError)(operation, **kwargs)
