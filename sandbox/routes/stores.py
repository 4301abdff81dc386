"""findDeliveryStores, findPickupStores, findLastMileStores."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request

from sandbox.data import DELIVERY, LAST_MILE, PICKUP
from sandbox.http import state_of
from sandbox.models import FindStoresRequest
from sandbox.routes.operation import add_operation

router = APIRouter()


async def find_stores(fulfillment_type: str, request: Request, req: FindStoresRequest) -> Any:
    return {"stores": state_of(request).find_stores(fulfillment_type, req)}


for _op, _kind in (
    ("findDeliveryStores", DELIVERY),
    ("findPickupStores", PICKUP),
    ("findLastMileStores", LAST_MILE),
):
    add_operation(
        router,
        _op,
        f"/v2/fulfillment/stores/{_kind}",
        partial(find_stores, _kind),
        body=FindStoresRequest,
    )
