"""The demo storefront at /demo: a small shop page on the storefront API, for development only.

`create_app` includes this router only outside production, so every route here is 404 there.
The page is plain HTML, CSS and JavaScript from app/dev/static/demo (no build step, nothing
fetched from elsewhere); it calls the same /v1 routes a real storefront would, with a token
from POST /demo/token.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from app.auth.tokens import AuthConfigError, mint_token, subject_problem
from app.dev.embedded import SECRET_FILE
from app.lifespan import settings_of
from app.platform.errors import DemoTokenUnavailable, NotFound, ValidationFailed
from app.settings import Settings

STATIC = Path(__file__).resolve().parent / "static" / "demo"
# Served by name from this list only: no path from the request ever reaches the file system.
ASSETS = {"demo.css": "text/css", "demo.js": "text/javascript", "favicon.svg": "image/svg+xml"}
# Everything is same-origin; nothing inline, no framing, no third-party anything.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
TOKEN_TTL_SECONDS = 8 * 3600
_NO_CACHE = {"Cache-Control": "no-cache"}

router = APIRouter(prefix="/demo", tags=["demo"], include_in_schema=False)


class DemoTokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: Annotated[str, Field(min_length=1, max_length=64)]


class DemoToken(BaseModel):
    token: str
    user_id: str
    expires_at: dt.datetime


@router.get("")
async def demo_page() -> FileResponse:
    headers = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, **_NO_CACHE}
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=headers)


@router.get("/")
async def demo_page_slash() -> RedirectResponse:
    # Relative asset URLs resolve against /demo, so there is one canonical address.
    return RedirectResponse("/demo", status_code=308)


@router.get("/assets/{name}")
async def demo_asset(name: str) -> FileResponse:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFound(f"no demo asset named {name!r}")
    return FileResponse(STATIC / name, media_type=media_type, headers=_NO_CACHE)


def _signs_with_a_development_secret(settings: Settings) -> bool:
    """The published test secret, or the one development mode generated in the data folder
    (the settings as resolved carry it): never a secret someone configured."""
    if settings.uses_development_secret:
        return True
    secret = settings.auth_jwt_secret
    path = Path(settings.data_dir) / SECRET_FILE
    return (
        secret is not None
        and path.is_file()
        and path.read_text().strip() == secret.get_secret_value()
    )


@router.post("/token", status_code=201, response_model=DemoToken)
async def demo_token(body: DemoTokenRequest, request: Request) -> DemoToken:
    """A development token for any user name: what `python -m app token --user NAME` prints."""
    settings = settings_of(request.app)
    # Never included there; a second lock all the same, on the settings as resolved.
    if settings.environment == "production" or not _signs_with_a_development_secret(settings):
        raise NotFound("not found")
    user = body.user.strip()
    problem = subject_problem(user)
    if problem is not None:
        message = f"the user name {problem}"
        raise ValidationFailed(message, errors=[{"field": "user", "message": message}])
    try:
        token = mint_token(settings, user, ttl_seconds=TOKEN_TTL_SECONDS)
    except AuthConfigError as exc:
        # Tokens come from a JWKS identity provider here: the demo cannot sign one.
        raise DemoTokenUnavailable(str(exc)) from None
    expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=TOKEN_TTL_SECONDS)
    return DemoToken(token=token, user_id=user, expires_at=expires_at)
