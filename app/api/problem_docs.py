"""OpenAPI: the problem+json answers each route can give, and the committed document's form."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, with the service's stable ``code`` and the request id."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    request_id: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None


_DESCRIPTIONS = {
    400: "Bad request (idempotency_key_missing)",
    401: "Missing, expired or invalid token (unauthenticated)",
    403: "Staff only (forbidden)",
    404: "No such resource, or not yours (not_found)",
    409: "Conflict (slot_unavailable, reservation_expired, order_not_cancelable, ...)",
    413: "Request body too large (payload_too_large)",
    422: "Invalid request (validation_failed, idempotency_key_reused)",
    429: "Per-user rate limit (rate_limited), with Retry-After",
    502: "Instacart answered with an error the service cannot map (upstream_error)",
    503: "Instacart or a dependency is unavailable (upstream_unavailable), with Retry-After",
    504: "Instacart did not answer in time (upstream_timeout)",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status with the problem+json schema."""
    return {
        status: {
            "model": Problem,
            "description": _DESCRIPTIONS[status],
            "content": {"application/problem+json": {}},
        }
        for status in statuses
    }


# Every authenticated route can answer these.
COMMON = (401, 413, 422, 429, 502, 503, 504)


def problem_media_types(schema: dict[str, Any]) -> dict[str, Any]:
    """Document error answers as ``application/problem+json`` only, as they are sent.

    FastAPI files a response model under ``application/json``; errors never use that type.
    """
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if str(status).isdigit() and int(status) >= 400 and "application/json" in content:
                    content["application/problem+json"] = content.pop("application/json")
    return schema


def openapi_text(schema: dict[str, Any]) -> str:
    """The document as committed in openapi/bff.json: sorted keys, indented, one final newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
