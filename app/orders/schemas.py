"""The storefront's shapes of orders (API.md)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field, StringConstraints

from app.orders.vocabulary import (
    TERMINAL_STATUSES,
    Fulfillment,
    FulfillmentType,
    ItemStatus,
    OrderStatus,
    is_cancelable,
)
from app.platform.schema_types import Identifier, OpenEnum, RequestModel, ResponseModel
from app.reservations.schemas import CART_LIMITS, EXAMPLE_RESERVATION, Item, Items
from app.stores.schemas import EXAMPLE_STORE, Address, Slot, example_slot

_FINAL = ", ".join(f"`{status}`" for status in sorted(TERMINAL_STATUSES))

# What each status means to the customer, in the order an order walks through them.
STATUS_MEANINGS: dict[OrderStatus, str] = {
    OrderStatus.BRAND_NEW: "Placed: Instacart has it and no shopper has taken it yet. The only "
    "status in which it can be canceled.",
    OrderStatus.ACKNOWLEDGED: "A shopper has taken the order; it can no longer be canceled.",
    OrderStatus.PICKING: "The shopper is collecting the items in the store.",
    OrderStatus.CHECKOUT: "The shopper is paying for the items at the store.",
    OrderStatus.STAGING: "The items are being bagged and set aside for pickup or handover.",
    OrderStatus.STAGED: "Ready at the store: a pickup customer may collect it, a last-mile order "
    "waits for its courier.",
    OrderStatus.DELIVERING: "On its way to the customer.",
    OrderStatus.DELIVERED: "Delivered or handed over. Final.",
    OrderStatus.COMPLETED: "Finished (Instacart's closing status in some workflows). Final.",
    OrderStatus.CANCELED: "Canceled. Final.",
    OrderStatus.RESCHEDULED: "Instacart moved the order to another window; the order goes on and "
    "a further status follows. `slot` still shows the window chosen at checkout.",
}
OrderStatusName = Annotated[
    str,
    OpenEnum(
        "OrderStatus",
        "Where the order stands in Instacart's workflow. Which statuses an order passes through "
        f"depends on its fulfillment; the final ones are {_FINAL}: nothing follows them, and "
        "the event stream ends. Whether the order can still be canceled is `cancelable`.",
        tuple((str(status), meaning) for status, meaning in STATUS_MEANINGS.items()),
        "Instacart adds statuses, and the service shows each once it has rules for it, so a "
        "client built from an older document may meet one not listed here. Show it as an order "
        "in progress (neither failed nor final), take `cancelable` as the "
        "answer to whether it can be canceled, and keep following the order (its event stream, "
        "or `GET /v1/orders/{order_id}`).",
    ),
]

ITEM_STATUS_MEANINGS: dict[ItemStatus, str] = {
    ItemStatus.PENDING: "Not picked yet.",
    ItemStatus.FOUND: "The shopper found it as ordered.",
    ItemStatus.REPLACED: "The shopper replaced it with another product.",
    ItemStatus.REFUNDED: "Neither found nor replaced: the customer is not charged for it.",
}
ItemStatusName = Annotated[
    str,
    OpenEnum(
        "ItemStatus",
        "What the shopper did with an ordered line, as Instacart reports it.",
        tuple((str(status), meaning) for status, meaning in ITEM_STATUS_MEANINGS.items()),
        "Instacart may add item statuses, which the service passes on as they come. Show such a "
        "line without a status.",
    ),
]


class OrderRequest(RequestModel):
    """The order for a reserved slot."""

    reservation_id: Identifier = Field(
        description="The `id` of the user's reservation (`POST /v1/reservations`).",
        examples=["res_7IzyPHXcwO7is-KN"],
    )
    items: Items = Field(description=f"What to order. {CART_LIMITS}")
    address: Address | None = Field(
        default=None,
        description="Where the order goes: required for delivery and last mile, not used for "
        "pickup.",
    )
    instructions: Annotated[str, StringConstraints(max_length=500)] | None = Field(
        default=None,
        description="For the shopper or the driver, at most 500 characters.",
        examples=["Leave at the front desk"],
    )


class OrderItem(ResponseModel):
    """A line of the order as Instacart holds it."""

    upc: str | None = Field(default=None, description="The product's barcode (UPC).")
    product_id: str | None = Field(default=None, description="Instacart's id of the product.")
    name: str | None = Field(
        default=None, description="The product's name, once Instacart has named it."
    )
    quantity: int = Field(description="How many units were ordered.")
    status: ItemStatusName | None = Field(
        default=None, description="What the shopper did with the line; null until Instacart says."
    )


class Order(ResponseModel):
    """One of the user's orders and where it stands."""

    id: str = Field(
        description="The order's id, the retailer's and Instacart's alike.",
        examples=["ord_FqGAtr4HhCa2hS4F27D4"],
    )
    status: OrderStatusName = Field(description="Where the order stands (see OrderStatus).")
    fulfillment: Fulfillment = Field(description="How the order reaches the customer.")
    store_id: str = Field(description="The store that fulfils it.")
    slot: Slot | None = Field(
        default=None, description="The window chosen at checkout, in the store's local time."
    )
    items: list[OrderItem] = Field(description="The order's lines.")
    created_at: dt.datetime = Field(description="When the order was placed, in UTC.")
    updated_at: dt.datetime = Field(description="When anything of it last changed, in UTC.")
    cancelable: bool = Field(
        description="Whether `POST /v1/orders/{order_id}/cancel` can still cancel it: show the "
        "cancel button by this, not by the status."
    )


class OrderPage(ResponseModel):
    """A page of the user's orders, newest first."""

    orders: list[Order] = Field(description="At most `limit` orders, newest first.")
    next_cursor: str | None = Field(
        default=None,
        description="Pass it as `cursor` for the next page; null on the last page.",
    )


def example_order(
    status: OrderStatus,
    fulfillment: FulfillmentType = FulfillmentType.DELIVERY,
    minutes: int = 0,
) -> Order:
    """An order of the example store as the service shows it, `minutes` after it was placed."""
    placed = dt.datetime(2026, 11, 25, 18, 0, 15, tzinfo=dt.UTC)
    found = status not in (OrderStatus.BRAND_NEW, OrderStatus.ACKNOWLEDGED, OrderStatus.PICKING)
    lines = (("041234100012", "1001", "Organic Bananas, 1 lb", 3), ("041234100029", "1002",
             "Hass Avocados, 4 ct", 1))  # fmt: skip
    return Order(
        id="ord_FqGAtr4HhCa2hS4F27D4",
        status=status,
        fulfillment=fulfillment,
        store_id=EXAMPLE_STORE.id,
        slot=example_slot(fulfillment, 27, 8),
        items=[
            OrderItem(
                upc=upc,
                product_id=product_id,
                name=name,
                quantity=quantity,
                status=ItemStatus.FOUND if found else ItemStatus.PENDING,
            )
            for upc, product_id, name, quantity in lines
        ],
        created_at=placed,
        updated_at=placed + dt.timedelta(minutes=minutes),
        cancelable=is_cancelable(status),
    )


# What a storefront sends to place the order for the example reservation.
EXAMPLE_ORDER_REQUEST = OrderRequest(
    reservation_id=EXAMPLE_RESERVATION.id,
    items=[Item(upc="041234100012", quantity=3), Item(product_id="1002", quantity=1)],
    address=Address(
        address_line_1="101 Spear St", city="San Francisco", state="CA", postal_code="94105"
    ),
    instructions="Leave at the front desk",
)
