"""OpenAPI: the answers each route documents (its problems, each code with an example; its own
answers' examples), and the committed document's form."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, Field

from app.platform.error_catalogue import CATALOGUE
from app.platform.errors import AppError
from app.platform.problem_examples import example_problem
from app.platform.problems import PROBLEM_CONTENT_TYPE
from app.platform.schema_types import OpenEnum

# Every code the service answers with, from the catalogue (which a test holds to the error
# classes), so that the document's list cannot drift from what the service says.
ProblemCode = Annotated[
    str,
    OpenEnum(
        "ProblemCode",
        "Why the request failed, stable across versions: branch on it, not on `title` or "
        "`detail`. Each code's entry in the error catalogue (`GET /v1/errors/{code}`, where the "
        "problem's `type` leads) says when it happens and what to do:",
        tuple(
            (code, f"{entry.status}, {entry.title}. {entry.what_to_do}")
            for code, entry in CATALOGUE.items()
        ),
        "The service adds codes for causes it learns to tell apart, so a client built from an "
        "older document may meet one not listed here. Act on the HTTP status: after a 429 or "
        "503 retry once `Retry-After` has passed, after another 4xx fix the request, and show "
        "`detail` to a developer.",
    ),
]


class FieldError(BaseModel):
    """One invalid field of a `validation_failed` problem."""

    field: str = Field(description="The field at fault: `slot_id`, `items.0.quantity`, ...")
    message: str = Field(description="What is wrong with it, in a sentence.")


class Problem(BaseModel):
    """RFC 9457 problem details, with the service's stable ``code`` and the request id."""

    type: str = Field(
        description="Where the code's entry in the error catalogue is served, relative to the "
        "service: what it means and what to do.",
        examples=["/v1/errors/slot_unavailable"],
    )
    title: str = Field(
        description="The code's short sentence, the same for every problem of that code.",
        examples=["The time slot is full"],
    )
    status: int = Field(description="The HTTP status of the answer.", examples=[409])
    detail: str = Field(
        description="What went wrong here, in a sentence for a developer (not for shoppers: "
        "show them words of your own chosen by `code`).",
        examples=["The time slot is full: choose another."],
    )
    code: ProblemCode = Field(
        description="Stable: branch on it. Every code is in the error catalogue "
        "(`GET /v1/errors`, docs/errors.md).",
        examples=["slot_unavailable"],
    )
    request_id: str | None = Field(
        default=None,
        description="The request's id, also in the `X-Request-ID` header: quote it when "
        "reporting a problem, it finds the request in the service's logs.",
        examples=["4bf92f3577b34da6a3ce929d0e0e4736"],
    )
    instance: str | None = Field(
        default=None,
        description="The path of the request that failed.",
        examples=["/v1/reservations"],
    )
    param: str | None = Field(
        default=None,
        description="The request parameter at fault, as the client spells it (`slot_id`, "
        "`order_id`, `items.0.quantity`, `body`).",
        examples=["slot_id"],
    )
    errors: list[FieldError] | None = Field(
        default=None,
        description="`validation_failed`: every field at fault, each with a sentence.",
    )
    order_id: str | None = Field(
        default=None,
        description="`reservation_used`: the caller's order that used the reservation.",
    )


# The general answer of each status; the codes that come with it are the catalogue's.
_MEANINGS = {
    400: "Bad request",
    401: "Missing, expired or invalid token",
    403: "Not allowed for this user",
    404: "No such resource, or not the user's",
    409: "Conflict",
    413: "Request body too large",
    415: "The body is not JSON",
    422: "Invalid request",
    429: "Per-user rate limit, with Retry-After",
    502: "Instacart answered with an error the service cannot map",
    503: "Instacart or a dependency is unavailable, with Retry-After",
    504: "Instacart did not answer in time",
}


_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer", "minimum": 1},
    }
}
# The headers that come with a problem of a status.
_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": "`Bearer`: the token to send.",
            "schema": {"type": "string"},
        }
    },
    429: _RETRY_AFTER,
    503: _RETRY_AFTER,
}


