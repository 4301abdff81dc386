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


def with_problems(
    responses: dict[int | str, dict[str, Any]], *statuses: int
) -> dict[int | str, dict[str, Any]]:
    """A route's own documented responses, then its problems (in that order in the document)."""
    return responses | problems(*statuses)


# Every authenticated route can answer these.
COMMON = (401, 413, 422, 429, 502, 503, 504)


# The callback routes' credentials (app.callbacks.routes): routes name them in ``security``, and
# FastAPI only lists the schemes of its own security dependencies.
SECURITY_SCHEMES: dict[str, Any] = {
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


# The OAuth token endpoint answers its errors as RFC 6749 says: application/json.
_OAUTH_ERROR = {"$ref": "#/components/schemas/OAuthError"}


def problem_media_types(schema: dict[str, Any]) -> dict[str, Any]:
    """Finish FastAPI's document: errors as ``application/problem+json``, the callback schemes.

    FastAPI files a response model under ``application/json``; errors never use that type.
    """
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                json_content = content.get("application/json")
                if (
                    str(status).isdigit()
                    and int(status) >= 400
                    and json_content is not None
                    and json_content.get("schema") != _OAUTH_ERROR
                ):
                    content["application/problem+json"] = content.pop("application/json")
    return schema


def openapi_text(schema: dict[str, Any]) -> str:
    """The document as committed in openapi/bff.json: sorted keys, indented, one final newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
