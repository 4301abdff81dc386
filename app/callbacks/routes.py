"""Instacart's side door in: its OAuth token endpoint and the callback receiver.

The token endpoint speaks OAuth 2.0 (RFC 6749 section 4.4, client credentials), errors
included, since Instacart's OAuth client expects that form; the receiver speaks problem+json
like every other route.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal
from urllib.parse import unquote

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, WithJsonSchema
from starlette.datastructures import FormData

from app.callbacks.inbox import CallbackEventIn
from app.lifespan import state_of
from app.platform.client_address import client_address
from app.platform.errors import Unauthenticated
from app.platform.metrics import CALLBACKS
from app.platform.problem_docs import answer_example, problems, with_problems

router = APIRouter(prefix="/callbacks/instacart", tags=["callbacks"])

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_FORM = "application/x-www-form-urlencoded"


class CallbackToken(BaseModel):
    """An access token for POST /callbacks/instacart (RFC 6749 section 5.1)."""

    access_token: str = Field(description="Send it as `Authorization: Bearer <token>`.")
    token_type: str = Field(default="Bearer", description="Always `Bearer`.")
    expires_in: int = Field(description="Seconds until the token expires.", examples=[3600])


class CallbackEvent(CallbackEventIn):
    """One callback as Instacart sends it; fields it may add later are kept, not refused."""

    # The server takes any BIGINT (up to 2**63 - 1); the document says 2**53 - 1, the largest
    # integer JSON tools that read numbers as doubles (JavaScript, schemathesis) hold exactly.
    # Near 2**63 they cannot tell a bound from its neighbours, and FastAPI's OpenAPI model
    # writes bounds as floats anyway (2**63 - 1 came out as 2**63).
    event_id: Annotated[
        int,
        Field(ge=0, le=2**63 - 1),
        WithJsonSchema(
            {
                "type": "integer",
                "minimum": 0,
                "maximum": 2**53 - 1,
                "description": "Instacart's id of the event: a repeat is stored once.",
            }
        ),
    ]


class CallbackAck(BaseModel):
    """The receiver's answer: the event is kept."""

    status: Literal["accepted", "duplicate"] = Field(
        description="`accepted`: stored, applied in the background; `duplicate`: this "
        "`event_id` was stored before."
    )


class OAuthError(BaseModel):
    """RFC 6749 section 5.2."""

    error: Literal["invalid_request", "invalid_client", "unsupported_grant_type"] = Field(
        description="RFC 6749's error code."
    )
    error_description: str = Field(description="What was wrong, in words.")


# The handler reads the form itself (so that its errors are OAuth's, not FastAPI's 422); the
# document states what it accepts. Credentials go in the form or in HTTP Basic, not both.
_TOKEN_REQUEST = {
    "requestBody": {
        "required": True,
        "content": {
            _FORM: {
                "schema": {
                    "type": "object",
                    "required": ["grant_type"],
                    "properties": {
                        "grant_type": {
                            "const": "client_credentials",
                            "description": "Always `client_credentials`.",
                        },
                        "client_id": {
                            "type": "string",
                            "description": "Instacart's callback client id, unless sent with "
                            "HTTP Basic.",
                        },
                        "client_secret": {
                            "type": "string",
                            "description": "Its secret, unless sent with HTTP Basic.",
                        },
                    },
                },
                "example": {
                    "grant_type": "client_credentials",
                    "client_id": "instacart-callbacks",
                    "client_secret": "s3cr3t-from-the-retailer",
                },
            }
        },
    },
    "security": [{"InstacartClientBasic": []}, {}],
}
_OAUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": OAuthError}
    | answer_example(
        OAuthError(error="invalid_request", error_description="grant_type is required"),
        "invalid_request, unsupported_grant_type",
    ),
    401: {"model": OAuthError}
    | answer_example(
        OAuthError(error="invalid_client", error_description="unknown client"),
        "invalid_client (unknown client or secret)",
    ),
}
_EXAMPLE_TOKEN = CallbackToken(access_token="cbt_9fQ2kVx7LmN4pR8sT1wY6zA3", expires_in=3600)
_EXAMPLE_EVENTS = {
    "status": {
        "summary": "An order's status changed",
        "value": {
            "event_id": 90017,
            "event_name": "fulfillment.picking",
            "event_timestamp": "2026-11-25T18:35:02Z",
            "event_metadata": {"order_id": "ord_FqGAtr4HhCa2hS4F27D4"},
            "retailer_id": "bayside-market",
        },
    }
}
# Instacart's bearer token from the endpoint above, not a user's JWT.
_CALLBACK_SECURITY: dict[str, Any] = {"security": [{"InstacartCallbackToken": []}]}


