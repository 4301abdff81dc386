"""RFC 9457 problem+json responses, and handlers for every error FastAPI or the service raises.

Every problem names its cause with a ``code`` from the error catalogue, whose entry its
``type`` leads to; ``param`` names the request parameter at fault, and ``detail`` and
``errors[]`` say what is wrong in a sentence (pydantic's "Value error, " prefixes and JSON
decoders' character offsets are turned into words here).
"""

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
from app.platform.error_catalogue import problem_type
from app.platform.errors import (
    AppError,
    BadRequest,
    DependencyUnavailable,
    Forbidden,
    HttpError,
    InternalError,
    MethodNotAllowed,
    NotAcceptable,
    NotFound,
    PayloadTooLarge,
    Unauthenticated,
    UnsupportedMediaType,
    ValidationFailed,
)
from app.platform.request_context import current_request_id

log = structlog.get_logger("app.platform.problems")

PROBLEM_CONTENT_TYPE = "application/problem+json"


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    errors: Sequence[Mapping[str, str]] | None = None,
    param: str | None = None,
    extensions: Mapping[str, str] | None = None,
) -> Response:
    """Build an ``application/problem+json`` response with the request id in it."""
    body: dict[str, Any] = {
        "type": problem_type(code),
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": current_request_id(),
    }
    if instance:
        body["instance"] = instance
    if param:
        body["param"] = param
    if errors:
        body["errors"] = list(errors)
    body.update(extensions or {})
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
        param=exc.param,
        extensions=exc.extensions,
    )


# What pydantic puts before a validator's own sentence.
_LIBRARY_PREFIXES = ("Value error, ", "Assertion failed, ")
# Where a parameter came from, which the client does not spell in its name.
_LOCATIONS = ("path", "query", "header", "cookie")


def plain_sentence(message: str) -> str:
    """A validator's message without pydantic's prefix ("Value error, ...")."""
    for prefix in _LIBRARY_PREFIXES:
        message = message.removeprefix(prefix)
    return message


def _sentence(err: Mapping[str, Any], body: Any) -> str:
    if err.get("type") == "json_invalid":
        return _json_problem(err, body)
    return plain_sentence(str(err.get("msg", "invalid")))


def _json_problem(err: Mapping[str, Any], body: Any) -> str:
    """What is wrong with the JSON, and where by line and column (not a character offset)."""
    problem = str(err.get("ctx", {}).get("error", "JSON decode error"))
    problem = problem[:1].lower() + problem[1:]
    loc = err.get("loc", ())
    offset = loc[-1] if loc and isinstance(loc[-1], int) else None
    if offset is None or not isinstance(body, str | bytes):
        return f"The body is not valid JSON: {problem}."
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"The body is not valid JSON: {problem} at line {line}, column {column}."


def _validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    out = []
    for err in exc.errors():
        json_error = err.get("type") == "json_invalid"
        loc = [str(part) for part in err.get("loc", ()) if part not in ("body",)]
        field = "body" if json_error else ".".join(loc) or "body"
        out.append({"field": field, "message": _sentence(err, exc.body)})
    return out


def _param(field: str) -> str:
    """A field of errors[] as the client names the parameter: ``query.latitude`` is
    ``latitude``."""
    where, _, name = field.partition(".")
    return name if where in _LOCATIONS and name else field


def _is_json(request: Request) -> bool:
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def _body_not_json(request: Request, exc: RequestValidationError) -> bool:
    """A body sent as something other than JSON: FastAPI then validates its raw bytes, and
    says only that they are not an object."""
    return (
        not _is_json(request)
        and isinstance(exc.body, bytes | str)
        and bool(exc.body)
        and any(tuple(err.get("loc", ())) == ("body",) for err in exc.errors())
    )


# The service's errors for Starlette's own HTTP refusals.
_HTTP_ERRORS: dict[int, type[AppError]] = {
    cls.status: cls
    for cls in (
        BadRequest,
        Unauthenticated,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        NotAcceptable,
        PayloadTooLarge,
        UnsupportedMediaType,
    )
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
        if _body_not_json(request, exc):
            sent = request.headers.get("content-type")
            refusal: AppError = UnsupportedMediaType(
                "Send the body as JSON with the header Content-Type: application/json "
                + (f"(this request said {sent!r})." if sent else "(this request had none)."),
                param="body",
            )
            return app_error_response(refusal, request.url.path)
        errors = _validation_errors(exc)
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        more = f" ({len(errors) - 1} more in errors)" if len(errors) > 1 else ""
        return problem_response(
            422,
            ValidationFailed.code,
            ValidationFailed.title,
            f"{_param(first['field'])}: {first['message']}{more}",
            instance=request.url.path,
            errors=errors,
            param=_param(first["field"]),
        )

    async def on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        status = exc.status_code
        if status == 400:
            # FastAPI's only 400 is a body it could not decode (bad UTF-8, bad form data): for
            # the storefront that is invalid input like any other.
            message = "The body could not be read: it is not UTF-8 JSON."
            return app_error_response(
                ValidationFailed(message, errors=[{"field": "body", "message": message}]),
                request.url.path,
            )
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        detail = exc.detail if isinstance(exc.detail, str) else phrase
        headers = dict(getattr(exc, "headers", None) or {})
        if status == 405:
            headers["Allow"] = _allowed_methods(request)
        error = _HTTP_ERRORS.get(status, HttpError)
        return problem_response(
            status, error.code, phrase, detail, instance=request.url.path, headers=headers
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
        return app_error_response(
            InternalError(
                "The service failed unexpectedly; the request id identifies it in the logs."
            ),
            request.url.path,
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
