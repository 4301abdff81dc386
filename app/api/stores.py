"""Stores near a customer, and their time slots: the storefront's hot read path."""

from __future__ import annotations

import math
import time
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response

from app.api.problem_docs import COMMON, problems
from app.cache import CacheEntry
from app.checkout.schemas import (
    Fulfillment,
    PostalCode,
    ShortText,
    SlotList,
    SlotQuery,
    StateCode,
    StoreList,
)
from app.checkout.services import CheckoutServices
from app.deps import CheckoutDep, PrincipalDep
from app.errors import ValidationFailed
from app.instacart.models import FindStoresRequest

router = APIRouter(prefix="/v1/stores", tags=["stores"])

NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified (If-None-Match matched the ETag)"}
}
StoreIdPath = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")
# Documented by hand: FastAPI would say "string or null" for a header. The server counts the
# characters of the value as received (Latin-1), so a client sending UTF-8 should stay ASCII.
IfNoneMatch = Annotated[str | None, Header(max_length=512, include_in_schema=False)]
_IF_NONE_MATCH_PARAMETER = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "An ETag from an earlier answer; a match answers 304 Not Modified. "
    "At most 512 characters (422 past that).",
    "schema": {"type": "string", "maxLength": 512},
}
_CONDITIONAL = {"parameters": [_IF_NONE_MATCH_PARAMETER]}

# The stateful walk a storefront takes: stores near an address, then a store's slots there.
_STORE_SLOTS_LINK = {
    "links": {
        "StoreSlots": {
            "operationId": "slots-list",
            "description": "The first store's slots, for the same fulfillment.",
            "parameters": {
                "path.store_id": "$response.body#/stores/0/id",
                "query.fulfillment": "$request.query.fulfillment",
            },
        }
    }
}
# A slot of the list, held: store and fulfillment are the request's, the slot the first listed.
_SLOT_RESERVATION_LINK = {
    "links": {
        "ReserveSlot": {
            "operationId": "reservations-create",
            "description": "Hold the first slot of the list.",
            "requestBody": {
                "fulfillment": "$request.query.fulfillment",
                "store_id": "$request.path.store_id",
                "slot_id": "$response.body#/slots/0/id",
            },
        }
    }
}


def _cached_json(entry: CacheEntry, if_none_match: str | None) -> Response:
    max_age = max(0, math.floor(entry.fresh_until - time.time()))
    headers = {"ETag": entry.etag, "Cache-Control": f"private, max-age={max_age}"}
    if if_none_match is not None and entry.etag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(entry.body, media_type="application/json", headers=headers)


@router.get(
    "",
    operation_id="stores-list",
    response_model=StoreList,
    responses={200: _STORE_SLOTS_LINK} | NOT_MODIFIED | problems(*COMMON),
    summary="Stores offering a fulfillment near a location, nearest first",
    description="Give `postal_code`, or `latitude` and `longitude` together (422 otherwise: "
    "OpenAPI cannot state a rule across query parameters).",
    openapi_extra=_CONDITIONAL,
)
async def list_stores(
    principal: PrincipalDep,
    checkout: CheckoutDep,
    fulfillment: Fulfillment,
    postal_code: PostalCode | None = None,
    latitude: Annotated[float | None, Query(ge=-90, le=90)] = None,
    longitude: Annotated[float | None, Query(ge=-180, le=180)] = None,
    address_line_1: ShortText | None = None,
    city: ShortText | None = None,
    state: StateCode | None = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    has_point = latitude is not None and longitude is not None
    if (latitude is None) != (longitude is None) or not (has_point or postal_code):
        message = "give postal_code, or latitude and longitude together"
        raise ValidationFailed(message, errors=[{"field": "postal_code", "message": message}])
    location = FindStoresRequest(
        postal_code=postal_code,
        latitude=latitude,
        longitude=longitude,
        address_line_1=address_line_1,
        city=city,
        state=state,
    )
    entry = await checkout.catalog.stores(fulfillment, location)
    return _cached_json(entry, if_none_match)


async def slot_response(
    checkout: CheckoutServices,
    user_id: str,
    store_id: str,
    query: SlotQuery,
    if_none_match: str | None,
) -> Response:
    """The slot preview answer; shared by the route below and the fast lane in front of it."""
    entry = await checkout.catalog.slots(user_id, query.fulfillment, store_id, query.address())
    return _cached_json(entry, if_none_match)


@router.get(
    "/{store_id}/slots",
    operation_id="slots-list",
    response_model=SlotList,
    responses={200: _SLOT_RESERVATION_LINK} | NOT_MODIFIED | problems(*COMMON, 404),
    summary="Time slots of a store (for an address, for delivery and last mile)",
    openapi_extra=_CONDITIONAL,
)
async def list_slots(
    principal: PrincipalDep,
    checkout: CheckoutDep,
    store_id: Annotated[str, StoreIdPath],
    query: Annotated[SlotQuery, Query()],
    if_none_match: IfNoneMatch = None,
) -> Response:
    # Warm previews are answered by app.api.fast_slots before reaching here; this route
    # documents the operation and answers everything else (cold keys, errors).
    return await slot_response(checkout, principal.user_id, store_id, query, if_none_match)
