"""Slot previews and holds: the three previews, the delivery hold and the sandbox's pickup hold."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request

from sandbox.data import DELIVERY, LAST_MILE, PICKUP
from sandbox.http import state_of
from sandbox.models import PreviewServiceOptionsRequest, ReserveTimeSlotRequest
from sandbox.routes.operation import add_operation

router = APIRouter()

USERS = "/v2/fulfillment/users/{user_id}"


async def preview(
    fulfillment_type: str, request: Request, req: PreviewServiceOptionsRequest
) -> Any:
    user_id = request.path_params["user_id"]
    return {"service_options": state_of(request).preview(fulfillment_type, user_id, req)}


async def reserve(fulfillment_type: str, request: Request, req: ReserveTimeSlotRequest) -> Any:
    return state_of(request).reserve(fulfillment_type, request.path_params["user_id"], req)


for _op, _path, _kind in (
    ("previewDeliveryTimeSlots", f"{USERS}/service_options/delivery", DELIVERY),
    ("previewPickupTimeSlots", f"{USERS}/service_options/pickup", PICKUP),
    (
        "previewLastMileServiceOptions",
        "/v2/fulfillment/lastmile/users/{user_id}/service_options",
        LAST_MILE,
    ),
):
    add_operation(router, _op, _path, partial(preview, _kind), body=PreviewServiceOptionsRequest)

# reservePickupTimeSlot is the sandbox's addition (UPSTREAM.md 2.2), shaped like delivery's
for _op, _kind in (("reserveDeliveryTimeSlot", DELIVERY), ("reservePickupTimeSlot", PICKUP)):
    add_operation(
        router,
        _op,
        f"{USERS}/service_options/{_kind}/hold",
        partial(reserve, _kind),
        body=ReserveTimeSlotRequest,
    )
