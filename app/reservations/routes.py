"""Reservations: hold a slot for the signed-in user before placing the order."""

from __future__ import annotations

from fastapi import APIRouter

from app.dependencies import CheckoutDep, PrincipalDep
from app.platform.problem_docs import WITH_BODY, with_problems
from app.reservations.schemas import Reservation, ReservationRequest

router = APIRouter(prefix="/v1/reservations", tags=["reservations"])

# A hold leads to placing the order for it (the rest of the body is the caller's).
_PLACE_ORDER_LINK = {
    "links": {
        "PlaceOrder": {
            "operationId": "orders-create",
            "description": "Place the order for this reservation.",
            "requestBody": {"reservation_id": "$response.body#/id"},
        }
    }
}


@router.post(
    "",
    operation_id="reservations-create",
    status_code=201,
    response_model=Reservation,
    responses=with_problems({201: _PLACE_ORDER_LINK}, *WITH_BODY, 404, 409),
    summary="Hold a slot for 10 minutes (replacing the user's previous hold)",
)
async def create_reservation(
    body: ReservationRequest, principal: PrincipalDep, checkout: CheckoutDep
) -> Reservation:
    return await checkout.reservations.reserve(principal.user_id, body)
