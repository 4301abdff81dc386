"""Orders: the three creates, getOrder, cancelOrder and stageLastMileOrder."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request

from sandbox.data import DELIVERY, LAST_MILE, PICKUP
from sandbox.errors import SandboxError
from sandbox.http import state_of
from sandbox.models import CreateOrderRequest
from sandbox.order_book import RESERVED_ORDER_IDS
from sandbox.routes.operation import add_operation

router = APIRouter()

USERS = "/v2/fulfillment/users/{user_id}"


async def create_order(fulfillment_type: str, request: Request, req: CreateOrderRequest) -> Any:
    return state_of(request).create_order(fulfillment_type, request.path_params["user_id"], req)


async def get_order(request: Request, _: None) -> Any:
    p = request.path_params
    return state_of(request).get_order(p["user_id"], p["order_id"])


async def cancel_order(request: Request, _: None) -> Any:
    p = request.path_params
    return state_of(request).cancel_order(p["user_id"], p["order_id"])


async def stage_order(request: Request, _: None) -> Any:
    return state_of(request).stage_order(request.path_params["order_id"])


async def create_path_not_allowed(request: Request) -> None:
    raise SandboxError(405, "method not allowed", headers={"Allow": "POST"})


for _op, _path, _kind in (
    ("createDeliveryOrder", f"{USERS}/orders/delivery", DELIVERY),
    ("createPickupOrder", f"{USERS}/orders/pickup", PICKUP),
    ("createLastMileOrder", "/v2/fulfillment/lastmile/users/{user_id}/orders", LAST_MILE),
):
    add_operation(router, _op, _path, partial(create_order, _kind), body=CreateOrderRequest)

# GET .../orders/delivery names the create route's path, not an order: answer like a router.
# Registered before getOrder, so that these paths never reach it.
for _reserved in sorted(RESERVED_ORDER_IDS):
    router.add_api_route(
        f"{USERS}/orders/{_reserved}",
        create_path_not_allowed,
        methods=["GET", "PUT", "PATCH", "DELETE", "OPTIONS"],
        include_in_schema=False,
    )

add_operation(router, "getOrder", f"{USERS}/orders/{{order_id}}", get_order, method="GET")
add_operation(router, "cancelOrder", f"{USERS}/orders/{{order_id}}/cancel", cancel_order)
add_operation(
    router, "stageLastMileOrder", "/v2/fulfillment/lastmile/orders/{order_id}/staged", stage_order
)
