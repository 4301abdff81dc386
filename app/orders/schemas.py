"""The storefront's shapes of orders (API.md)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import StringConstraints

from app.orders.vocabulary import TERMINAL_STATUSES, Fulfillment, ItemStatus, OrderStatus
from app.platform.schema_types import Identifier, OpenEnum, RequestModel, ResponseModel
from app.reservations.schemas import Items
from app.stores.schemas import Address, Slot

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
    reservation_id: Identifier
    items: Items
    address: Address | None = None
    instructions: Annotated[str, StringConstraints(max_length=500)] | None = None


class OrderItem(ResponseModel):
    upc: str | None = None
    product_id: str | None = None
    name: str | None = None
    quantity: int
    status: ItemStatusName | None = None


class Order(ResponseModel):
    id: str
    status: OrderStatusName
    fulfillment: Fulfillment
    store_id: str
    slot: Slot | None = None
    items: list[OrderItem]
    created_at: dt.datetime
    updated_at: dt.datetime
    cancelable: bool


class OrderPage(ResponseModel):
    orders: list[Order]
    next_cursor: str | None = None
