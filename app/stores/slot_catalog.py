"""Stores and time slots: cached reads of Instacart, shared by every replica.

Values are cached as the storefront's response bytes, so a warm slot preview costs one
in-process look-up (or one Redis round trip) and no JSON work at all.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import orjson

from app.instacart.client import InstacartClient
from app.instacart.errors import InstacartBadRequest, InstacartError
from app.instacart.models import Address as UpstreamAddress
from app.instacart.models import (
    FindStoresRequest,
    PreviewServiceOptionsRequest,
    ServiceOption,
)
from app.instacart.refusals import Refusal, classify, translate
from app.orders.vocabulary import Fulfillment, FulfillmentType
from app.platform.errors import AppError, ValidationFailed
from app.platform.metrics import SLOT_PREVIEW_UPSTREAM_WAITS, SLOT_PREVIEWS
from app.platform.rate_limits import RateLimiter
from app.platform.shared_cache import CacheEntry, SharedCache, etag_for, in_background_refresh
from app.stores.directory import StoreDirectory, fulfillment_not_offered, store_not_found
from app.stores.schemas import Address, Slot, SlotQuery, Store, StoreQuery

_SPACES = re.compile(r"\s+")

# The upstream operation behind each cached read: its policy's deadline is the loader's deadline,
# which the cache's fleet-wide lock and its waiters are sized from.
_STORE_OPERATIONS = {
    FulfillmentType.DELIVERY: "findDeliveryStores",
    FulfillmentType.PICKUP: "findPickupStores",
    FulfillmentType.LAST_MILE: "findLastMileStores",
}
_PREVIEW_OPERATIONS = {
    FulfillmentType.DELIVERY: "previewDeliveryTimeSlots",
    FulfillmentType.PICKUP: "previewPickupTimeSlots",
}


# Instacart's word that a store is not there for a fulfillment, as the storefront hears it.
_STORE_REFUSALS: dict[Refusal, Callable[[str, str], AppError]] = {
    Refusal.STORE_UNKNOWN: lambda store_id, _: store_not_found(store_id),
    Refusal.FULFILLMENT_NOT_OFFERED: fulfillment_not_offered,
}


@dataclass(frozen=True, slots=True)
class CatalogAnswer:
    """A ready-to-send JSON body, its ETag, and for how many seconds a client may reuse it."""

    body: bytes
    etag: str
    max_age: int


@dataclass(frozen=True, slots=True)
class _SlotKey:
    """Where a slot preview is cached, and what loading it takes."""

    key: str
    group: str
    address: Address | None
    deadline: float


# Children resolved once: a label look-up per request would sit on the hot preview.
_PREVIEWS = {f.value: SLOT_PREVIEWS.labels(f.value) for f in FulfillmentType}
_UPSTREAM_WAITS = {f.value: SLOT_PREVIEW_UPSTREAM_WAITS.labels(f.value) for f in FulfillmentType}

# Bounded (cleared when full) so that cache busters in queries cannot grow it without end.
_SLOT_KEYS_REMEMBERED = 4096


def _normalise(value: str | None) -> str:
    return _SPACES.sub(" ", value or "").strip().lower()


def address_fingerprint(address: Address | None) -> str:
    """A short, stable digest of an address: the cache key never holds the address itself."""
    if address is None:
        return "-"
    parts = (
        address.address_line_1,
        address.address_line_2,
        address.city,
        address.state,
        (address.postal_code or "").replace(" ", ""),
    )
    canonical = "|".join(_normalise(p) for p in parts)
    return hashlib.blake2b(canonical.encode(), digest_size=10).hexdigest()


def slot_group(fulfillment: str, store_id: str) -> str:
    """Every cached preview of one store and fulfillment, invalidated together."""
    return f"{fulfillment}:{store_id}"


def _local(instant: dt.datetime | None, zone: ZoneInfo | None) -> dt.datetime | None:
    return instant.astimezone(zone) if instant is not None and zone is not None else instant


def slot_json(
    option: ServiceOption, fulfillment: Fulfillment, time_zone: str | None
) -> dict[str, object]:
    """The storefront's Slot: its times in the store's zone with their offset (in UTC, ending
    in Z, when the zone is unknown), and the zone's name."""
    zone = ZoneInfo(time_zone) if time_zone else None
    return Slot(
        id=option.id,
        date=option.date,
        starts_at=_local(option.window_starts_at, zone),
        ends_at=_local(option.window_ends_at, zone),
        fulfillment=option.fulfillment_type or fulfillment,
        time_zone=time_zone,
    ).model_dump(mode="json")


