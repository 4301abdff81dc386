"""Refusals (`SandboxError`) and the two error envelopes they render in.

Free of the web framework: `sandbox.http` turns an error into a response. The envelopes and
codes are documented in the package docstring (`sandbox/__init__.py`).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, Literal

Envelope = Literal["spec", "connect"]
SPEC: Envelope = "spec"
CONNECT: Envelope = "connect"


class ErrorCode(IntEnum):
    """Stable integer codes of the real API's envelope, one per reason."""

    INVALID_REQUEST = 1000
    SLOT_FULL = 1001
    # unknown, replaced by a newer hold, already used, of the wrong type, or its slot started
    HOLD_UNUSABLE = 1002
    ORDER_ID_EXISTS = 1003
    SERVICE_OPTION_UNAVAILABLE = 1004
    STATUS_NOT_ALLOWED = 1005
    SERVICE_OPTION_STARTED = 1006
    SERVICE_OPTION_WRONG_TYPE = 1007
    UNAUTHORIZED = 1401
    NOT_FOUND = 1404
    RATE_LIMITED = 1429
    SERVER_ERROR = 1500
    UNAVAILABLE = 1503

    @classmethod
    def for_status(cls, status: int) -> ErrorCode:
        """The code of a refusal that names no more specific reason."""
        if status in _BY_STATUS:
            return _BY_STATUS[status]
        return cls.SERVER_ERROR if status >= 500 else cls.INVALID_REQUEST


_BY_STATUS = {
    401: ErrorCode.UNAUTHORIZED,
    404: ErrorCode.NOT_FOUND,
    429: ErrorCode.RATE_LIMITED,
    500: ErrorCode.SERVER_ERROR,
    503: ErrorCode.UNAVAILABLE,
}


class SandboxError(Exception):
    """A refusal: HTTP status, message, the request field at fault (`key`) and a stable code."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        key: str | None = None,
        code: ErrorCode | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.key = key
        self.code = code if code is not None else ErrorCode.for_status(status)
        self.headers = headers

    def body(self, envelope: Envelope = SPEC) -> dict[str, Any]:
        """The JSON body in the specification's envelope or in the real API's."""
        if envelope == CONNECT:
            meta = {"key": self.key} if self.key is not None else {}
            return {"error": {"message": self.message, "code": int(self.code)}, "meta": meta}
        body: dict[str, Any] = {"error": self.message, "status": self.status}
        if self.key is not None:
            body["meta"] = {"key": self.key}
        return body
