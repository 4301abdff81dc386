"""Reservations: hold a slot for the signed-in user before placing the order."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from app.dependencies import CheckoutDep, PrincipalDep
from app.platform.errors import (
    FulfillmentNotOffered,
    NotFound,
    SlotFulfillmentMismatch,
    SlotInPast,
    SlotNotFound,
    SlotUnavailable,
    StoreNotFound,
    ValidationFailed,
)
from app.platform.problem_docs import WITH_BODY, answer_example, with_problems
from app.reservations.schemas import (
    EXAMPLE_RESERVATION,
    EXAMPLE_RESERVATION_REQUEST,
    Reservation,
    ReservationRequest,
)

router = APIRouter(prefix="/v1/reservations", tags=["reservations"])

# A hold leads to placing the order for it (the rest of the body is the caller's).
_PLACE_ORDER_LINK = {
    "PlaceOrder": {
        "operationId": "orders-create",
        "description": "Place the order for this reservation.",
        "requestBody": {"reservation_id": "$response.body#/id"},
    }
}
_REQUEST_EXAMPLES = {
    "delivery": {
        "summary": "A delivery slot listed by GET /v1/stores/{store_id}/slots",
        "value": EXAMPLE_RESERVATION_REQUEST.model_dump(mode="json", exclude_none=True),
    }
}


@router.post(
    "",
    operation_id="reservations-create",
    status_code=201,
    response_model=Reservation,
    responses=with_problems(
        {201: answer_example(EXAMPLE_RESERVATION, "The slot, held", links=_PLACE_ORDER_LINK)},
        *WITH_BODY,
        StoreNotFound,
        SlotNotFound,
        NotFound,
        SlotUnavailable,
        ValidationFailed,
        SlotInPast,
        SlotFulfillmentMismatch,
        FulfillmentNotOffered,
    ),
    summary="Hold a slot for 10 minutes (replacing the user's previous hold)",
    description="Holds one of the store's slots for the user while the customer finishes "
    "the cart; place the order with the answer's `id` (`POST /v1/orders`). A user holds one "
    "slot at a time: a new reservation releases the previous one. The hold lapses at "
    "`expires_at`; an order placed later still goes through while the slot has room. A full "
    "slot is 409 `slot_unavailable`: list the slots again and let the customer choose.",
)
async def create_reservation(
    body: Annotated[ReservationRequest, Body(openapi_examples=_REQUEST_EXAMPLES)],
    principal: PrincipalDep,
    checkout: CheckoutDep,
) -> Reservation:
    return await checkout.reservations.reserve(principal.user_id, body)
