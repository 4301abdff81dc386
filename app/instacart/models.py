"""Typed request and response models of Instacart Connect Fulfillment v2.

Written from the specification, tolerant of what the real API adds: unknown fields are
ignored, and order and item statuses are plain strings (the real API uses more values than the
specification lists). Requests are serialised without ``None`` fields.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FulfillmentType = Literal["delivery", "pickup", "last_mile"]

# Order statuses after which nothing changes any more.


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Request(_Model):
    def to_json_dict(self) -> dict[str, Any]:
        """The body as sent upstream: JSON types, no ``None`` fields."""
        return self.model_dump(mode="json", exclude_none=True)


# --- authentication ---


class TokenRequest(_Request):
    grant_type: Literal["client_credentials"] = "client_credentials"
    client_id: str
    client_secret: str = Field(repr=False)
    scope: str


class TokenResponse(_Model):
    access_token: str = Field(repr=False)
    token_type: str = "Bearer"
    expires_in: int = 86400
    scope: str | None = None
    created_at: int | None = None


# --- shared pieces ---


class Address(_Request):
    """A customer's address: personal data, kept out of ``repr`` and never logged."""

    address_line_1: str | None = Field(default=None, repr=False)
    address_line_2: str | None = Field(default=None, repr=False)
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None


class CartItem(_Request):
    upc: str | None = None
    product_id: str | None = None
    quantity: int = Field(ge=1)


class Cart(_Request):
    items: list[CartItem] = []


# --- stores ---


class FindStoresRequest(_Request):
    """Where the customer is: a street address or a postal code, and/or coordinates."""

    address_line_1: str | None = Field(default=None, repr=False)
    address_line_2: str | None = Field(default=None, repr=False)
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    latitude: float | None = None
    longitude: float | None = None


class StoreAddress(_Model):
    address_line_1: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None


class Store(_Model):
    id: str
    name: str | None = None
    address: StoreAddress | None = None
    distance: float | None = None


class StoresResponse(_Model):
    stores: list[Store] = []


# --- service options (time slots) and holds ---


class PreviewServiceOptionsRequest(_Request):
    store_id: str | None = None
    address: Address | None = None


class ServiceOption(_Model):
    id: str
    date: dt.date | None = None
    window_starts_at: dt.datetime | None = None
    window_ends_at: dt.datetime | None = None
    fulfillment_type: FulfillmentType | None = None


class ServiceOptionsResponse(_Model):
    service_options: list[ServiceOption] = []


class ReserveTimeSlotRequest(_Request):
    service_option_id: str
    cart: Cart | None = None


class ServiceOptionHold(_Model):
    hold_id: str
    expires_at: dt.datetime | None = None
    service_option: ServiceOption | None = None


# --- orders ---


class CreateOrderRequest(_Request):
    """``order_id`` is the retailer-generated id (a real-API extension): Instacart uses it as the
    order's id, refuses a duplicate, and lets the service resolve an ambiguous create by GET."""

    hold_id: str
    order_id: str | None = None
    cart: Cart | None = None
    delivery_address: Address | None = Field(default=None, repr=False)
    delivery_instructions: str | None = Field(default=None, repr=False)


class OrderItem(_Model):
    product_id: str | None = None
    upc: str | None = None
    name: str | None = None
    quantity: int | None = None
    status: str | None = None


class UpstreamOrder(_Model):
    id: str
    # Any string: the real API sends statuses the specification does not list.
    status: str
    created_at: dt.datetime | None = None
    fulfillment_type: FulfillmentType | None = None
    service_option: ServiceOption | None = None
    store: Store | None = None
    items: list[OrderItem] = []
