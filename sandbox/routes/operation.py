"""`add_operation`: registers a specification operation with everything every call goes through.

Each call is counted, its body read, then the configured faults apply, then the bearer token
is checked, then the body is parsed strictly; refusals become the sandbox's error body.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from sandbox.errors import SandboxError
from sandbox.faults import FaultPlan
from sandbox.http import (
    error_response,
    faults_of,
    json_response,
    state_of,
    wait_unless_disconnected,
)
from sandbox.models import invalid_body

log = logging.getLogger("sandbox")

Handler = Callable[[Request, Any], Awaitable[Any]]

INVALID_TOKEN_HEADERS = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
# nginx's "client closed request": recorded in the stats, never seen by the client
CLIENT_CLOSED_REQUEST = 499


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def add_operation(
    router: APIRouter,
    op: str,
    path: str,
    handler: Handler,
    *,
    method: str = "POST",
    body: type[BaseModel] | None = None,
    auth: bool = True,
) -> None:
    """Routes `method path` to `handler(request, parsed_body)` as operationId `op`."""

    async def endpoint(request: Request) -> Response:
        state = state_of(request)
        state.record_call(op, request.headers.get("traceparent"))
        try:
            response = await _run(request, op, handler, body, auth)
        except SandboxError as exc:
            response = error_response(request, exc)
        except ClientDisconnect:
            response = Response(status_code=CLIENT_CLOSED_REQUEST)
        state.record_status(op, response.status_code)
        log.info("sandbox.call op=%s status=%s", op, response.status_code)
        return response

    endpoint.__name__ = op
    router.add_api_route(path, endpoint, methods=[method], operation_id=op, include_in_schema=False)


async def _run(
    request: Request, op: str, handler: Handler, body: type[BaseModel] | None, auth: bool
) -> Response:
    # read before any fault's wait, as a server does: a client that gives up during a slow
    # create then leaves an order behind, which is the real API's ambiguous outcome
    raw = await request.body()
    plan = faults_of(request).plan(op)
    await _apply_plan(request, op, plan)
    if auth:
        _authenticate(request)
    parsed = None
    if body is not None:
        try:
            parsed = body.model_validate_json(raw)
        except ValidationError as exc:
            raise invalid_body(exc) from None
    result = await handler(request, parsed)
    if isinstance(result, Response):
        return result
    if plan.hang_after_create_seconds is not None:
        log.info("sandbox.fault op=%s kind=hang_after_create", op)
        await wait_unless_disconnected(request, plan.hang_after_create_seconds)
    return json_response(result)


async def _apply_plan(request: Request, op: str, plan: FaultPlan) -> None:
    """Waits, hangs or fails as the plan says; a failure is raised before any work is done."""
    if plan.latency_seconds:
        # a plain sleep, as a busy server does not notice the client leave: the call then
        # runs to the end, so a client that timed out on a slow create leaves an order behind
        await asyncio.sleep(plan.latency_seconds)
    if plan.hang_seconds is not None:
        log.info("sandbox.fault op=%s kind=hang", op)
        await wait_unless_disconnected(request, plan.hang_seconds)
        raise SandboxError(503, "sandbox fault: hang")
    if plan.error_status is not None:
        log.info("sandbox.fault op=%s kind=%s status=%s", op, plan.error_reason, plan.error_status)
        raise SandboxError(plan.error_status, f"sandbox fault: {plan.error_reason}")


def _authenticate(request: Request) -> None:
    token = bearer_token(request)
    if token is None:
        raise SandboxError(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    if not state_of(request).token_valid(token):
        raise SandboxError(401, "invalid or expired token", headers=INVALID_TOKEN_HEADERS)
