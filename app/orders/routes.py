"""Orders of the signed-in user: place (idempotently), list, read, cancel; staff staging."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Path, Query, Response

from app.dependencies import CheckoutDep, PrincipalDep, StaffDep
from app.orders.schemas import Order, OrderPage, OrderRequest
from app.platform.errors import Forbidden, IdempotencyKeyMissing, ValidationFailed
from app.platform.problem_docs import COMMON, WITH_BODY, problems, with_problems

router = APIRouter(prefix="/v1/orders", tags=["orders"])
staff_router = APIRouter(prefix="/v1/staff/orders", tags=["staff"])

OrderId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")]
# Printable ASCII only: the key is stored and compared byte for byte.
_KEY_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F))
_KEY_LENGTH = 255

# The handler checks the key itself (400 idempotency_key_missing when absent, not FastAPI's
# 422), so FastAPI documents it as optional; the document states the rules it enforces.
_IDEMPOTENCY_KEY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": True,
    "description": "Makes retries safe: the same key and body replay the first answer. "
    "Printable ASCII without spaces (a UUID is a good choice). Missing: 400.",
    "schema": {"type": "string", "pattern": f"^[!-~]{{1,{_KEY_LENGTH}}}$"},
}


def _order_id_link(operation_id: str, pointer: str) -> dict[str, Any]:
    """An OpenAPI link passing the order id found at `pointer` of the answer."""
    return {"operationId": operation_id, "parameters": {"path.order_id": pointer}}


# An order's id leads to reading it, cancelling it and following it live.
_ORDER_LINKS = {
    "GetOrder": _order_id_link("orders-get", "$response.body#/id"),
    "CancelOrder": _order_id_link("orders-cancel", "$response.body#/id"),
    "OrderEventsTicket": _order_id_link("orders-events-ticket", "$response.body#/id"),
}
_LISTED_ORDER_LINKS = {
    "GetFirstOrder": _order_id_link("orders-get", "$response.body#/orders/0/id"),
    "CancelFirstOrder": _order_id_link("orders-cancel", "$response.body#/orders/0/id"),
}


@router.post(
    "",
    operation_id="orders-create",
    status_code=201,
    response_model=Order,
    responses=with_problems({201: {"links": _ORDER_LINKS}}, *WITH_BODY, 400, 404, 409),
    summary="Place the order for a reserved slot (requires an Idempotency-Key)",
    openapi_extra={"parameters": [_IDEMPOTENCY_KEY_PARAMETER]},
)
async def place_order(
    body: OrderRequest,
    principal: PrincipalDep,
    checkout: CheckoutDep,
    idempotency_key: Annotated[
        str | None, Header(max_length=_KEY_LENGTH, include_in_schema=False)
    ] = None,
) -> Response:
    if not idempotency_key:
        raise IdempotencyKeyMissing("Send an Idempotency-Key header (a UUID is a good choice).")
    if not set(idempotency_key) <= _KEY_CHARS:
        message = "Idempotency-Key must be printable ASCII without spaces"
        raise ValidationFailed(message, errors=[{"field": "Idempotency-Key", "message": message}])
    placed = await checkout.placement.place(principal.user_id, idempotency_key, body)
    headers = {"Idempotent-Replayed": "true"} if placed.replayed else None
    return Response(
        orjson.dumps(placed.order),
        status_code=201,
        media_type="application/json",
        headers=headers,
    )


@router.get(
    "",
    operation_id="orders-list",
    response_model=OrderPage,
    responses=with_problems({200: {"links": _LISTED_ORDER_LINKS}}, *COMMON),
    summary="The user's orders, newest first",
)
async def list_orders(
    principal: PrincipalDep,
    checkout: CheckoutDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Opaque: the `next_cursor` of the previous page. A cursor this service "
            "did not issue is 422 validation_failed.",
        ),
    ] = None,
) -> OrderPage:
    return await checkout.orders.list(principal.user_id, limit, cursor)


@router.get(
    "/{order_id}",
    operation_id="orders-get",
    response_model=Order,
    responses=with_problems({200: {"links": _ORDER_LINKS}}, *COMMON, 404),
    summary="One of the user's orders with its current status",
)
async def get_order(order_id: OrderId, principal: PrincipalDep, checkout: CheckoutDep) -> Order:
    return await checkout.orders.get(principal.user_id, order_id)


@router.post(
    "/{order_id}/cancel",
    operation_id="orders-cancel",
    response_model=Order,
    responses=problems(*COMMON, 404, 409),
    summary="Cancel the order while Instacart still allows it (status brand_new)",
)
async def cancel_order(order_id: OrderId, principal: PrincipalDep, checkout: CheckoutDep) -> Order:
    return await checkout.orders.cancel(principal.user_id, order_id)


@staff_router.post(
    "/{order_id}/stage",
    operation_id="staff-stage",
    response_model=Order,
    responses=problems(*COMMON, 403, 404, 409),
    summary="Staff: mark a last-mile order staged at the store",
)
async def stage_order(order_id: OrderId, staff: StaffDep, checkout: CheckoutDep) -> Order:
    if not staff.stores:
        raise Forbidden("this staff token names no store (its stores claim)")
    return await checkout.orders.stage(order_id, staff.stores)
