"""`GET /`: what answers at the service's address, so that its root is not a bare 404.

A program (or a person with curl) gets a small JSON description: the service's name and version,
and where its OpenAPI document, documentation and health checks are, each only where served.
A browser in development, where the demo storefront is served, is sent on to the demo instead.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from app.platform.problem_docs import answer_example

router = APIRouter(tags=["operations"])


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

    name: str = Field(
        description="The service's name.", examples=["Checkout BFF for Instacart Connect"]
    )
    version: str = Field(description="The API's version.", examples=["1.0.0"])
    links: ApiLinks = Field(description="Where the documentation and the health checks are.")


@router.get(
    "/",
    operation_id="ops-index",
    response_model=ApiIndex,
    summary="What this service is, and where its documentation and health checks are",
    responses={
        200: answer_example(
            ApiIndex(
                name="Checkout BFF for Instacart Connect",
                version="1.0.0",
                links=ApiLinks(
                    openapi="/openapi.json",
                    docs="/docs",
                    demo="/demo",
                    liveness="/livez",
                    readiness="/readyz",
                ),
            ),
            "The service's name, version and links (in development; production links only its "
            "health checks, the others null)",
        ),
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
            # fastapi-offline serves the pages as routes of its own, not through docs_url
            docs=_served_path(app, "/docs"),
            demo=demo,
            liveness=str(app.url_path_for("livez")),
            readiness=str(app.url_path_for("readyz")),
        ),
    )


def _served_path(app: FastAPI, path: str) -> str | None:
    return path if any(getattr(route, "path", None) == path for route in app.routes) else None
