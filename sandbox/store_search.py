"""Stores: finding those near a place, and checking the store a preview names.

A search takes coordinates (both, in range) or else a postal code, and answers the stores that
offer the fulfillment type within the search radius, nearest first. A preview's store must
exist and offer the type; for delivery and last mile, an address the sandbox can place must lie
within the radius of it.
"""

from __future__ import annotations

from sandbox import data
from sandbox.data import PICKUP, Store
from sandbox.errors import SandboxError
from sandbox.geography import haversine_miles, postal_centroid
from sandbox.models import FindStoresRequest, PreviewServiceOptionsRequest


def find_stores(
    fulfillment_type: str, req: FindStoresRequest, radius_miles: float
) -> list[tuple[Store, float]]:
    """The stores offering `fulfillment_type` near the request's place, with their distance."""
    origin = _search_origin(req)
    if origin is None:
        return []  # a postal code the sandbox cannot place has no stores near it
    found = []
    for store in data.STORES:
        if fulfillment_type not in store.fulfillment_types:
            continue
        distance = haversine_miles(origin[0], origin[1], store.latitude, store.longitude)
        if distance <= radius_miles:
            found.append((distance, store.id, store))
    found.sort(key=lambda t: (t[0], t[1]))
    return [(store, distance) for distance, _, store in found]


def _search_origin(req: FindStoresRequest) -> tuple[float, float] | None:
    if req.latitude is not None or req.longitude is not None:
        if req.latitude is None or req.longitude is None:
            missing = "latitude" if req.latitude is None else "longitude"
            raise SandboxError(400, "latitude and longitude must be given together", key=missing)
        if not -90.0 <= req.latitude <= 90.0:
            raise SandboxError(400, "latitude or longitude out of range", key="latitude")
        if not -180.0 <= req.longitude <= 180.0:
            raise SandboxError(400, "latitude or longitude out of range", key="longitude")
        return (req.latitude, req.longitude)
    if req.postal_code is not None:
        return postal_centroid(req.postal_code)
    raise SandboxError(400, "postal_code or latitude and longitude are required", key="postal_code")


def store_to_preview(
    fulfillment_type: str, req: PreviewServiceOptionsRequest, radius_miles: float
) -> Store:
    """The store a preview names, once it offers the type and reaches the address."""
    store = _store_offering(req.store_id, fulfillment_type)
    if fulfillment_type != PICKUP and req.address and req.address.postal_code:
        origin = postal_centroid(req.address.postal_code)
        if origin is not None:
            distance = haversine_miles(*origin, store.latitude, store.longitude)
            if distance > radius_miles:
                raise SandboxError(
                    400,
                    "address is outside the store's delivery area",
                    key="address.postal_code",
                )
    return store


def _store_offering(store_id: str | None, fulfillment_type: str) -> Store:
    if not store_id:
        raise SandboxError(400, "store_id is required", key="store_id")
    store = data.STORES_BY_ID.get(store_id)
    if store is None:
        raise SandboxError(400, "unknown store_id", key="store_id")
    if fulfillment_type not in store.fulfillment_types:
        raise SandboxError(
            400, f"store {store.id} does not offer {fulfillment_type}", key="store_id"
        )
    return store