def _problem_answer(status: int, codes: list[str]) -> dict[str, Any]:
    listed = ", ".join(f"`{code}`" for code in codes)
    return {
        "model": Problem,
        **({"headers": _HEADERS[status]} if status in _HEADERS else {}),
        "description": f"{_MEANINGS[status]}: {listed}" if codes else _MEANINGS[status],
        "content": {
            PROBLEM_CONTENT_TYPE: {
                "examples": {
                    code: {"summary": CATALOGUE[code].title, "value": example_problem(code)}
                    for code in codes
                }
            }
        },
    }


def problems(*answers: int | type[AppError]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status it answers with a problem, its codes, an example
    of each.

    A status alone stands for every code the catalogue has at that status; an error class names
    its code, and a status given any class has exactly the codes of the classes given.
    """
    named: dict[int, list[str]] = {}
    for answer in answers:
        if not isinstance(answer, int):
            named.setdefault(answer.status, []).append(answer.code)
    statuses = sorted({answer if isinstance(answer, int) else answer.status for answer in answers})
    return {
        status: _problem_answer(
            status,
            named.get(status)
            or [code for code, entry in CATALOGUE.items() if entry.status == status],
        )
        for status in statuses
    }


def with_problems(
    responses: dict[int | str, dict[str, Any]], *answers: int | type[AppError]
) -> dict[int | str, dict[str, Any]]:
    """A route's own documented responses, then its problems (in that order in the document)."""
    return responses | problems(*answers)


def answer_example(
    value: BaseModel | Any,
    description: str,
    *,
    media_type: str = "application/json",
    links: dict[str, Any] | None = None,
    headers: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A route's own answer, documented with an example (a model as the service serialises it),
    and with the links and headers it comes with."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    answer: dict[str, Any] = {
        "description": description,
        "content": {media_type: {"example": value}},
    }
    if links:
        answer["links"] = links
    if headers:
        answer["headers"] = headers
    return answer


# Every authenticated route can answer these.
COMMON = (401, 413, 422, 429, 502, 503, 504)
# And a route that takes a JSON body, this.
WITH_BODY = (*COMMON, 415)


# Credentials that are not FastAPI security dependencies, which routes name in ``security``
# (FastAPI only lists the schemes of its own dependencies): the callback routes' (in
# app.callbacks.routes), and the event stream's ticket, the alternative to a bearer token.
SECURITY_SCHEMES: dict[str, Any] = {
    "StreamTicket": {
        "type": "apiKey",
        "in": "query",
        "name": "ticket",
        "description": "A ticket from POST /v1/orders/{order_id}/events/ticket, for clients "
        "that cannot send Authorization (EventSource).",
    },
    "InstacartClientBasic": {
        "type": "http",
        "scheme": "basic",
        "description": "Instacart's callback client id and secret (or send them in the form).",
    },
    "InstacartCallbackToken": {
        "type": "oauth2",
        "description": "A token from POST /callbacks/instacart/token.",
        "flows": {"clientCredentials": {"tokenUrl": "/callbacks/instacart/token", "scopes": {}}},
    },
}


_PROBLEM = {"$ref": "#/components/schemas/Problem"}


def problem_media_types(schema: dict[str, Any]) -> dict[str, Any]:
    """Finish FastAPI's document: problems as ``application/problem+json``, the callback schemes.

    FastAPI files a response model under the route's own media type (``application/json``, or
    ``text/event-stream`` for the event stream, where generated clients would type the error as
    ``unknown``); a problem never comes as either.
    """
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for response in operation.get("responses", {}).values():
                content = response.get("content", {})
                for media_type in [m for m in content if m != PROBLEM_CONTENT_TYPE]:
                    if content[media_type].get("schema") == _PROBLEM:
                        moved = content.pop(media_type)
                        content.setdefault(PROBLEM_CONTENT_TYPE, {}).update(moved)
    return schema


def openapi_text(schema: dict[str, Any]) -> str:
    """The document as committed in openapi/bff.json: sorted keys, indented, one final newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
