"""A fast lane for the hottest request: a slot preview with a valid token and valid query.

Slot previews are most of the storefront's traffic, and FastAPI's per-request machinery
(dependency solving, parameter-by-parameter validation) costs several times what the answer
itself does once it is cached. This pure-ASGI lane answers those requests directly with the
same pieces the documented route uses: the token verifier (and its cache of verified tokens),
``StoreId`` and ``SlotQuery.from_query_string`` for validation, the catalog for the answer and
``render`` for the response. It reads the request as the route does (the first of repeated
headers, blank query values kept), and anything it is not sure about (no bearer token, an
invalid one, an invalid query, last mile) goes on to FastAPI unchanged; errors of the answer
itself are rendered by the app's own exception handlers. tests/checkout/test_slot_lane_parity.py
holds the two to identical answers.
"""

from __future__ import annotations

import asyncio
import re
from types import SimpleNamespace
from typing import Any

from fastapi.security.utils import get_authorization_scheme_param
from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.lifespan import state_of
from app.orders.vocabulary import FulfillmentType
from app.platform.errors import AppError
from app.stores.routes import render
from app.stores.schemas import STORE_ID, SlotQuery

# The route's path, matched as Starlette matches ``{store_id}`` ([^/]+, then ``$``); the id
# itself is validated by StoreId, as the route validates it.
_SLOTS_PATH = re.compile(r"^/v1/stores/([^/]+)/slots$")
# Stands in for the route object: the request-context middleware reads its ``path`` template.
_SLOTS_ROUTE = SimpleNamespace(path="/v1/stores/{store_id}/slots")
# Validated (store id, query string) pairs remembered; cleared when full, so that cache busters
# cannot grow it without end.
_VALID_REMEMBERED = 4096


class SlotFastLane:
    def __init__(self, app: ASGIApp, *, fastapi_app: Any) -> None:
        self.app = app
        self.fastapi_app = fastapi_app
        # Parsing and validating a query string was an eighth of a warm preview's time, and the
        # storefront sends the same few all day. Only valid ones are kept.
        self._valid: dict[tuple[str, bytes], tuple[str, SlotQuery]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        match = _SLOTS_PATH.match(scope["path"])
        if match is None:
            await self.app(scope, receive, send)
            return
        # The first of each, as Starlette's Headers.get gives the route.
        authorization = if_none_match = None
        for key, value in scope["headers"]:
            if key == b"authorization":
                if authorization is None:
                    authorization = value.decode("latin-1")
            elif key == b"if-none-match" and if_none_match is None:
                if_none_match = value.decode("latin-1")
        # As FastAPI's HTTPBearer reads the header.
        scheme, token = get_authorization_scheme_param(authorization)
        if (
            not token
            or scheme.lower() != "bearer"
            or (if_none_match is not None and len(if_none_match) > 512)
        ):
            await self.app(scope, receive, send)
            return
        state = state_of(self.fastapi_app)
        request = (match.group(1), scope["query_string"])
        try:
            valid = self._valid.get(request)
            if valid is None:
                valid = self._validate(*request)
            store_id, query = valid
            principal = await state.verifier.verify(token)
        except (ValidationError, AppError):
            # Invalid input, a refused token, an identity provider that is down: the route
            # answers all of these, in one place.
            await self.app(scope, receive, send)
            return
        if FulfillmentType(query.fulfillment) is FulfillmentType.LAST_MILE:
            # Never cached (each preview holds slots for its user; see SlotCatalog.slots), so there
            # is no warm answer to hurry: the documented route answers it.
            await self.app(scope, receive, send)
            return
        scope["route"] = _SLOTS_ROUTE  # for metrics and logs by route template
        # A warm answer needs no I/O, so without this the request would never yield to the
        # event loop; at 256 connections that left some connections waiting over 2 s (wrk
        # timeouts per 10 s run fell from about 60 to 6 with this line).
        await asyncio.sleep(0)
        try:
            answer = await state.checkout.catalog.slots(principal.user_id, store_id, query)
        except Exception as exc:
            handler = self._handler_for(exc)
            if handler is None:
                raise
            response = await handler(Request(scope, receive), exc)
        else:
            response = render(answer, if_none_match)
        await response(scope, receive, send)

    def _validate(self, store_id: str, query_string: bytes) -> tuple[str, SlotQuery]:
        valid = (STORE_ID.validate_python(store_id), SlotQuery.from_query_string(query_string))
        if len(self._valid) >= _VALID_REMEMBERED:
            self._valid.clear()
        self._valid[store_id, query_string] = valid
        return valid

    def _handler_for(self, exc: Exception) -> Any:
        """The app's own handler for ``exc``, as its exception middleware would pick it.

        An unexpected error (only the catch-all ``Exception`` handler) is raised on, as it
        would be from the route, to the server-error middleware outside."""
        handlers = self.fastapi_app.exception_handlers
        for cls in type(exc).__mro__:
            if cls is Exception:
                return None
            if cls in handlers:
                return handlers[cls]
        return None
