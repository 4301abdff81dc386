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

In front of the whole app (``with_hot_previews``, as ``app serve`` serves it) sits
``HotSlotPreviews``: for a preview the catalog holds in process (no I/O, so nothing can fail) it
sends ready-made bytes at once, doing itself only what the layers it skips would add to such an
answer (the request id, the duration metric, the access log). Everything else goes on unchanged,
into FastAPI and down to the lane above or the route.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import structlog
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.lifespan import state_of
from app.orders.vocabulary import FulfillmentType
from app.platform.errors import AppError
from app.platform.metrics import HTTP_SERVER_DURATION
from app.platform.middleware import access_log, request_id_for
from app.platform.server_spans import ServerSpans
from app.stores.routes import etag_matches, render
from app.stores.schemas import STORE_ID, SlotQuery
from app.stores.slot_catalog import CatalogAnswer

# The route's path, matched as Starlette matches ``{store_id}`` ([^/]+, then ``$``); the id
# itself is validated by StoreId, as the route validates it.
_SLOTS_PATH = re.compile(r"^/v1/stores/([^/]+)/slots$")
# Stands in for the route object: the request-context middleware reads its ``path`` template.
_SLOTS_ROUTE = SimpleNamespace(path="/v1/stores/{store_id}/slots")
# Validated (store id, query string) pairs remembered; cleared when full, so that cache busters
# cannot grow it without end. Shared by both lanes: validation depends on nothing but its input.
_VALID_REMEMBERED = 4096
_valid: dict[tuple[str, bytes], tuple[str, SlotQuery]] = {}
# Headers that make an answer more than the catalog's bytes (a body to cap, CORS to add): a
# request carrying one goes the whole way. A caller's traceparent does not: the hot lane runs
# inside the app's server spans when tracing is on.
_NOT_HOT = frozenset({b"content-length", b"transfer-encoding", b"origin"})


def validated(store_id: str, query_string: bytes) -> tuple[str, SlotQuery]:
    """The store id and query as the route validates them; raises as it would."""
    valid = _valid.get((store_id, query_string))
    if valid is None:
        valid = (STORE_ID.validate_python(store_id), SlotQuery.from_query_string(query_string))
        if len(_valid) >= _VALID_REMEMBERED:
            _valid.clear()
        _valid[store_id, query_string] = valid
    return valid


@dataclass(frozen=True, slots=True)
class _SlotRequest:
    """What the lanes read of a slot preview request, as Starlette would read it."""

    store_id: str
    token: str
    if_none_match: str | None
    request_id: str | None
    plain: bool  # none of _NOT_HOT


def slot_request(scope: Scope) -> _SlotRequest | None:
    """The request's parts when it is a GET of slots with a bearer token (and an If-None-Match
    the route accepts), else None: the route answers it."""
    if scope["type"] != "http" or scope["method"] != "GET":
        return None
    match = _SLOTS_PATH.match(scope["path"])
    if match is None:
        return None
    # The first of each, as Starlette's Headers.get gives the route.
    authorization = if_none_match = request_id = None
    plain = True
    for key, value in scope["headers"]:
        if key == b"authorization":
            if authorization is None:
                authorization = value.decode("latin-1")
        elif key == b"if-none-match":
            if if_none_match is None:
                if_none_match = value.decode("latin-1")
        elif key == b"x-request-id":
            if request_id is None:
                request_id = value.decode("latin-1")
        elif key in _NOT_HOT:
            plain = False
    # As FastAPI's HTTPBearer reads the header.
    scheme, token = get_authorization_scheme_param(authorization)
    if (
        not token
        or scheme.lower() != "bearer"
        or (if_none_match is not None and len(if_none_match) > 512)
    ):
        return None
    return _SlotRequest(match.group(1), token, if_none_match, request_id, plain)


