"""HTTP helpers shared by the routers: the app's parts, JSON answers, and the error handlers."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from sandbox.config import SandboxConfig
from sandbox.errors import SPEC, Envelope, SandboxError
from sandbox.faults import Faults
from sandbox.state import SandboxState

log = logging.getLogger("sandbox")

CONTROL_PREFIX = "/sandbox/"


def state_of(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


def faults_of(request: Request) -> Faults:
    faults: Faults = request.app.state.faults
    return faults


def config_of(request: Request) -> SandboxConfig:
    config: SandboxConfig = request.app.state.config
    return config


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, headers=headers, media_type="application/json"
    )


def envelope_for(request: Request) -> Envelope:
    """The configured envelope on the Connect routes; the control routes keep the spec's."""
    if request.url.path.startswith(CONTROL_PREFIX):
        return SPEC
    return faults_of(request).error_envelope


def error_response(request: Request, error: SandboxError) -> Response:
    return json_response(error.body(envelope_for(request)), error.status, error.headers)


async def wait_unless_disconnected(request: Request, seconds: float) -> None:
    """Sleeps for `seconds`, or until the client goes away."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        await asyncio.sleep(min(left, 0.25))
        if await request.is_disconnected():
            return


async def _sandbox_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SandboxError)
    return error_response(request, exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    message = {404: "not found", 405: "method not allowed"}.get(exc.status_code, str(exc.detail))
    error = SandboxError(exc.status_code, message, headers=dict(exc.headers or {}))
    return error_response(request, error)


async def _validation_error(request: Request, exc: Exception) -> Response:
    return error_response(request, SandboxError(400, "invalid request"))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("sandbox.unexpected_error path=%s", request.url.path)
    return error_response(request, SandboxError(500, "internal sandbox error"))


def install_error_handlers(app: FastAPI) -> None:
    """Every refusal, including the router's own 404 and 405, in the sandbox's error body."""
    app.add_exception_handler(SandboxError, _sandbox_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
