"""Pure ASGI middleware: request id, access log, server metrics, body size cap.

Pure ASGI rather than ``BaseHTTPMiddleware``: it is faster and keeps contextvars intact.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.platform.errors import PayloadTooLarge, RequestTimeout
from app.platform.metrics import HTTP_SERVER_DURATION, labelled
from app.platform.problems import app_error_response
from app.platform.request_context import reset_request_id, set_request_id

access_log = structlog.get_logger("app.access")

# A caller's id is kept only when it is short and plain, so it can't forge log lines.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id_for(incoming: str | None) -> str:
    """The caller's request id when it is sane, else a new one (32 random hex digits)."""
    if incoming and _SANE_REQUEST_ID.match(incoming):
        return incoming
    # Not uuid4().hex: its UUID object and the system call for its bytes were 5 % of a hot
    # slot preview (py-spy). An id needs to be unique, not unguessable: 128 bits of the
    # process's generator (seeded from the system's at start) give the same 32 hex digits.
    return f"{random.getrandbits(128):032x}"


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header, as Starlette decodes it (Latin-1)."""
    for key, value in scope["headers"]:
        if key == name:
            decoded: str = value.decode("latin-1")
            return decoded
    return None


# HTTP's methods (RFC 9110, and PATCH) are counted by name; any other as "other", so that a
# client that sends thousands of made-up methods grows no metric series. Routing answers them
# all alike: 405 with Allow where the path exists, 404 where it does not.
STANDARD_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)


class RequestContextMiddleware:
    """Gives each request an id (echoed in ``X-Request-ID``), logs it and times it."""

    def __init__(self, app: ASGIApp, *, access_log_enabled: bool = True) -> None:
        self.app = app
        self.access_log_enabled = access_log_enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_for(header(scope, b"x-request-id"))
        token = set_request_id(request_id)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        encoded_id = request_id.encode()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", encoded_id)]
            await send(message)

        method = scope["method"] if scope["method"] in STANDARD_METHODS else "other"
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            labelled(HTTP_SERVER_DURATION, method, template, status).observe(elapsed)
            if self.access_log_enabled:
                access_log.info(
                    "http.request",
                    method=method,
                    route=template,
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                )
            structlog.contextvars.unbind_contextvars("request_id")
            reset_request_id(token)


class BodySizeLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` with 413, whether declared or streamed, and
    bodies that stall longer than ``read_timeout_seconds`` between chunks with 408: a client
    must not hold a connection and a request slot open by trickling its body."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, read_timeout_seconds: float = 10.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout = read_timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, send)
            return

        received = 0
        too_large = False
        stalled = False
        body_done = scope.get("method") in ("GET", "HEAD", "OPTIONS")
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received, too_large, stalled, body_done
            if body_done:
                # After the body, receive() waits for the client to leave (event streams): no
                # deadline there.
                return await receive()
            message = await _within(self.read_timeout, receive)
            if message is None:
                stalled = True
                return {"type": "http.request", "body": b"", "more_body": False}
            if message["type"] == "http.request":
                body_done = not message.get("more_body", False)
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    # The app sees the end of the body; whatever it answers is replaced below.
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if too_large or stalled:
                return
            response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not (too_large or stalled):
                raise
        if too_large and not response_started:
            await self._refuse(scope, send)
        elif stalled and not response_started:
            error = RequestTimeout(f"The request body stalled for {self.read_timeout:g} s.")
            await app_error_response(error, scope.get("path"))(scope, _drain_receive, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        error = PayloadTooLarge(f"Request bodies are limited to {self.max_bytes} bytes.")
        response = app_error_response(error, scope.get("path"))
        await response(scope, _drain_receive, send)


async def _within(seconds: float, receive: Receive) -> Message | None:
    """``await receive()``, or None if it has not answered within `seconds`.

    What ``asyncio.timeout`` does, with its bookkeeping (a Timeout object, its state machine
    and context manager) left out: every storefront write reads its body under this deadline
    (docs/performance.md, "Per-request overhead"). As there, the deadline cancels the task,
    and only that cancellation becomes None: one from outside (the client gone, shutdown)
    still propagates.
    """
    task = asyncio.current_task()
    assert task is not None  # ASGI apps run in a task
    cancelling = task.cancelling()
    expired = False

    def expire() -> None:
        nonlocal expired
        expired = True
        task.cancel()

    deadline = asyncio.get_running_loop().call_later(seconds, expire)
    try:
        message = await receive()
    except asyncio.CancelledError:
        if expired and task.uncancel() <= cancelling:
            return None
        raise
    finally:
        deadline.cancel()
    if expired:
        # The deadline fell as receive() answered: its cancellation request is withdrawn.
        task.uncancel()
    return message


async def _drain_receive() -> dict[str, Any]:
    return {"type": "http.disconnect"}
