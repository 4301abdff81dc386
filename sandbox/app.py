"""The sandbox's HTTP layer: the Instacart Connect routes and the /sandbox control routes.

Every specification operation runs through `_operation`, which counts the call, applies the
configured faults, checks the bearer token, parses the body strictly and turns refusals into
the specification's error body `{"error": "<message>", "status": <int>}`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from sandbox import data
from sandbox.callbacks import CallbackSender
from sandbox.config import SandboxConfig
from sandbox.data import DELIVERY, LAST_MILE, PICKUP
from sandbox.faults import CREATE_OPERATIONS, FaultPlan, Faults
from sandbox.models import (
    AdvanceRequest,
    CreateOrderRequest,
    FaultsConfig,
    FindStoresRequest,
    PreviewServiceOptionsRequest,
    ReserveTimeSlotRequest,
    TokenRequest,
    describe,
)
from sandbox.state import RESERVED_ORDER_IDS, SandboxError, SandboxState

log = logging.getLogger("sandbox")

# operationIds of the specification, plus the pickup hold the sandbox adds (UPSTREAM.md 2.2)
OPERATION_IDS = (
    "generateAccessToken",
    "findDeliveryStores",
    "findPickupStores",
    "findLastMileStores",
    "previewDeliveryTimeSlots",
    "previewPickupTimeSlots",
    "reserveDeliveryTimeSlot",
    "reservePickupTimeSlot",
    "createDeliveryOrder",
    "createPickupOrder",
    "getOrder",
    "cancelOrder",
    "previewLastMileServiceOptions",
    "createLastMileOrder",
    "stageLastMileOrder",
)

INVALID_TOKEN_HEADERS = {"WWW-Authenticate": 'Bearer error="invalid_token"'}

Handler = Callable[[Request, Any], Awaitable[Any]]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, headers=headers, media_type="application/json"
    )


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": message, "status": status}, status, headers)


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


async def _wait(request: Request, seconds: float) -> None:
    """Sleeps for `seconds`, or until the client goes away."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        await asyncio.sleep(min(left, 0.25))
        if await request.is_disconnected():
            return