class SlotFastLane:
    def __init__(self, app: ASGIApp, *, fastapi_app: Any) -> None:
        self.app = app
        self.fastapi_app = fastapi_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = slot_request(scope)
        if request is None:
            await self.app(scope, receive, send)
            return
        state = state_of(self.fastapi_app)
        try:
            # Parsing and validating a query string was an eighth of a warm preview's time, and
            # the storefront sends the same few all day: validated() remembers them.
            store_id, query = validated(request.store_id, scope["query_string"])
            principal = await state.verifier.verify(request.token)
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
            response = render(answer, request.if_none_match)
        await response(scope, receive, send)

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


# The metric's children of the two answers the hot lane gives.
_DURATION = {
    status: HTTP_SERVER_DURATION.labels("GET", _SLOTS_ROUTE.path, str(status))
    for status in (200, 304)
}
# Response starts by (status, ETag, max-age), without the request id: the same few all day.
_STARTS_REMEMBERED = 256


def with_hot_previews(app: Any) -> HotSlotPreviews:
    """The FastAPI ``app`` behind its hot lane: what the server runs."""
    return HotSlotPreviews(app, fastapi_app=app)


class HotSlotPreviews:
    """In front of the app: answers a slot preview the catalog holds in process, with ready-made
    bytes, before FastAPI's own per-request work (its telemetry checks, its error and body-limit
    layers, every middleware), none of which has anything to do for such an answer.

    The answer is byte for byte the route's: the headers ``render`` gives (Starlette's order),
    then ``X-Request-ID`` as the request context adds it; the duration metric and the access log
    line are the request context's. It skips admission control: a held preview costs less than
    the refusal would. Anything else, or any doubt, goes on to the app unchanged.
    """

    def __init__(self, app: ASGIApp, *, fastapi_app: Any) -> None:
        self.app = app
        self.fastapi_app = fastapi_app
        self._starts: dict[tuple[int, str, int], list[tuple[bytes, bytes]]] = {}
        self._traced: tuple[ServerSpans, ServerSpans] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # With tracing on, the app's server spans start out here, so that a hot answer has its
        # span too; the app's own then sees the request spanned and adds none.
        spans = self.fastapi_app.middleware_stack
        if isinstance(spans, ServerSpans):
            if self._traced is None or self._traced[0] is not spans:
                self._traced = (spans, spans.around(self._serve))
            await self._traced[1](scope, receive, send)
        else:
            await self._serve(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = slot_request(scope)
        if request is None or not request.plain:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = state_of(self.fastapi_app)
        answer = None
        try:
            store_id, query = validated(request.store_id, scope["query_string"])
            if FulfillmentType(query.fulfillment) is not FulfillmentType.LAST_MILE:
                # The token first: a preview is only ever shown to a valid one.
                await state.verifier.verify(request.token)
                answer = state.checkout.catalog.peek_slots(store_id, query)
        except (ValidationError, AppError):
            pass  # the route answers, in one place
        if answer is None:
            await self.app(scope, receive, send)
            return
        request_id = request_id_for(request.request_id)
        status = 304 if etag_matches(answer.etag, request.if_none_match) else 200
        headers = [*self._start(status, answer), (b"x-request-id", request_id.encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body if status == 200 else b""})
        elapsed = time.perf_counter() - started
        _DURATION[status].observe(elapsed)
        if state.settings.access_log:
            structlog.contextvars.bind_contextvars(request_id=request_id)
            access_log.info(
                "http.request",
                method="GET",
                route=_SLOTS_ROUTE.path,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
            structlog.contextvars.unbind_contextvars("request_id")

    def _start(self, status: int, answer: CatalogAnswer) -> list[tuple[bytes, bytes]]:
        key = (status, answer.etag, answer.max_age)
        headers = self._starts.get(key)
        if headers is None:
            # render's own response, so that the bytes cannot drift from the route's.
            headers = render(answer, answer.etag if status == 304 else None).raw_headers
            if len(self._starts) >= _STARTS_REMEMBERED:
                self._starts.clear()
            self._starts[key] = headers
        return headers
