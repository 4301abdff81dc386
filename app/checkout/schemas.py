"""The storefront's shapes (API.md): what the storefront sends and what it gets back."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import parse_qsl

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    WithJsonSchema,
    model_validator,
)

Fulfillment = Literal["delivery", "pickup", "last_mile"]

MAX_DELIVERY_UNITS = 250
MAX_LINES = 100

# The documents state exactly what the validators accept (a client generated from them, or a
# fuzzer, must never be surprised by a 422). Where a validator trims first, the pattern says so:
# pydantic trims Unicode White_Space (Rust's str::trim), which ECMA-262's \s is not (it has
# U+FEFF and lacks U+0085), so the set is spelled out.
_WS = r"\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def _trimmed(min_length: int, max_length: int) -> WithJsonSchema:
    """The schema of a string that is trimmed, then holds min_length..max_length characters."""
    edge = f"[^{_WS}]"
    # Two edges that are not whitespace and anything between them; one character alone is an edge.
    middle = rf"[\s\S]{{{max(min_length - 2, 0)},{max_length - 2}}}"
    inner = f"{edge}(?:{middle}{edge})?" if min_length == 1 else f"{edge}{middle}{edge}"
    return WithJsonSchema(
        {
            "type": "string",
            "pattern": f"^[{_WS}]*{inner}[{_WS}]*$",
            "description": f"Trimmed of surrounding whitespace, then {min_length} to {max_length} "
            "characters.",
        }
    )


ShortText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    _trimmed(1, 200),
]
Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")
]
# A store's id in a path (/v1/stores/{store_id}/slots): the route and the fast lane both use it.
StoreId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")
]
STORE_ID = TypeAdapter(StoreId)
PostalCode = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=3, max_length=10, pattern=r"^[A-Za-z0-9 \-]+$"
    ),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": rf"^[{_WS}]*[A-Za-z0-9\-][A-Za-z0-9 \-]{{1,8}}[A-Za-z0-9\-][{_WS}]*$",
            "description": "Trimmed of surrounding whitespace, then 3 to 10 letters, digits, "
            "spaces or hyphens.",
            "examples": ["94105"],
        }
    ),
]
StateCode = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=2, max_length=40),
    _trimmed(2, 40),
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Address(_In):
    address_line_1: ShortText | None = None
    address_line_2: ShortText | None = None
    city: ShortText | None = None
    state: StateCode | None = None
    postal_code: PostalCode | None = None


class Item(_In):
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
    if fulfillment == "delivery" and items:
        units = sum(item.quantity for item in items)
        if units > MAX_DELIVERY_UNITS:
            raise ValueError(
                f"delivery orders carry at most {MAX_DELIVERY_UNITS} units in total, not {units}"
            )


class StoreAddress(_Out):
    address_line_1: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None


class Store(_Out):
    id: str
    name: str | None = None
    address: StoreAddress | None = None
    distance: float | None = None


class StoreList(_Out):
    stores: list[Store]


class SlotQuery(BaseModel):
    """The query of a slot preview; unknown parameters (cache busters) are ignored.

    The route validates it as FastAPI reads a query model, the fast lane through
    ``from_query_string``; both must accept and refuse exactly the same queries. Frozen, so
    that the catalog can remember the cache key of a query it has seen.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    fulfillment: Fulfillment
    postal_code: PostalCode | None = None
    address_line_1: ShortText | None = None
    address_line_2: ShortText | None = None
    city: ShortText | None = None
    state: StateCode | None = None

    @classmethod
    def from_query_string(cls, query_string: bytes) -> SlotQuery:
        """Validate a raw query string as the route does; raises pydantic's ValidationError.

        As Starlette and FastAPI read it: Latin-1, blank values kept (``postal_code=`` is an
        empty postal code, not an absent one), the last of repeated parameters.
        """
        pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
        return cls.model_validate(dict(pairs))

    def address(self) -> Address | None:
        fields = self.model_dump(exclude={"fulfillment"}, exclude_none=True)
        return Address(**fields) if fields else None


@dataclass(frozen=True, slots=True)
class StoreQuery:
    """Where and how the storefront looks for stores (each field already validated by the route).

    Give ``postal_code``, or ``latitude`` and ``longitude`` together; the catalog says so
    otherwise (a rule across parameters that OpenAPI cannot state).
    """

    fulfillment: Fulfillment
    postal_code: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    address_line_1: str | None = None
    city: str | None = None
    state: str | None = None


class Slot(_Out):
    id: str
    date: dt.date | None = None
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    fulfillment: Fulfillment


class SlotList(_Out):
    slots: list[Slot]


class ReservationRequest(_In):
    fulfillment: Fulfillment
    store_id: Identifier
    slot_id: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    items: Items | None = None
    address: Address | None = None

    @model_validator(mode="after")
    def _units(self) -> ReservationRequest:
        check_delivery_units(self.fulfillment, self.items)
        return self


class Reservation(_Out):
    id: str
    expires_at: dt.datetime | None = None
    fulfillment: Fulfillment
    store_id: str
    slot: Slot


class OrderRequest(_In):
    reservation_id: Identifier
    items: Items
    address: Address | None = None
    instructions: Annotated[str, StringConstraints(max_length=500)] | None = None


class OrderItem(_Out):
    upc: str | None = None
    product_id: str | None = None
    name: str | None = None
    quantity: int
    status: str | None = None


class Order(_Out):
    id: str
    status: str
    fulfillment: Fulfillment
    store_id: str
    slot: Slot | None = None
    items: list[OrderItem]
    created_at: dt.datetime
    updated_at: dt.datetime
    cancelable: bool


class OrderPage(_Out):
    orders: list[Order]
    next_cursor: str | None = None
