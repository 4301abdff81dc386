"""RFC 9457 problem+json responses, and handlers for every error FastAPI or the service raises."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError, ResponseValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from app.platform.dependency_failures import DEPENDENCY_FAILURES, is_dependency_failure
from app.platform.errors import AppError, DependencyUnavailable, ValidationFailed
from app.platform.request_context import current_request_id

log = structlog.get_logger("app.platform.problems")

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://errors.checkout-bff.dev/"


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    errors: Sequence[Mapping[str, str]] | None = None,
) -> Response:
    """Build an ``application/problem+json`` response with the request id in it."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": current_request_id(),
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = list(errors)
    return Response(
        orjson.dumps(body), status_code=status, media_type=PROBLEM_CONTENT_TYPE, headers=headers
    )


def app_error_response(exc: AppError, instance: str | None) -> Response:
    """The problem+json answer for an AppError, wherever it is caught."""
    return problem_response(
        exc.status,
        exc.code,
        exc.title,
        exc.detail,
        instance=instance,
        headers=exc.headers,
        errors=exc.errors,
    )


def _validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    out = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ()) if part not in ("body",)]
        out.append({"field": ".".join(loc) or "body", "message": str(err.get("msg", "invalid"))})
    return out


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path. Starlette's 405 names only the first
    route's, and GET and POST /v1/orders are two routes."""
    routes = request.app.router.routes
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]
    return ", ".join(allowed)


def install_error_handlers(app: FastAPI) -> None:
    """Make every error the framework or the service raises answer in problem+json."""

    async def on_app_error(request: Request, exc: AppError) -> Response:
        return app_error_response(exc, request.url.path)

    async def on_validation_error(request: Request, exc: RequestValidationError) -> Response:
        return problem_response(
            422,
            ValidationFailed.code,
            ValidationFailed.title,
            "One or more fields are missing or invalid.",
            instance=request.url.path,
            errors=_validation_errors(exc),
        )

    async def on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        status = exc.status_code
        if status == 400:
            # FastAPI's only 400 is a body it could not decode (bad UTF-8, bad form data): for
            # the storefront that is invalid input like any other.
            return problem_response(
                422,
                ValidationFailed.code,
                ValidationFailed.title,
                "The request body could not be parsed.",
                instance=request.url.path,
                errors=[{"field": "body", "message": str(exc.detail)}],
            )
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        detail = exc.detail if isinstance(exc.detail, str) else phrase
        headers = dict(getattr(exc, "headers", None) or {})
        if status == 405:
            headers["Allow"] = _allowed_methods(request)
        return problem_response(
            status,
            _HTTP_CODES.get(status, "http_error"),
            phrase,
            detail,
            instance=request.url.path,
            headers=headers,
        )

    async def on_dependency_failure(request: Request, exc: Exception) -> Response:
        if not is_dependency_failure(exc):
            return await on_unexpected(request, exc)
        # Postgres or Redis unreachable: the caller should come back, not report a bug.
        log.warning(
            "request.dependency_unavailable", path=request.url.path, error=type(exc).__name__
        )
        return app_error_response(
            DependencyUnavailable("A data store of the service is unreachable; retry shortly."),
            request.url.path,
        )

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        if is_dependency_failure(exc):  # wrapped in something else on its way up
            return await on_dependency_failure(request, exc)
        # A bug, not bad input: log it with its traceback, tell the caller nothing internal.
        log.error("request.unhandled_error", exc_info=exc, path=request.url.path)
        return problem_response(
            500,
            "internal_error",
            "Internal error",
            "The service failed unexpectedly; the request id identifies it in the logs.",
            instance=request.url.path,
        )

    async def on_response_validation(request: Request, exc: ResponseValidationError) -> Response:
        return await on_unexpected(request, exc)

    # Starlette types a handler as taking any Exception; each of these takes its own class.
    app.add_exception_handler(AppError, on_app_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, on_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, on_http_error)  # type: ignore[arg-type]
    app.add_exception_handler(ResponseValidationError, on_response_validation)  # type: ignore[arg-type]
    # Registered by class so they are answered like any AppError, not as a crash (which the
    # server would also log as one); DBAPIError covers SQLAlchemy's wrappers of driver errors.
    for failure in (*DEPENDENCY_FAILURES, DBAPIError):
        app.add_exception_handler(failure, on_dependency_failure)
    app.add_exception_handler(Exception, on_unexpected)
