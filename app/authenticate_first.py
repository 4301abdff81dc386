"""Authentication before the body: a storefront write with no valid bearer token is answered 401
before a byte of its body is read, so an anonymous client cannot hold a request open by sending
a slow body, nor have it parsed (a 422 would also tell it about the API).

The routes authenticate again through their dependency (app/dependencies.py); the verifier's
cache makes the second check a dictionary lookup.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.security.utils import get_authorization_scheme_param
from starlette.types import ASGIApp, Receive, Scope, Send

from app.lifespan import state_of
from app.platform.errors import Unauthenticated
from app.platform.middleware import header
from app.platform.problems import app_error_response


class AuthenticateFirst:
    """Pure ASGI: POSTs under /v1/ need a valid bearer token before the app reads the body."""

    def __init__(self, app: ASGIApp, *, fastapi_app: FastAPI) -> None:
        self.app = app
        self.fastapi_app = fastapi_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not scope.get("path", "").startswith("/v1/")
        ):
            await self.app(scope, receive, send)
            return
        scheme, token = get_authorization_scheme_param(header(scope, b"authorization"))
        try:
            if not token or scheme.lower() != "bearer":
                raise Unauthenticated("a bearer token is required")
            await state_of(self.fastapi_app).verifier.verify(token)
        except Unauthenticated as exc:
            await app_error_response(exc, scope.get("path"))(scope, receive, send)
            return
        await self.app(scope, receive, send)
