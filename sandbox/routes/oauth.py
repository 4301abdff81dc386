"""generateAccessToken: client credentials in the JSON body, never in the query string."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError

from sandbox.errors import SandboxError
from sandbox.http import config_of, faults_of, state_of
from sandbox.models import TokenRequest, invalid_body
from sandbox.routes.operation import add_operation

router = APIRouter()


async def generate_access_token(request: Request, _: None) -> Any:
    # the body is parsed here, not by add_operation: credentials in the query string go first
    if "client_secret" in request.query_params or "client_id" in request.query_params:
        raise SandboxError(403, "credentials must be sent in the JSON body")
    try:
        req = TokenRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        raise invalid_body(exc, status=401) from None
    config = config_of(request)
    ok_id = secrets.compare_digest(req.client_id.encode(), config.client_id.encode())
    ok_secret = secrets.compare_digest(req.client_secret.encode(), config.client_secret.encode())
    if not (ok_id and ok_secret):
        raise SandboxError(401, "invalid client credentials")
    requested = req.scope.split()
    if not requested or any(s not in config.scopes for s in requested):
        raise SandboxError(401, "invalid scope", key="scope")
    ttl = faults_of(request).token_ttl_seconds or config.token_ttl_seconds
    token, created = state_of(request).issue_token(ttl)
    return {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": ttl,
        "scope": " ".join(requested),
        "created_at": int(created.timestamp()),
    }


add_operation(router, "generateAccessToken", "/v2/oauth/token", generate_access_token, auth=False)
