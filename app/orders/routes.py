"""Orders of the signed-in user: place (idempotently), list, read, cancel; staff staging."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Header, Path, Query, Response

from app.dependencies import CheckoutDep, PrincipalDep, StaffDep
from app.orders.schemas import (
    EXAMPLE_ORDER_REQUEST,
    Order,
    OrderPage,
    OrderRequest,
    example_order,
)
from app.orders.vocabulary import FulfillmentType, OrderStatus
from app.platform.errors import (
    Forbidden,
    IdempotencyKeyMissing,
    IdempotencyKeyReused,
    NotFound,
    OrderNotCancelable,
    OrderNotStageable,
    RequestInProgress,
    ReservationExpired,
    ReservationNotFound,
    ReservationUsed,
    SlotUnavailable,
    ValidationFailed,
)
from app.platform.problem_docs import COMMON, WITH_BODY, answer_example, with_problems

router = APIRouter(prefix="/v1/orders", tags=["orders"])
staff_router = APIRouter(prefix="/v1/staff/orders", tags=["orders"])

OrderId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9._:\-]+$",
        description="An order's `id`, as placing it answered.",
        examples=["ord_FqGAtr4HhCa2hS4F27D4"],
    ),
]
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


_REPLAYED = {
    "Idempotent-Replayed": {
        "description": "`true` when the answer replays the first request with this key "
        "(nothing was placed again); absent otherwise.",
        "schema": {"type": "string", "enum": ["true"]},
    }
}
_ORDER_EXAMPLES = {
    "delivery": {
        "summary": "A delivery of two products, one named by UPC, one by product id",
        "value": EXAMPLE_ORDER_REQUEST.model_dump(mode="json", exclude_none=True),
    }
}

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
    responses=with_problems(
        {
            201: answer_example(
                example_order(OrderStatus.BRAND_NEW),
                "The order, placed (or the first answer again, on a replay)",
                links=_ORDER_LINKS,
                headers=_REPLAYED,
            )
        },
        *WITH_BODY,
        IdempotencyKeyMissing,
        ReservationNotFound,
        ReservationExpired,
        ReservationUsed,
        SlotUnavailable,
        RequestInProgress,
        ValidationFailed,
        IdempotencyKeyReused,
    ),
    summary="Place the order for a reserved slot (requires an Idempotency-Key)",
    description="Places the order with Instacart for the slot the reservation holds. Send a "
    "new `Idempotency-Key` (a UUID) for each checkout attempt and the same key when retrying "
    "it: the same key and body answer the first outcome again (`Idempotent-Replayed: true`) "
    "and never order twice; the same key with another body is 422 `idempotency_key_reused`; "
    "a retry while the first is still running is 409 `request_in_progress`. After a 503 or "
    "504, retry with the same key: the service settles with Instacart whether the order was "
    "placed, never by placing it again. A reservation already used by one of the user's "
    "orders is 409 `reservation_used` naming that order (`order_id`).",
    openapi_extra={"parameters": [_IDEMPOTENCY_KEY_PARAMETER]},
)
async def place_order(
    body: Annotated[OrderRequest, Body(openapi_examples=_ORDER_EXAMPLES)],
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
    responses=with_problems(
        {
            200: answer_example(
                OrderPage(orders=[example_order(OrderStatus.DELIVERED, minutes=140)]),
                "A page of orders",
                links=_LISTED_ORDER_LINKS,
            )
        },
        *COMMON,
    ),
    summary="The user's orders, newest first",
    description="The signed-in user's orders, from the service's own records (no call to "
    "Instacart), newest first, a page at a time: follow `next_cursor` until it is null.",
)
async def list_orders(
    principal: PrincipalDep,
    checkout: CheckoutDep,
    limit: Annotated[int, Query(ge=1, le=100, description="Orders per page.")] = 20,
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
    responses=with_problems(
        {
            200: answer_example(
                example_order(OrderStatus.PICKING, minutes=35),
                "The order",
                links=_ORDER_LINKS,
            )
        },
        *COMMON,
        NotFound,
    ),
    summary="One of the user's orders with its current status",
    description="The order as the service knows it now (Instacart's callbacks keep it "
    "current). Another user's order is 404, never 403. To follow the status as it changes, "
    "use the event stream rather than polling.",
)
async def get_order(order_id: OrderId, principal: PrincipalDep, checkout: CheckoutDep) -> Order:
    return await checkout.orders.get(principal.user_id, order_id)


@router.post(
    "/{order_id}/cancel",
    operation_id="orders-cancel",
    response_model=Order,
    responses=with_problems(
        {
            200: answer_example(
                example_order(OrderStatus.CANCELED, minutes=2), "The order, canceled"
            )
        },
        *COMMON,
        NotFound,
        OrderNotCancelable,
    ),
    summary="Cancel the order while Instacart still allows it",
    description="Cancels the order with Instacart. Only an order whose `cancelable` is true "
    "can be (Instacart cancels only until a shopper takes it); otherwise 409 "
    "`order_not_cancelable`: show the order's status instead.",
)
async def cancel_order(order_id: OrderId, principal: PrincipalDep, checkout: CheckoutDep) -> Order:
    return await checkout.orders.cancel(principal.user_id, order_id)


@staff_router.post(
    "/{order_id}/stage",
    operation_id="staff-stage",
    response_model=Order,
    responses=with_problems(
        {
            200: answer_example(
                example_order(OrderStatus.STAGED, FulfillmentType.LAST_MILE, minutes=50),
                "The order, staged",
            )
        },
        *COMMON,
        Forbidden,
        NotFound,
        OrderNotStageable,
    ),
    summary="Staff: mark a last-mile order staged at the store",
    description="For store staff (a token with the staff role and a `stores` claim naming "
    "the order's store): the order's items are bagged and waiting for the courier. Only "
    "last-mile orders are staged; an order of another store is 404.",
)
async def stage_order(order_id: OrderId, staff: StaffDep, checkout: CheckoutDep) -> Order:
    if not staff.stores:
        raise Forbidden("this staff token names no store (its stores claim)")
    return await checkout.orders.stage(order_id, staff.stores)
