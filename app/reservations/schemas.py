"""The storefront's shapes of a reservation, and of the cart it may carry (API.md)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from app.orders.vocabulary import Fulfillment, FulfillmentType
from app.platform.schema_types import Identifier, RequestModel, ResponseModel
from app.stores.schemas import Address, Slot

MAX_DELIVERY_UNITS = 250
MAX_LINES = 100


class Item(RequestModel):
    # The validator below, as the document states it: exactly one of the two is a string.
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["upc"], "properties": {"upc": {"type": "string"}}},
                {"required": ["product_id"], "properties": {"product_id": {"type": "string"}}},
            ]
        }
    )

    upc: Annotated[str, StringConstraints(pattern=r"^[0-9]{6,14}$")] | None = None
    product_id: Identifier | None = None
    quantity: int = Field(ge=1, le=MAX_DELIVERY_UNITS)

    @model_validator(mode="after")
    def _one_identifier(self) -> Item:
        if (self.upc is None) == (self.product_id is None):
            raise ValueError("give exactly one of upc or product_id")
        return self


Items = Annotated[list[Item], Field(min_length=1, max_length=MAX_LINES)]


def check_delivery_units(fulfillment: str, items: list[Item] | None) -> None:
    """Instacart refuses delivery orders over 250 units; say so before asking it."""
    if FulfillmentType(fulfillment).limits_units and items:
        units = sum(item.quantity for item in items)
        if units > MAX_DELIVERY_UNITS:
            raise ValueError(
                f"delivery orders carry at most {MAX_DELIVERY_UNITS} units in total, not {units}"
            )


class ReservationRequest(RequestModel):
    fulfillment: Fulfillment
    store_id: Identifier
    slot_id: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    items: Items | None = None
    address: Address | None = None

    @model_validator(mode="after")
    def _units(self) -> ReservationRequest:
        check_delivery_units(self.fulfillment, self.items)
        return self


class Reservation(ResponseModel):
    id: str
    expires_at: dt.datetime | None = None
    fulfillment: Fulfillment
    store_id: str
    slot: Slot
