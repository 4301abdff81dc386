"""The storefront's shapes of a reservation, and of the cart it may carry (API.md)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from app.orders.vocabulary import Fulfillment, FulfillmentType
from app.platform.schema_types import Identifier, RequestModel, ResponseModel
from app.stores.schemas import EXAMPLE_SLOT, EXAMPLE_STORE, Address, Slot

MAX_DELIVERY_UNITS = 250
MAX_LINES = 100


class Item(RequestModel):
    """A line of the cart: one product, named by exactly one of `upc` and `product_id`."""

    # The validator below, as the document states it: exactly one of the two is a string.
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["upc"], "properties": {"upc": {"type": "string"}}},
                {"required": ["product_id"], "properties": {"product_id": {"type": "string"}}},
            ]
        }
    )

    upc: Annotated[str, StringConstraints(pattern=r"^[0-9]{6,14}$")] | None = Field(
        default=None,
        description="The product's barcode (UPC); give this or `product_id`, not both.",
        examples=["041234100012"],
    )
    product_id: Identifier | None = Field(
        default=None,
        description="Instacart's id of the product; give this or `upc`, not both.",
        examples=["1002"],
    )
    quantity: int = Field(
        ge=1, le=MAX_DELIVERY_UNITS, description="How many units of the product.", examples=[3]
    )

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


CART_LIMITS = (
    f"At most {MAX_LINES} lines; a delivery carries at most {MAX_DELIVERY_UNITS} units in total."
)


class ReservationRequest(RequestModel):
    """The slot to hold, as listed by `GET /v1/stores/{store_id}/slots`."""

    fulfillment: Fulfillment = Field(description="The fulfillment the slot was listed for.")
    store_id: Identifier = Field(description="The store of the slot.", examples=["store-sf-001"])
    slot_id: Annotated[str, StringConstraints(min_length=1, max_length=256)] = Field(
        description="A slot's `id` from the store's slot list.",
        examples=["delivery.store-sf-001.20261127T1600Z"],
    )
    items: Items | None = Field(
        default=None,
        description=f"The cart so far, optional: sent to Instacart with the hold. {CART_LIMITS}",
    )
    address: Address | None = Field(
        default=None,
        description="The customer's address, for a last-mile slot: its hold is made for the "
        "address its slots were listed for. Other fulfillments take the address with the order.",
    )

    @model_validator(mode="after")
    def _units(self) -> ReservationRequest:
        check_delivery_units(self.fulfillment, self.items)
        return self


class Reservation(ResponseModel):
    """A slot held for the user: place the order with its `id` before `expires_at`."""

    id: str = Field(
        description="Pass it as `reservation_id` to place the order.",
        examples=["res_7IzyPHXcwO7is-KN"],
    )
    expires_at: dt.datetime | None = Field(
        default=None,
        description="When the hold lapses (10 minutes after it was made), in UTC. Afterwards "
        "the order may still go through while the slot has room, or be refused with "
        "`reservation_expired`.",
    )
    fulfillment: Fulfillment = Field(description="The fulfillment of the slot held.")
    store_id: str = Field(description="The store of the slot held.")
    slot: Slot = Field(description="The slot held, with its times at the store.")


# The document's examples: the example store's first slot, asked for and held.
EXAMPLE_RESERVATION_REQUEST = ReservationRequest(
    fulfillment="delivery", store_id=EXAMPLE_STORE.id, slot_id=EXAMPLE_SLOT.id
)
EXAMPLE_RESERVATION = Reservation(
    id="res_7IzyPHXcwO7is-KN",
    expires_at=dt.datetime(2026, 11, 25, 18, 10, tzinfo=dt.UTC),
    fulfillment="delivery",
    store_id=EXAMPLE_STORE.id,
    slot=EXAMPLE_SLOT,
)
