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
    address_line_1: ShortText | None = None
    address_line_2: ShortText | None = None
    city: ShortText | None = None
    state: StateCode | None = None
    postal_code: PostalCode | None = None


class StoreAddress(ResponseModel):
    address_line_1: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None


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
    id: str
    name: str | None = None
    address: StoreAddress | None = None
    distance: float | None = None
    time_zone: TimeZone = None


class StoreList(ResponseModel):
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


_LOCAL_INSTANT = (
    "In the store's local time with its UTC offset (2026-11-27T08:00:00-08:00); in UTC (Z) "
    "when the store's zone is unknown."
)


class Slot(ResponseModel):
    id: str
    date: Annotated[dt.date | None, Field(description="The slot's day at the store.")] = None
    starts_at: Annotated[dt.datetime | None, Field(description=_LOCAL_INSTANT)] = None
    ends_at: Annotated[dt.datetime | None, Field(description=_LOCAL_INSTANT)] = None
    fulfillment: Fulfillment
    time_zone: TimeZone = None


class SlotList(ResponseModel):
    slots: list[Slot]