def to_upstream_address(address: Address | None) -> UpstreamAddress | None:
    if address is None:
        return None
    return UpstreamAddress(**address.model_dump(exclude_none=True))


class SlotCatalog:
    """Finds stores and previews their slots through the shared caches."""

    def __init__(
        self,
        client: InstacartClient,
        store_cache: SharedCache,
        slot_cache: SharedCache,
        directory: StoreDirectory,
        *,
        miss_limiter: RateLimiter | None = None,
    ) -> None:
        self.client = client
        self.store_cache = store_cache
        self.slot_cache = slot_cache
        self.directory = directory
        # A user's slot previews that Instacart must answer (cache misses: a new address, an
        # unknown store, last mile): what a client controls is bounded.
        self.miss_limiter = miss_limiter
        self._slot_keys: dict[tuple[str, SlotQuery], _SlotKey] = {}

    async def stores(self, query: StoreQuery) -> CatalogAnswer:
        """Stores near the query's location, nearest first; raises ValidationFailed without one."""
        has_point = query.latitude is not None and query.longitude is not None
        if (query.latitude is None) != (query.longitude is None) or not (
            has_point or query.postal_code
        ):
            message = "give postal_code, or latitude and longitude together"
            raise ValidationFailed(message, errors=[{"field": "postal_code", "message": message}])
        fulfillment = query.fulfillment
        location = FindStoresRequest(
            postal_code=query.postal_code,
            latitude=query.latitude,
            longitude=query.longitude,
            address_line_1=query.address_line_1,
            city=query.city,
            state=query.state,
        )
        if has_point:
            # ~100 m: finer precision would only split the cache between neighbours.
            where = f"ll:{query.latitude:.3f},{query.longitude:.3f}"
        else:
            where = "a:" + address_fingerprint(
                Address(
                    address_line_1=query.address_line_1,
                    city=query.city,
                    state=query.state,
                    postal_code=query.postal_code,
                )
            )

        async def load() -> bytes:
            try:
                stores = await self.client.find_stores(fulfillment, location)
            except InstacartBadRequest as exc:
                raise ValidationFailed(
                    f"Instacart could not search this location: {exc.upstream_message}"
                ) from exc
            except InstacartError as exc:
                raise translate(exc) from exc
            found = [Store.model_validate(store.model_dump(exclude_none=True)) for store in stores]
            for store in found:
                store.time_zone = self.directory.zone_for(store)
            await self.directory.learn(found)
            return orjson.dumps(
                {"stores": [store.model_dump(mode="json", exclude_none=True) for store in found]}
            )

        deadline = self.client.policy(
            _STORE_OPERATIONS[FulfillmentType(fulfillment)]
        ).deadline_seconds
        entry, _ = await self.store_cache.get_or_load(
            f"{fulfillment}:{where}", load, deadline_seconds=deadline
        )
        return _answer(entry, self.store_cache)

    async def slots(self, user_id: str, store_id: str, query: SlotQuery) -> CatalogAnswer:
        """A store's slot preview for the query; shared by every user but for last mile."""
        fulfillment = query.fulfillment
        # An id the retailer's list lacks is answered here: no cache key, no upstream call.
        self.directory.check_listed(store_id, fulfillment)
        _PREVIEWS[fulfillment].inc()
        if FulfillmentType(fulfillment) is FulfillmentType.LAST_MILE:
            _UPSTREAM_WAITS[fulfillment].inc()
            await self.directory.check_remembered(store_id, fulfillment)
            # Never cached: Instacart's last-mile preview also holds every option it returns for
            # this user, so a cached answer handed to someone else shows holds that are not
            # theirs. Keying by user would only replay a user's own holds, which the next
            # preview (a reservation previews again) replaces, at a hit rate near zero.
            await self._count_miss(user_id)
            options = await self.preview(user_id, fulfillment, store_id, query.address())
            body = await self._slots_body(store_id, fulfillment, options)
            return CatalogAnswer(body, etag_for(body), max_age=0)
        slot_key = self._slot_keys.get((store_id, query))
        if slot_key is None:
            slot_key = self._slot_key(store_id, query)

        async def load() -> bytes:
            await self.directory.check_remembered(store_id, fulfillment)
            # Counted against the user whose request loads (single-flight: a refusal also
            # reaches whoever waits on the same key in this process at that instant), but not
            # a refresh in the background: the user's request was a hit and cost no wait.
            if not in_background_refresh():
                await self._count_miss(user_id)
            options = await self.preview(user_id, fulfillment, store_id, slot_key.address)
            return await self._slots_body(store_id, fulfillment, options)

        entry, _ = await self.slot_cache.get_or_load(
            slot_key.key,
            load,
            group=slot_key.group,
            deadline_seconds=slot_key.deadline,
            waited=_UPSTREAM_WAITS[fulfillment].inc,
        )
        return _answer(entry, self.slot_cache)

    def peek_slots(self, store_id: str, query: SlotQuery) -> CatalogAnswer | None:
        """The preview ``slots`` would answer if it is held in process (no I/O, no error
        possible), else None. Delivery and pickup only: last mile is never cached."""
        slot_key = self._slot_keys.get((store_id, query))
        if slot_key is None:
            return None
        entry = self.slot_cache.peek(slot_key.key)
        if entry is None:
            return None
        # Counted as ``slots`` counts it; its key exists only for a listed store.
        _PREVIEWS[query.fulfillment].inc()
        return _answer(entry, self.slot_cache)

    async def _slots_body(
        self, store_id: str, fulfillment: Fulfillment, options: list[ServiceOption]
    ) -> bytes:
        zone = await self.directory.time_zone(store_id)
        return orjson.dumps({"slots": [slot_json(o, fulfillment, zone) for o in options]})

    async def _count_miss(self, user_id: str) -> None:
        if self.miss_limiter is not None:
            await self.miss_limiter.hit(user_id)

    def _slot_key(self, store_id: str, query: SlotQuery) -> _SlotKey:
        # Remembered per query: the address's digest and its model were a tenth of a warm
        # preview's time, and the same few queries come back all day.
        fulfillment = query.fulfillment
        # Pickup slots do not depend on where the customer lives.
        address = query.address() if FulfillmentType(fulfillment).needs_address else None
        group = slot_group(fulfillment, store_id)
        slot_key = _SlotKey(
            key=f"{group}:{address_fingerprint(address)}",
            group=group,
            address=address,
            deadline=self.client.policy(
                _PREVIEW_OPERATIONS[FulfillmentType(fulfillment)]
            ).deadline_seconds,
        )
        if len(self._slot_keys) >= _SLOT_KEYS_REMEMBERED:
            self._slot_keys.clear()
        self._slot_keys[(store_id, query)] = slot_key
        return slot_key

    async def preview(
        self, user_id: str, fulfillment: str, store_id: str, address: Address | None
    ) -> list[ServiceOption]:
        """Instacart's service options for this store, uncached."""
        request = PreviewServiceOptionsRequest(
            store_id=store_id, address=to_upstream_address(address)
        )
        preview = {
            FulfillmentType.DELIVERY: self.client.preview_delivery_time_slots,
            FulfillmentType.PICKUP: self.client.preview_pickup_time_slots,
            FulfillmentType.LAST_MILE: self.client.preview_last_mile_service_options,
        }[FulfillmentType(fulfillment)]
        try:
            return await preview(user_id, request)
        except InstacartBadRequest as exc:
            refusal = classify(exc)
            if refusal not in _STORE_REFUSALS:
                raise ValidationFailed(
                    f"Instacart refused the preview: {exc.upstream_message}"
                ) from exc
            error = _STORE_REFUSALS[refusal](store_id, fulfillment)
            await self.directory.remember_refusal(store_id, fulfillment, error)
            raise error from exc
        except InstacartError as exc:
            raise translate(exc) from exc

    async def invalidate_slots(self, fulfillment: str, store_id: str) -> None:
        await self.slot_cache.invalidate_group(slot_group(fulfillment, store_id))


def _answer(entry: CacheEntry, cache: SharedCache) -> CatalogAnswer:
    # Measured by the cache's clock, the one its freshness was set by.
    max_age = max(0, math.floor(entry.fresh_until - cache.clock()))
    return CatalogAnswer(entry.body, entry.etag, max_age)
