"""Stores near a customer, and their time slots: the storefront's hot read path."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response

from app.dependencies import CheckoutDep, PrincipalDep
from app.orders.vocabulary import Fulfillment
from app.platform.errors import FulfillmentNotOffered, StoreNotFound, ValidationFailed
from app.platform.problem_docs import COMMON, answer_example, problems
from app.platform.schema_types import PostalCode, ShortText, StateCode
from app.stores.schemas import (
    EXAMPLE_SLOTS,
    EXAMPLE_STORES,
    SlotList,
    SlotQuery,
    StoreId,
    StoreList,
    StoreQuery,
)
from app.stores.slot_catalog import CatalogAnswer

router = APIRouter(prefix="/v1/stores", tags=["stores"])

NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified (If-None-Match matched the ETag)"}
}
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
    "StoreSlots": {
        "operationId": "slots-list",
        "description": "The first store's slots, for the same fulfillment.",
        "parameters": {
            "path.store_id": "$response.body#/stores/0/id",
            "query.fulfillment": "$request.query.fulfillment",
        },
    }
}
# A slot of the list, held: store and fulfillment are the request's, the slot the first listed.
_SLOT_RESERVATION_LINK = {
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


def etag_matches(etag: str, if_none_match: str | None) -> bool:
    return if_none_match is not None and etag in {t.strip() for t in if_none_match.split(",")}


def render(answer: CatalogAnswer, if_none_match: str | None) -> Response:
    """The catalog's answer as sent: 200 with the body, or 304 when If-None-Match matched."""
    headers = {"ETag": answer.etag, "Cache-Control": f"private, max-age={answer.max_age}"}
    if etag_matches(answer.etag, if_none_match):
        return Response(status_code=304, headers=headers)
    return Response(answer.body, media_type="application/json", headers=headers)


@router.get(
    "",
    operation_id="stores-list",
    response_model=StoreList,
    responses={200: answer_example(EXAMPLE_STORES, "The stores", links=_STORE_SLOTS_LINK)}
    | NOT_MODIFIED
    | problems(*COMMON),
    summary="Stores offering a fulfillment near a location, nearest first",
    description="Where a checkout starts: the retailer's stores that offer `fulfillment` near "
    "the customer. Give `postal_code`, or `latitude` and `longitude` together (422 "
    "`validation_failed` otherwise: OpenAPI cannot state a rule across query parameters); an "
    "address narrows the search. Each store carries its IANA `time_zone`: show its slots in "
    "it. The answer is cached briefly and carries an `ETag`; send it back as `If-None-Match` "
    "for a 304.",
    openapi_extra=_CONDITIONAL,
)
async def list_stores(
    principal: PrincipalDep,
    checkout: CheckoutDep,
    fulfillment: Annotated[
        Fulfillment, Query(description="How the order will reach the customer.")
    ],
    postal_code: Annotated[
        PostalCode | None, Query(description="The customer's ZIP code.", examples=["94105"])
    ] = None,
    latitude: Annotated[
        float | None, Query(ge=-90, le=90, description="With `longitude`: where the customer is.")
    ] = None,
    longitude: Annotated[
        float | None, Query(ge=-180, le=180, description="With `latitude`.")
    ] = None,
    address_line_1: Annotated[
        ShortText | None, Query(description="The customer's street and number.")
    ] = None,
    city: Annotated[ShortText | None, Query(description="The customer's city.")] = None,
    state: Annotated[
        StateCode | None, Query(description="The customer's state (two-letter code).")
    ] = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    query = StoreQuery(fulfillment, postal_code, latitude, longitude, address_line_1, city, state)
    return render(await checkout.catalog.stores(query), if_none_match)


@router.get(
    "/{store_id}/slots",
    operation_id="slots-list",
    response_model=SlotList,
    responses={200: answer_example(EXAMPLE_SLOTS, "The slots", links=_SLOT_RESERVATION_LINK)}
    | NOT_MODIFIED
    | problems(*COMMON, StoreNotFound, ValidationFailed, FulfillmentNotOffered),
    summary="Time slots of a store (for an address, for delivery and last mile)",
    description="The windows the store offers for `fulfillment`; for delivery and last mile "
    "give the customer's address (at least `postal_code`), since the windows depend on it. "
    "Each slot's times carry the store's UTC offset and `time_zone`: show them in that zone, "
    "not the device's. Reserve one with `POST /v1/reservations` and its `id`. Previews are "
    "shared by every user for some seconds (`Cache-Control: private, max-age`), so a slot "
    "listed may be full by the time it is reserved (409 `slot_unavailable`).",
    openapi_extra=_CONDITIONAL,
)
async def list_slots(
    principal: PrincipalDep,
    checkout: CheckoutDep,
    store_id: Annotated[
        StoreId,
        Path(description="A store's `id` from `GET /v1/stores`.", examples=["store-sf-001"]),
    ],
    query: Annotated[SlotQuery, Query()],
    if_none_match: IfNoneMatch = None,
) -> Response:
    # Most previews are answered by app.stores.fast_lane before reaching here, with the same
    # validation and rendering; this route documents the operation and answers the rest.
    answer = await checkout.catalog.slots(principal.user_id, store_id, query)
    return render(answer, if_none_match)
