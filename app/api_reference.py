"""The API reference as the service presents it: the document's front page and tags, and the
interactive documentation (/docs, /redoc) served from assets the service holds itself.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so they are blank without internet
and tell a third party who reads the reference. fastapi-offline ships those files in its wheel;
they are served here under /docs/assets. Production serves neither the pages nor the document
(it is published with the clients, openapi/bff.json).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

# The package of the documentation's scripts, styles and icon (requirements.lock pins it).
DOCS_PACKAGE = "fastapi-offline"
ASSETS_PATH = "/docs/assets"

TITLE = "Checkout BFF for Instacart Connect"
VERSION = "1.0.0"

DESCRIPTION = """\
The checkout API of the retailer's storefront (web and mobile apps), in front of Instacart \
Connect: stores and their time slots, a slot held, the order placed, its status followed.

**Authentication.** Every `/v1` route but the error catalogue takes \
`Authorization: Bearer <JWT>` from the retailer's identity provider; its `sub` is the user. \
A user sees only their own orders: another user's is 404, never 403.

**A checkout.** `GET /v1/stores` (stores near the customer), \
`GET /v1/stores/{store_id}/slots` (their windows), `POST /v1/reservations` (hold one for ten \
minutes), `POST /v1/orders` with a fresh `Idempotency-Key` (place the order; retry with the \
same key, never a new one), then `GET /v1/orders/{order_id}` or its event stream \
(`GET /v1/orders/{order_id}/events`) for the status. Each answer's links name the next step.

**Store time.** Stores and slots carry the store's IANA `time_zone`, and slot times its UTC \
offset: show them in the store's zone, never the device's.

**Errors** are `application/problem+json` (the `Problem` schema): branch on `code`. \
`ProblemCode` lists every code with what to do; each problem's `type` leads to the code's \
entry, served at `/v1/errors/{code}`. `param` names the parameter at fault and `request_id` \
(also the `X-Request-ID` header) finds the request in the logs. 429 and 503 carry \
`Retry-After`.

**Statuses.** `OrderStatus` lists every status an order shows, with what each means; it is \
open (Instacart adds statuses), and the schema says what to do with one not listed. Show \
the cancel button by `cancelable`, not by the status.

**Clients.** TypeScript types and a typed wrapper are generated from this document \
(`clients/typescript`; `docs/api.md` in the repository).
"""

TAGS: list[dict[str, Any]] = [
    {"name": "stores", "description": "Stores near the customer and their time slots."},
    {"name": "reservations", "description": "A slot held for ten minutes while the cart ends."},
    {
        "name": "orders",
        "description": "Placing an order (idempotently), the user's orders, cancelling; store "
        "staff stage last-mile orders.",
    },
    {
        "name": "live status",
        "description": "An order's status as it changes, as Server-Sent Events, and the "
        "tickets that open a stream from a browser's EventSource.",
    },
    {
        "name": "errors",
        "description": "The error catalogue: every problem `code`, when it happens and what to "
        "do. Each problem's `type` leads here.",
    },
    {
        "name": "operations",
        "description": "Probes for Kubernetes and operators, not for storefronts.",
    },
    {
        "name": "callbacks",
        "description": "Instacart's way in: its OAuth token endpoint and the order callbacks. "
        "Not for storefronts.",
    },
]

# Swagger UI would send the document's URL to its public validator for a badge.
_SWAGGER_UI = {"validatorUrl": None, "displayOperationId": True}


async def _without_assets() -> HTMLResponse:
    """/docs and /redoc where the assets' package is missing: what to install, and the document."""
    return HTMLResponse(
        '<!doctype html><html lang="en"><meta charset="utf-8"><title>API reference</title>'
        f"<h1>{TITLE}</h1><p>The interactive reference needs the Python package "
        f"<code>{DOCS_PACKAGE}</code> (requirements.lock), which is not installed here. The "
        'document itself: <a href="/openapi.json">/openapi.json</a>.</p></html>'
    )


def _offline_app() -> Callable[..., FastAPI] | None:
    """fastapi-offline's app factory, or None where the package is not installed."""
    try:
        # The ignore is for a checker run where the package is not installed yet.
        from fastapi_offline import FastAPIOffline  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    factory: Callable[..., FastAPI] = FastAPIOffline
    return factory


def new_app(*, public_docs: bool, **options: Any) -> FastAPI:
    """The FastAPI app with the reference's front matter; with ``public_docs`` the document
    and its pages, whose every script and style the service serves itself."""
    front: dict[str, Any] = {
        "title": TITLE,
        "version": VERSION,
        "description": DESCRIPTION,
        "openapi_tags": TAGS,
        **options,
    }
    if not public_docs:
        return FastAPI(docs_url=None, redoc_url=None, openapi_url=None, **front)
    offline_app = _offline_app()
    if offline_app is None:
        # Better a plain page than pages that load a CDN: the document is still served.
        app = FastAPI(docs_url=None, redoc_url=None, **front)
        for path in ("/docs", "/redoc"):
            app.add_api_route(path, _without_assets, include_in_schema=False)
        return app
    return offline_app(
        docs_url="/docs",
        redoc_url="/redoc",
        static_url=ASSETS_PATH,
        swagger_ui_parameters=_SWAGGER_UI,
        **front,
    )
