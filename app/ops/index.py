"""`GET /`: what answers at the service's address, so that its root is not a bare 404.

A program (or a person with curl) gets a small JSON description: the service's name and version,
and where its OpenAPI document, documentation and health checks are, each only where served.
A browser in development, where the demo storefront is served, is sent on to the demo instead.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

router = APIRouter(tags=["ops"])


class ApiLinks(BaseModel):
    """Paths on this service, relative to its address."""

    openapi: str | None = Field(
        description="The OpenAPI document; null where it is not served (production publishes "
        "it with the storefront clients instead).",
        examples=["/openapi.json"],
    )
    docs: str | None = Field(
        description="The interactive documentation; null where it is not served (production).",
        examples=["/docs"],
    )
    demo: str | None = Field(
        description="The demo storefront; null where it is not served (it is in development only).",
        examples=["/demo"],
    )
    liveness: str = Field(description="Whether the process is alive.", examples=["/livez"])
    readiness: str = Field(
        description="Whether the process takes requests (503 while it drains).",
        examples=["/readyz"],
    )


class ApiIndex(BaseModel):
    """What this service is, and where to read more."""

    name: str = Field(examples=["Checkout BFF for Instacart Connect"])
    version: str = Field(description="The API's version.", examples=["1.0.0"])
    links: ApiLinks


@router.get(
    "/",
    operation_id="ops-index",
    response_model=ApiIndex,
    summary="What this service is, and where its documentation and health checks are",
    responses={
        200: {"description": "The service's name, version and links."},
        307: {
            "description": "In development, where the demo storefront is served: a browser "
            "(`Accept` naming `text/html`) is redirected to it.",
            "headers": {
                "Location": {"description": "The demo storefront.", "schema": {"type": "string"}}
            },
        },
    },
)
async def index(request: Request) -> Response | ApiIndex:
    """Needs no token. Links are paths on this service; a part that is not served (the OpenAPI
    document and documentation in production, the demo outside development) is null."""
    app = request.app
    demo: str | None = app.state.demo_path
    if demo is not None and "text/html" in request.headers.get("accept", ""):
        return RedirectResponse(demo)
    return ApiIndex(
        name=app.title,
        version=app.version,
        links=ApiLinks(
            openapi=app.openapi_url,
            docs=app.docs_url,
            demo=demo,
            liveness=str(app.url_path_for("livez")),
            readiness=str(app.url_path_for("readyz")),
        ),
    )