def _oauth_error(status: int, error: str, description: str, *, basic: bool = False) -> Any:
    headers = dict(_NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="instacart-callbacks"' if basic else "Basic"
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=headers
    )


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(client_id, client_secret) from `Authorization: Basic ...`, form-decoded (RFC 6749 2.3.1)."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        raw = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")
    client_id, _, secret = raw.partition(":")
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))


async def _read_form(request: Request) -> FormData | None:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != _FORM:
        return None
    try:
        return await request.form(max_files=0, max_fields=20)
    except Exception:  # a body the form parser cannot read is a malformed request
        return None


@router.post(
    "/token",
    operation_id="callbacks-token",
    response_model=CallbackToken,
    summary="OAuth 2.0 token endpoint for Instacart's callbacks (client credentials)",
    description="For Instacart, not storefronts: Instacart's OAuth client gets the token it "
    "sends its callbacks with, with the client id and secret the retailer gave it "
    "(`BFF_CALLBACK_CLIENT_ID`, `BFF_CALLBACK_CLIENT_SECRET`). Errors are OAuth's (RFC 6749 "
    "section 5.2), not problems; repeated wrong secrets from one source are refused for a "
    "while (429).",
    responses={200: answer_example(_EXAMPLE_TOKEN, "The token")}
    | _OAUTH_ERRORS
    | problems(413, 429),
    openapi_extra=_TOKEN_REQUEST,
)
async def issue_token(request: Request) -> Any:
    form = await _read_form(request)
    if form is None:
        return _oauth_error(400, "invalid_request", f"the body must be {_FORM}")
    grant_type = form.get("grant_type")
    if not isinstance(grant_type, str) or not grant_type:
        return _oauth_error(400, "invalid_request", "grant_type is required")
    if grant_type != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "only client_credentials is supported")
    basic = _basic_credentials(request.headers.get("authorization"))
    in_form = form.get("client_id"), form.get("client_secret")
    if basic is not None and any(in_form):
        return _oauth_error(400, "invalid_request", "send the credentials one way, not two")
    client_id, secret = basic or (str(in_form[0] or ""), str(in_form[1] or ""))
    state = state_of(request.app)
    # Only failures count, per client id and source address: someone else's wrong guesses
    # never lock Instacart out, and a source over its limit is refused before its guess is
    # even checked.
    failures = f"{client_id[:128] or '-'}|{client_address(request, state.settings)}"
    await state.callback_token_limiter.check(failures)
    if not state.callback_tokens.credentials_match(client_id, secret):
        await state.callback_token_limiter.hit(failures)
        return _oauth_error(401, "invalid_client", "unknown client", basic=basic is not None)
    issued = await state.callback_tokens.issue()
    body = CallbackToken(access_token=issued.access_token, expires_in=issued.expires_in)
    return JSONResponse(body.model_dump(), headers=_NO_STORE)


async def instacart_caller(request: Request) -> None:
    """The callback carries a bearer token this service issued; otherwise 401, nothing stored."""
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not await state_of(request.app).callback_tokens.accepts(
        token.strip()
    ):
        CALLBACKS.labels("unknown", "unauthorized").inc()
        raise Unauthenticated("a callback token from /callbacks/instacart/token is required")


@router.post(
    "",
    operation_id="callbacks-receive",
    response_model=CallbackAck,
    responses=with_problems(
        {200: answer_example(CallbackAck(status="accepted"), "Stored")}, 401, 413, 422, 503
    ),
    summary="Receive one of Instacart's order callbacks",
    description="For Instacart, not storefronts. Each event is stored once (by `event_id`) "
    "and answered at once; it is applied in the background, in the order of the events' "
    "timestamps, and an order's customer sees the change on its event stream.",
    openapi_extra=_CALLBACK_SECURITY,
)
async def receive(
    event: Annotated[CallbackEvent, Body(openapi_examples=_EXAMPLE_EVENTS)],
    request: Request,
    _: Annotated[None, Depends(instacart_caller)],
) -> CallbackAck:
    stored = await state_of(request.app).callback_inbox.receive(event)
    return CallbackAck(status="accepted" if stored else "duplicate")