def create_sandbox_app(config: SandboxConfig | None = None) -> FastAPI:
    """A new sandbox with its own state, ready for uvicorn or `httpx.ASGITransport`."""
    config = config or SandboxConfig()
    state = SandboxState(config)
    faults = Faults(config.seed, config.default_hang_seconds)

    # callbacks start with the first status change, so in-process tests need no lifespan
    sender = CallbackSender(config, state) if config.callback_url else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if sender is not None:
                await sender.stop()

    app = FastAPI(
        title="Instacart Connect sandbox",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.sandbox = state
    app.state.faults = faults
    app.state.config = config
    app.state.callbacks = sender

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = {404: "not found", 405: "method not allowed"}.get(
            exc.status_code, str(exc.detail)
        )
        return error_response(exc.status_code, message, dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return error_response(400, "invalid request")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("sandbox.unexpected_error path=%s", request.url.path)
        return error_response(500, "internal sandbox error")

    async def _apply_plan(request: Request, op: str, plan: FaultPlan) -> Response | None:
        if plan.latency_seconds:
            await asyncio.sleep(plan.latency_seconds)
        if plan.hang_seconds is not None:
            log.info("sandbox.fault op=%s kind=hang", op)
            await _wait(request, plan.hang_seconds)
            return error_response(503, "sandbox fault: hang")
        if plan.error_status is not None:
            log.info(
                "sandbox.fault op=%s kind=%s status=%s", op, plan.error_reason, plan.error_status
            )
            return error_response(plan.error_status, f"sandbox fault: {plan.error_reason}")
        return None

    def operation(
        op: str,
        path: str,
        *,
        method: str = "POST",
        body: type[BaseModel] | None = None,
        auth: bool = True,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            async def endpoint(request: Request) -> Response:
                state.record_call(op)
                try:
                    response = await run(request)
                except SandboxError as exc:
                    response = error_response(exc.status, exc.message)
                state.record_status(op, response.status_code)
                log.info("sandbox.call op=%s status=%s", op, response.status_code)
                return response

            async def run(request: Request) -> Response:
                plan = faults.plan(op)
                if (failed := await _apply_plan(request, op, plan)) is not None:
                    return failed
                if auth:
                    token = _bearer(request)
                    if token is None:
                        return error_response(
                            401, "missing bearer token", {"WWW-Authenticate": "Bearer"}
                        )
                    if not state.token_valid(token):
                        return error_response(
                            401, "invalid or expired token", INVALID_TOKEN_HEADERS
                        )
                parsed = None
                if body is not None:
                    try:
                        parsed = body.model_validate_json(await request.body())
                    except ValidationError as exc:
                        raise SandboxError(400, describe(exc)) from None
                result = await handler(request, parsed)
                if isinstance(result, Response):
                    return result
                if plan.hang_after_create_seconds is not None:
                    log.info("sandbox.fault op=%s kind=hang_after_create", op)
                    await _wait(request, plan.hang_after_create_seconds)
                return json_response(result)

            endpoint.__name__ = op
            app.add_api_route(
                path, endpoint, methods=[method], operation_id=op, include_in_schema=False
            )
            return handler

        return register

    # ---- authentication ------------------------------------------------------------------

    # the body is parsed in the handler: credentials in the query string are refused first
    @operation("generateAccessToken", "/v2/oauth/token", auth=False)
    async def generate_access_token(request: Request, _: None) -> Any:
        if "client_secret" in request.query_params or "client_id" in request.query_params:
            return error_response(403, "credentials must be sent in the JSON body")
        try:
            req = TokenRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            raise SandboxError(401, describe(exc)) from None
        ok_id = secrets.compare_digest(req.client_id.encode(), config.client_id.encode())
        ok_secret = secrets.compare_digest(
            req.client_secret.encode(), config.client_secret.encode()
        )
        if not (ok_id and ok_secret):
            raise SandboxError(401, "invalid client credentials")
        requested = req.scope.split()
        if not requested or any(s not in config.scopes for s in requested):
            raise SandboxError(401, "invalid scope")
        ttl = faults.token_ttl_seconds or config.token_ttl_seconds
        token, created = state.issue_token(ttl)
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": ttl,
            "scope": " ".join(requested),
            "created_at": int(created.timestamp()),
        }

    # ---- stores --------------------------------------------------------------------------

    def stores_route(op: str, fulfillment_type: str) -> None:
        @operation(op, f"/v2/fulfillment/stores/{fulfillment_type}", body=FindStoresRequest)
        async def find_stores(request: Request, req: FindStoresRequest) -> Any:
            return {"stores": state.find_stores(fulfillment_type, req)}

    stores_route("findDeliveryStores", DELIVERY)
    stores_route("findPickupStores", PICKUP)
    stores_route("findLastMileStores", LAST_MILE)

    # ---- slots and holds -----------------------------------------------------------------

    def preview_route(op: str, path: str, fulfillment_type: str) -> None:
        @operation(op, path, body=PreviewServiceOptionsRequest)
        async def preview(request: Request, req: PreviewServiceOptionsRequest) -> Any:
            user_id = request.path_params["user_id"]
            return {"service_options": state.preview(fulfillment_type, user_id, req)}

    users = "/v2/fulfillment/users/{user_id}"
    preview_route("previewDeliveryTimeSlots", f"{users}/service_options/delivery", DELIVERY)
    preview_route("previewPickupTimeSlots", f"{users}/service_options/pickup", PICKUP)
    preview_route(
        "previewLastMileServiceOptions",
        "/v2/fulfillment/lastmile/users/{user_id}/service_options",
        LAST_MILE,
    )

    def hold_route(op: str, fulfillment_type: str) -> None:
        path = f"{users}/service_options/{fulfillment_type}/hold"

        @operation(op, path, body=ReserveTimeSlotRequest)
        async def reserve(request: Request, req: ReserveTimeSlotRequest) -> Any:
            return state.reserve(fulfillment_type, request.path_params["user_id"], req)

    hold_route("reserveDeliveryTimeSlot", DELIVERY)
    hold_route("reservePickupTimeSlot", PICKUP)

    # ---- orders --------------------------------------------------------------------------

    def create_route(op: str, path: str, fulfillment_type: str) -> None:
        @operation(op, path, body=CreateOrderRequest)
        async def create(request: Request, req: CreateOrderRequest) -> Any:
            return state.create_order(fulfillment_type, request.path_params["user_id"], req)

    create_route("createDeliveryOrder", f"{users}/orders/delivery", DELIVERY)
    create_route("createPickupOrder", f"{users}/orders/pickup", PICKUP)
    create_route(
        "createLastMileOrder", "/v2/fulfillment/lastmile/users/{user_id}/orders", LAST_MILE
    )

    # GET .../orders/delivery names the create route's path, not an order: answer like a router
    for reserved in sorted(RESERVED_ORDER_IDS):

        async def not_allowed(request: Request) -> Response:
            return error_response(405, "method not allowed", {"Allow": "POST"})

        app.add_api_route(
            f"{users}/orders/{reserved}",
            not_allowed,
            methods=["GET", "PUT", "PATCH", "DELETE", "OPTIONS"],
            include_in_schema=False,
        )

    get_order_path = f"{users}/orders/{{order_id}}"

    @operation("getOrder", get_order_path, method="GET")
    async def get_order(request: Request, _: None) -> Any:
        p = request.path_params
        return state.get_order(p["user_id"], p["order_id"])

    @operation("cancelOrder", f"{users}/orders/{{order_id}}/cancel")
    async def cancel_order(request: Request, _: None) -> Any:
        p = request.path_params
        return state.cancel_order(p["user_id"], p["order_id"])

    @operation("stageLastMileOrder", "/v2/fulfillment/lastmile/orders/{order_id}/staged")
    async def stage_order(request: Request, _: None) -> Any:
        return state.stage_order(request.path_params["order_id"])

    # ---- control routes (not part of the Instacart contract) -----------------------------

    async def control_body(request: Request, model: type[BaseModel]) -> Any:
        raw = await request.body()
        try:
            return model.model_validate_json(raw or b"{}")
        except ValidationError as exc:
            raise SandboxError(400, describe(exc)) from None

    def control(path: str, method: str) -> Callable[[Callable[..., Any]], Any]:
        def register(fn: Callable[[Request], Awaitable[Any]]) -> Any:
            async def endpoint(request: Request) -> Response:
                try:
                    result = await fn(request)
                except SandboxError as exc:
                    return error_response(exc.status, exc.message)
                return json_response(result)

            endpoint.__name__ = fn.__name__
            app.add_api_route(path, endpoint, methods=[method], include_in_schema=False)
            return fn

        return register

    @control("/sandbox/reset", "POST")
    async def reset(request: Request) -> Any:
        state.reset()
        faults.clear()
        log.info("sandbox.reset")
        return {"reset": True}

    @control("/sandbox/catalog", "GET")
    async def catalog(request: Request) -> Any:
        return {
            "products": [
                {"product_id": p.product_id, "upc": p.upc, "name": p.name} for p in data.PRODUCTS
            ],
            "stores": [
                {
                    "id": s.id,
                    "name": s.name,
                    "metro": s.metro,
                    "fulfillment_types": list(s.fulfillment_types),
                    "latitude": s.latitude,
                    "longitude": s.longitude,
                    "address": {
                        "address_line_1": s.address_line_1,
                        "city": s.city,
                        "state": s.state,
                        "postal_code": s.postal_code,
                    },
                }
                for s in data.STORES
            ],
            "postal_codes": {
                code: {"latitude": lat, "longitude": lon}
                for code, (lat, lon) in data.POSTAL_CODES.items()
            },
            "slot_capacity": config.slot_capacity,
        }

    @control("/sandbox/stats", "GET")
    async def stats(request: Request) -> Any:
        return state.stats()

    @control("/sandbox/orders/{order_id}/advance", "POST")
    async def advance(request: Request) -> Any:
        req = await control_body(request, AdvanceRequest)
        return state.advance_order(request.path_params["order_id"], req.status)

    @control("/sandbox/faults", "GET")
    async def get_faults(request: Request) -> Any:
        return faults.as_json()

    @control("/sandbox/faults", "PUT")
    async def put_faults(request: Request) -> Any:
        req: FaultsConfig = await control_body(request, FaultsConfig)
        for op, spec in req.operations.items():
            if op != "*" and op not in OPERATION_IDS:
                raise SandboxError(400, f"unknown operationId {op}")
            if spec.hang_after_create and op != "*" and op not in CREATE_OPERATIONS:
                raise SandboxError(400, f"hang_after_create applies to order creation, not {op}")
        faults.set(req)
        log.info("sandbox.faults.set operations=%s", ",".join(sorted(req.operations)))
        return faults.as_json()

    @control("/sandbox/faults", "DELETE")
    async def delete_faults(request: Request) -> Any:
        faults.clear()
        return faults.as_json()

    @control("/sandbox/tokens/revoke", "POST")
    async def revoke_tokens(request: Request) -> Any:
        return {"revoked": state.revoke_tokens()}

    @control("/sandbox/callbacks", "GET")
    async def callbacks(request: Request) -> Any:
        sender = app.state.callbacks
        return sender.summary() if sender is not None else {"enabled": False}

    return app
