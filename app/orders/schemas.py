"""The storefront's shapes of orders (API.md)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import StringConstraints

from app.orders.vocabulary import Fulfillment
from app.platform.schema_types import Identifier, RequestModel, ResponseModel
from app.reservations.schemas import Items
from app.stores.schemas import Address, Slot


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
    status: str | None = None


class Order(ResponseModel):
    id: str
    status: str
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
