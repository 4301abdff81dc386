"""The storefront's shapes of stores and slot previews (API.md)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter

from app.orders.vocabulary import Fulfillment
from app.platform.schema_types import (
    PostalCode,
    RequestModel,
    ResponseModel,
    ShortText,
    StateCode,
)

# A store's id in a path (/v1/stores/{store_id}/slots): the route and the fast lane both use it.
StoreId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")
]
STORE_ID = TypeAdapter(StoreId)


class Address(RequestModel):
    """The customer's address: where a delivery or last-mile order goes (a US address)."""

    address_line_1: Annotated[
        ShortText | None, Field(description="Street and number.", examples=["101 Spear St"])
    ] = None
    address_line_2: Annotated[
        ShortText | None, Field(description="Apartment, suite, floor.", examples=["Suite 400"])
    ] = None
    city: Annotated[ShortText | None, Field(description="City.", examples=["San Francisco"])] = None
    state: Annotated[
        StateCode | None, Field(description="State, as its two-letter code.", examples=["CA"])
    ] = None
    postal_code: Annotated[PostalCode | None, Field(description="ZIP code.")] = None


class StoreAddress(ResponseModel):
    """Where the store is."""

    address_line_1: str | None = Field(default=None, description="Street and number.")
    city: str | None = Field(default=None, description="City.")
    state: str | None = Field(default=None, description="State, as its two-letter code.")
    postal_code: str | None = Field(default=None, description="ZIP code.")


# A store's zone and a slot's, as the zone database names them.
TimeZone = Annotated[
    str | None,
    Field(
        description="The store's IANA time zone (e.g. America/Los_Angeles): show the store's "
        "times in it, not in the browser's. Instacart gives none; the service derives it from "
        "the store's address or the retailer's store list (docs/stores.md). Null when neither "
        "is known.",
        examples=["America/Los_Angeles"],
    ),
]


class Store(ResponseModel):
    """A store of the retailer that offers the fulfillment asked for near the location."""

    id: str = Field(
        description="The store's id: the `store_id` of its slots, reservations and orders.",
        examples=["store-sf-001"],
    )
    name: str | None = Field(default=None, description="The store's name, to show.")
    address: StoreAddress | None = Field(default=None, description="Where the store is.")
    distance: float | None = Field(
        default=None,
        description="How far the store is from the location asked about, as Instacart gives it "
        "(miles in the sandbox); for ordering and showing, not for arithmetic.",
    )
    time_zone: TimeZone = None


class StoreList(ResponseModel):
    """The stores near a location."""

    stores: list[Store] = Field(description="Nearest first; empty when no store is near.")


class SlotQuery(BaseModel):
    """The query of a slot preview; unknown parameters (cache busters) are ignored.

    The route validates it as FastAPI reads a query model, the fast lane through
    ``from_query_string``; both must accept and refuse exactly the same queries. Frozen, so
    that the catalog can remember the cache key of a query it has seen.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    fulfillment: Fulfillment = Field(description="The fulfillment to list slots for.")
    postal_code: PostalCode | None = Field(
        default=None, description="The customer's ZIP code: needed for delivery and last mile."
    )
    address_line_1: ShortText | None = Field(
        default=None, description="The customer's street and number."
    )
    address_line_2: ShortText | None = Field(default=None, description="Apartment, suite, floor.")
    city: ShortText | None = Field(default=None, description="The customer's city.")
    state: StateCode | None = Field(
        default=None, description="The customer's state (two-letter code)."
    )

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


_LOCAL_INSTANT = (
    "In the store's local time with its UTC offset (2026-11-27T08:00:00-08:00); in UTC (Z) "
    "when the store's zone is unknown."
)


class Slot(ResponseModel):
    """A window in which the store delivers, or has the order ready, for one fulfillment."""

    id: str = Field(
        description="Opaque: pass it as `slot_id` to reserve the slot. It names the store, the "
        "fulfillment and the window, so it is only good for them.",
        examples=["delivery.store-sf-001.20261127T1600Z"],
    )
    date: Annotated[dt.date | None, Field(description="The slot's day at the store.")] = None
    starts_at: Annotated[dt.datetime | None, Field(description=_LOCAL_INSTANT)] = None
    ends_at: Annotated[dt.datetime | None, Field(description=_LOCAL_INSTANT)] = None
    fulfillment: Fulfillment = Field(description="The fulfillment the slot is for.")
    time_zone: TimeZone = None


class SlotList(ResponseModel):
    """A store's slots for a fulfillment and an address."""

    slots: list[Slot] = Field(
        description="The windows Instacart offers now for this store, fulfillment and address."
    )


# What the service answers, for the document's examples: a San Francisco store in winter.
EXAMPLE_ZONE = "America/Los_Angeles"
EXAMPLE_STORE = Store(
    id="store-sf-001",
    name="Bayside Market - SoMa",
    address=StoreAddress(
        address_line_1="301 Brannan St", city="San Francisco", state="CA", postal_code="94107"
    ),
    distance=0.58,
    time_zone=EXAMPLE_ZONE,
)
EXAMPLE_STORES = StoreList(
    stores=[
        EXAMPLE_STORE,
        Store(
            id="store-sf-002",
            name="Golden Gate Grocers - Mission",
            address=StoreAddress(
                address_line_1="2300 Mission St",
                city="San Francisco",
                state="CA",
                postal_code="94110",
            ),
            distance=2.43,
            time_zone=EXAMPLE_ZONE,
        ),
    ]
)


def example_slot(fulfillment: str, day: int, hour: int) -> Slot:
    """A two-hour slot of the example store, on a day of November 2026 at a local hour."""
    starts_at = dt.datetime(2026, 11, day, hour, tzinfo=dt.timezone(dt.timedelta(hours=-8)))
    utc = starts_at.astimezone(dt.UTC)
    return Slot(
        id=f"{fulfillment}.{EXAMPLE_STORE.id}.{utc:%Y%m%dT%H%MZ}",
        date=starts_at.date(),
        starts_at=starts_at,
        ends_at=starts_at + dt.timedelta(hours=2),
        fulfillment=fulfillment,
        time_zone=EXAMPLE_ZONE,
    )


EXAMPLE_SLOT = example_slot("delivery", 27, 8)
EXAMPLE_SLOTS = SlotList(slots=[EXAMPLE_SLOT, example_slot("delivery", 27, 10)])
