"""The sandbox's world: tokens, stores, slots, holds, orders and call statistics.

All of it lives in memory behind one lock, so concurrent requests (and uvicorn's threads, if
any) see consistent capacity. Every rule of UPSTREAM.md section 2 is enforced here; the HTTP
layer in routes/ only parses, authenticates and serialises.
"""

from __future__ import annotations

import math
import random
import re
import secrets
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sandbox import data
from sandbox.config import SandboxConfig
from sandbox.data import DELIVERY, FULFILLMENT_TYPES, LAST_MILE, PICKUP, Store
from sandbox.errors import ErrorCode, SandboxError
from sandbox.models import (
    CartItem,
    CreateOrderRequest,
    FindStoresRequest,
    PreviewServiceOptionsRequest,
    ReserveTimeSlotRequest,
)

# Status workflows. Every status a spec route can answer with is in the specification's enum;
# the real API's other names (staged, checkout, completed) can still be forced through
# POST /sandbox/orders/{id}/advance for clients that must cope with them.
WORKFLOWS: dict[str, tuple[str, ...]] = {
    DELIVERY: ("brand_new", "acknowledged", "picking", "delivering", "delivered"),
    PICKUP: ("brand_new", "acknowledged", "picking", "staging", "delivered"),
    LAST_MILE: ("brand_new", "staging", "delivering", "delivered"),
}
TERMINAL_STATUSES = frozenset({"delivered", "completed", "canceled"})
# statuses after which the shopper has found the items
_ITEMS_FOUND_AFTER = frozenset({"staging", "delivering", "delivered", "completed", "staged"})
# path segments that share their position with {order_id} in the specification's paths
RESERVED_ORDER_IDS = frozenset({"delivery", "pickup"})
_ORDER_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_POSTAL_RE = re.compile(r"^\s*(\d{5})(?:-\d{4})?\s*$")
_SLOT_TIME_FORMAT = "%Y%m%dT%H%MZ"
EARTH_RADIUS_MILES = 3958.8


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def haversine_miles(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_MILES * math.asin(min(1.0, math.sqrt(a)))


@cache
def store_tz(store_id: str) -> tzinfo:
    metro = data.METROS[data.STORES_BY_ID[store_id].metro]
    try:
        return ZoneInfo(metro.tz)
    except ZoneInfoNotFoundError:  # a slim image without a tz database
        return timezone(timedelta(hours=metro.std_offset_hours))


def postal_centroid(postal_code: str) -> tuple[float, float] | None:
    m = _POSTAL_RE.match(postal_code)
    return data.POSTAL_CODES.get(m.group(1)) if m else None


@dataclass(frozen=True, slots=True)
class Slot:
    fulfillment_type: str
    store_id: str
    starts_at: datetime
    ends_at: datetime

    @property
    def id(self) -> str:
        return f"{self.fulfillment_type}.{self.store_id}.{self.starts_at:{_SLOT_TIME_FORMAT}}"

    @property
    def local_date(self) -> date:
        return self.starts_at.astimezone(store_tz(self.store_id)).date()


@dataclass(slots=True)
class Hold:
    id: str
    user_id: str
    slot: Slot
    created_at: datetime
    expires_at: datetime
    state: str = "active"  # active, released (replaced by a newer hold), consumed
    order_id: str | None = None


@dataclass(slots=True)
class Order:
    id: str
    user_id: str
    fulfillment_type: str
    slot: Slot
    status: str
    created_at: datetime
    updated_at: datetime
    items: list[dict[str, Any]]
    hold_id: str
    # kept for realism and never logged or returned: they are personal data
    delivery_address: dict[str, Any] | None = field(default=None, repr=False)
    delivery_instructions: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class StatusChange:
    order: Order
    status: str
    previous: str | None
    at: datetime


class SandboxState:
    """The sandbox's whole mutable world; `reset()` brings it back to its first state."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self._lock = threading.RLock()
        self.listeners: list[Callable[[StatusChange], None]] = []
        self.reset()

    # ---- lifecycle and bookkeeping -------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self.rng = random.Random(self.config.seed)
            self.tokens: dict[str, datetime] = {}
            self.tokens_issued = 0
            self.holds: dict[str, Hold] = {}
            self.user_holds: dict[str, str] = {}
            self.holds_by_slot: dict[str, set[str]] = defaultdict(set)
            self.orders: dict[str, Order] = {}
            self.orders_by_slot: dict[str, set[str]] = defaultdict(set)
            self.calls: Counter[str] = Counter()
            self.statuses: dict[str, Counter[str]] = defaultdict(Counter)

    def now(self) -> datetime:
        return self.config.clock()

    def record_call(self, operation_id: str) -> None:
        with self._lock:
            self.calls[operation_id] += 1

    def record_status(self, operation_id: str, status: int) -> None:
        with self._lock:
            self.statuses[operation_id][str(status)] += 1

    def stats(self) -> dict[str, Any]:
        with self._lock:
            now = self.now()
            return {
                "calls": dict(sorted(self.calls.items())),
                "responses": {
                    op: dict(sorted(c.items())) for op, c in sorted(self.statuses.items())
                },
                "tokens_issued": self.tokens_issued,
                "tokens_active": sum(1 for exp in self.tokens.values() if exp > now),
                "orders": len(self.orders),
                "holds_active": sum(1 for h in self.holds.values() if self._hold_counts(h, now)),
            }

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{self.rng.getrandbits(64):016x}"

    # ---- tokens --------------------------------------------------------------------------

    def issue_token(self, ttl_seconds: int) -> tuple[str, datetime]:
        token = secrets.token_urlsafe(32)
        with self._lock:
            created = self.now()
            self.tokens[token] = created + timedelta(seconds=ttl_seconds)
            self.tokens_issued += 1
        return token, created

    def token_valid(self, token: str) -> bool:
        with self._lock:
            expires_at = self.tokens.get(token)
            return expires_at is not None and self.now() < expires_at

    def revoke_tokens(self) -> int:
        with self._lock:
            count = len(self.tokens)
            self.tokens.clear()
            return count

    # ---- stores --------------------------------------------------------------------------

    def find_stores(self, fulfillment_type: str, req: FindStoresRequest) -> list[dict[str, Any]]:
        if req.latitude is not None or req.longitude is not None:
            if req.latitude is None or req.longitude is None:
                missing = "latitude" if req.latitude is None else "longitude"
                raise SandboxError(
                    400, "latitude and longitude must be given together", key=missing
                )
            if not -90.0 <= req.latitude <= 90.0:
                raise SandboxError(400, "latitude or longitude out of range", key="latitude")
            if not -180.0 <= req.longitude <= 180.0:
                raise SandboxError(400, "latitude or longitude out of range", key="longitude")
            origin = (req.latitude, req.longitude)
        elif req.postal_code is not None:
            centroid = postal_centroid(req.postal_code)
            if centroid is None:
                return []  # a postal code the sandbox cannot place has no stores near it
            origin = centroid
        else:
            raise SandboxError(
                400, "postal_code or latitude and longitude are required", key="postal_code"
            )
        found = []
        for store in data.STORES:
            if fulfillment_type not in store.fulfillment_types:
                continue
            distance = haversine_miles(origin[0], origin[1], store.latitude, store.longitude)
            if distance <= self.config.search_radius_miles:
                found.append((distance, store.id, store))
        found.sort(key=lambda t: (t[0], t[1]))
        return [store_json(store, distance) for distance, _, store in found]

    def _store_for(self, store_id: str | None, fulfillment_type: str) -> Store:
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

    # ---- slots ---------------------------------------------------------------------------

    def _window_hours(self) -> range:
        c = self.config
        return range(
            c.slot_first_hour, c.slot_last_hour - c.slot_length_hours + 1, c.slot_length_hours
        )

    def slots_for(self, store: Store, fulfillment_type: str, now: datetime) -> list[Slot]:
        """Every window starting after now and within the next `slot_days` days."""
        tz = store_tz(store.id)
        horizon = now + timedelta(days=self.config.slot_days)
        length = timedelta(hours=self.config.slot_length_hours)
        first_day = now.astimezone(tz).date()
        slots = []
        for offset in range(self.config.slot_days + 1):
            day = first_day + timedelta(days=offset)
            for hour in self._window_hours():
                start = datetime(day.year, day.month, day.day, hour, tzinfo=tz).astimezone(UTC)
                if now < start <= horizon:
                    slots.append(Slot(fulfillment_type, store.id, start, start + length))
        return slots

    def parse_slot(self, slot_id: str, fulfillment_type: str, now: datetime) -> Slot | None:
        """The slot an id names, if it is a bookable window of this fulfillment type now."""
        parts = slot_id.split(".")
        if len(parts) != 3 or parts[0] != fulfillment_type:
            return None
        store = data.STORES_BY_ID.get(parts[1])
        if store is None or fulfillment_type not in store.fulfillment_types:
            return None
        try:
            start = datetime.strptime(parts[2], _SLOT_TIME_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            return None
        local = start.astimezone(store_tz(store.id))
        if local.minute or local.hour not in self._window_hours():
            return None
        if not now < start <= now + timedelta(days=self.config.slot_days):
            return None
        return Slot(
            fulfillment_type,
            store.id,
            start,
            start + timedelta(hours=self.config.slot_length_hours),
        )

    def _prune(self, now: datetime) -> None:
        """Forgets holds that ended over a day ago, so a long benchmark does not grow forever."""
        cutoff = now - timedelta(days=1)
        for hold_id in [h.id for h in self.holds.values() if h.expires_at < cutoff]:
            hold = self.holds.pop(hold_id)
            self.holds_by_slot[hold.slot.id].discard(hold_id)
            if self.user_holds.get(hold.user_id) == hold_id:
                del self.user_holds[hold.user_id]
        for token in [t for t, expires_at in self.tokens.items() if expires_at < now]:
            del self.tokens[token]

    def _hold_counts(self, hold: Hold, now: datetime) -> bool:
        return hold.state == "active" and hold.expires_at > now

    def _used(self, slot_id: str, now: datetime, exclude_hold: str | None = None) -> int:
        holds = sum(
            1
            for hid in self.holds_by_slot.get(slot_id, ())
            if hid != exclude_hold and self._hold_counts(self.holds[hid], now)
        )
        orders = sum(
            1
            for oid in self.orders_by_slot.get(slot_id, ())
            if self.orders[oid].status != "canceled"
        )
        return holds + orders

    def remaining(self, slot_id: str) -> int:
        with self._lock:
            return self.config.slot_capacity - self._used(slot_id, self.now())

    def preview(
        self, fulfillment_type: str, user_id: str, req: PreviewServiceOptionsRequest
    ) -> list[dict[str, Any]]:
        store = self._store_for(req.store_id, fulfillment_type)
        if fulfillment_type != PICKUP and req.address and req.address.postal_code:
            origin = postal_centroid(req.address.postal_code)
            if origin is not None:
                distance = haversine_miles(*origin, store.latitude, store.longitude)
                if distance > self.config.search_radius_miles:
                    raise SandboxError(
                        400,
                        "address is outside the store's delivery area",
                        key="address.postal_code",
                    )
        with self._lock:
            now = self.now()
            capacity = self.config.slot_capacity
            return [
                service_option_json(slot)
                for slot in self.slots_for(store, fulfillment_type, now)
                if self._used(slot.id, now) < capacity
            ]

    # ---- holds ---------------------------------------------------------------------------

    def reserve(
        self, fulfillment_type: str, user_id: str, req: ReserveTimeSlotRequest
    ) -> dict[str, Any]:
        if req.cart and req.cart.items:
            resolve_items(req.cart.items)
        with self._lock:
            now = self.now()
            slot = self.parse_slot(req.service_option_id, fulfillment_type, now)
            if slot is None:
                raise option_refusal(
                    req.service_option_id, fulfillment_type, now, self._window_hours()
                )
            previous_id = self.user_holds.get(user_id)
            if self._used(slot.id, now, exclude_hold=previous_id) >= self.config.slot_capacity:
                raise SandboxError(
                    400, "slot full", key="service_option_id", code=ErrorCode.SLOT_FULL
                )
            if previous_id is not None:
                previous = self.holds[previous_id]
                if previous.state == "active":
                    previous.state = "released"
                    self.holds_by_slot[previous.slot.id].discard(previous.id)
            hold = Hold(
                id=self._new_id("hold_"),
                user_id=user_id,
                slot=slot,
                created_at=now,
                expires_at=now + timedelta(seconds=self.config.hold_ttl_seconds),
            )
            self.holds[hold.id] = hold
            self.holds_by_slot[slot.id].add(hold.id)
            if len(self.holds) % 1000 == 0:
                self._prune(now)
            self.user_holds[user_id] = hold.id
            return hold_json(hold)

    # ---- orders --------------------------------------------------------------------------

    def create_order(
        self, fulfillment_type: str, user_id: str, req: CreateOrderRequest
    ) -> dict[str, Any]:
        if req.order_id is not None and (
            not _ORDER_ID_RE.match(req.order_id) or req.order_id in RESERVED_ORDER_IDS
        ):
            raise SandboxError(
                400,
                "order_id must be 1 to 64 letters, digits, '.', '_', ':' or '-' "
                "and not 'delivery' or 'pickup'",
                key="order_id",
            )
        if not (req.cart and req.cart.items):
            raise SandboxError(400, "cart.items must contain at least one item", key="cart")
        items = resolve_items(req.cart.items)
        units = sum(item["quantity"] for item in items)
        if fulfillment_type == DELIVERY and units > self.config.max_delivery_units:
            raise SandboxError(
                400,
                f"delivery orders are limited to {self.config.max_delivery_units} units "
                f"in total; this cart has {units}",
                key="cart",
            )
        with self._lock:
            now = self.now()
            if req.order_id is not None and req.order_id in self.orders:
                raise SandboxError(
                    400,
                    f"order_id {req.order_id} already exists",
                    key="order_id",
                    code=ErrorCode.ORDER_ID_EXISTS,
                )
            hold = self.holds.get(req.hold_id)
            if hold is not None and hold.user_id == user_id:
                if hold.slot.fulfillment_type != fulfillment_type:
                    raise _unusable_hold(f"hold_id is not a {fulfillment_type} hold")
                if hold.state == "consumed":
                    raise _unusable_hold(f"hold_id was already used by order {hold.order_id}")
                if hold.state == "released":
                    raise _unusable_hold("hold_id was replaced by a newer hold")
                slot = hold.slot
                if slot.starts_at <= now:
                    raise _unusable_hold("the held slot has already started")
            elif fulfillment_type == LAST_MILE and (
                parsed := self.parse_slot(req.hold_id, LAST_MILE, now)
            ):
                # a last-mile service option id is its own hold (previewed and reserved)
                hold, slot = None, parsed
            else:
                raise _unusable_hold("unknown hold_id")
            exclude = hold.id if hold is not None else None
            if self._used(slot.id, now, exclude_hold=exclude) >= self.config.slot_capacity:
                raise SandboxError(400, "slot full", key="hold_id", code=ErrorCode.SLOT_FULL)
            order_id = req.order_id
            while order_id is None or order_id in self.orders:
                order_id = self._new_id("ord_")
            address = (
                req.delivery_address.model_dump(exclude_none=True) if req.delivery_address else None
            )
            order = Order(
                id=order_id,
                user_id=user_id,
                fulfillment_type=fulfillment_type,
                slot=slot,
                status="brand_new",
                created_at=now,
                updated_at=now,
                items=items,
                hold_id=req.hold_id,
                delivery_address=address,
                delivery_instructions=req.delivery_instructions,
            )
            self.orders[order.id] = order
            self.orders_by_slot[slot.id].add(order.id)
            if hold is not None:
                hold.state = "consumed"
                self.holds_by_slot[slot.id].discard(hold.id)
                hold.order_id = order.id
            self._changed(order, None, now)
            return order_json(order)

    def _order_of(self, user_id: str | None, order_id: str) -> Order:
        order = self.orders.get(order_id)
        if order is None or (user_id is not None and order.user_id != user_id):
            raise SandboxError(404, "order not found", key="order_id")
        return order

    def get_order(self, user_id: str | None, order_id: str) -> dict[str, Any]:
        with self._lock:
            return order_json(self._order_of(user_id, order_id))

    def find_order(self, order_id: str) -> Order | None:
        with self._lock:
            return self.orders.get(order_id)

    def list_orders(
        self,
        user_id: str | None = None,
        status: str | None = None,
        fulfillment: str | None = None,
    ) -> list[dict[str, Any]]:
        """Every order, oldest first, optionally only those matching each filter given."""
        if fulfillment is not None and fulfillment not in FULFILLMENT_TYPES:
            raise SandboxError(
                400, f"fulfillment must be one of {', '.join(FULFILLMENT_TYPES)}", key="fulfillment"
            )
        with self._lock:
            # sorted() is stable: orders created at the same instant stay in creation order
            orders = sorted(self.orders.values(), key=lambda o: o.created_at)
            return [
                order_summary_json(order)
                for order in orders
                if (user_id is None or order.user_id == user_id)
                and (status is None or order.status == status)
                and (fulfillment is None or order.fulfillment_type == fulfillment)
            ]

    def cancel_order(self, user_id: str, order_id: str) -> dict[str, Any]:
        with self._lock:
            order = self._order_of(user_id, order_id)
            if order.status != "brand_new":
                raise SandboxError(
                    400,
                    f"order cannot be canceled in status {order.status}",
                    key="status",
                    code=ErrorCode.STATUS_NOT_ALLOWED,
                )
            self._set_status(order, "canceled")
            return order_json(order)

    def stage_order(self, order_id: str) -> dict[str, Any]:
        with self._lock:
            order = self._order_of(None, order_id)
            if order.fulfillment_type != LAST_MILE:
                raise SandboxError(400, "only last_mile orders can be staged", key="order_id")
            if order.status == "brand_new":
                self._set_status(order, "staging")
            elif order.status != "staging":
                raise SandboxError(
                    400,
                    f"order cannot be staged in status {order.status}",
                    key="status",
                    code=ErrorCode.STATUS_NOT_ALLOWED,
                )
            return order_json(order)

    def advance_order(self, order_id: str, status: str | None) -> dict[str, Any]:
        """Moves an order to the next status of its workflow, or to the status named."""
        with self._lock:
            order = self._order_of(None, order_id)
            if status is None:
                status = next_status(order)
                if status is None:
                    raise SandboxError(
                        409,
                        f"no next status after {order.status}; name the status to set",
                        key="status",
                        code=ErrorCode.STATUS_NOT_ALLOWED,
                    )
            if status != order.status:
                self._set_status(order, status)
            return order_json(order)

    def auto_advance_tick(self) -> list[tuple[str, str]]:
        """Moves every order one step along its workflow, as `advance` without a status does.

        Orders at the end of their workflow, canceled, or off it (a status set by name, such
        as rescheduled) stay. Answers the (order id, new status) of each move, oldest first.
        """
        moved = []
        with self._lock:
            for order in list(self.orders.values()):  # insertion order: oldest first
                status = next_status(order)
                if status is not None:
                    self._set_status(order, status)
                    moved.append((order.id, status))
        return moved

    def _set_status(self, order: Order, status: str) -> None:
        previous = order.status
        now = self.now()
        order.status = status
        order.updated_at = now
        if status in _ITEMS_FOUND_AFTER:
            for item in order.items:
                if item["status"] == "pending":
                    item["status"] = "found"
        self._changed(order, previous, now)

    def _changed(self, order: Order, previous: str | None, now: datetime) -> None:
        change = StatusChange(order=order, status=order.status, previous=previous, at=now)
        for listener in self.listeners:
            listener(change)


def next_status(order: Order) -> str | None:
    """The status after the order's in its workflow; None at the end or off the workflow."""
    workflow = WORKFLOWS[order.fulfillment_type]
    if order.status not in workflow or order.status == workflow[-1]:
        return None
    return workflow[workflow.index(order.status) + 1]


def option_refusal(
    option_id: str, fulfillment_type: str, now: datetime, window_hours: range
) -> SandboxError:
    """Why a service option cannot be held, as precisely as its id tells."""
    parts = option_id.split(".")
    try:
        start = datetime.strptime(parts[2], _SLOT_TIME_FORMAT).replace(tzinfo=UTC)
    except (IndexError, ValueError):
        start = None
    if start is None or len(parts) != 3 or parts[0] not in FULFILLMENT_TYPES:
        return SandboxError(400, "malformed service_option_id", key="service_option_id")
    if parts[0] != fulfillment_type:
        return SandboxError(
            400,
            f"service_option_id is a {parts[0]} option, not {fulfillment_type}",
            key="service_option_id",
            code=ErrorCode.SERVICE_OPTION_WRONG_TYPE,
        )
    store = data.STORES_BY_ID.get(parts[1])
    local = start.astimezone(store_tz(store.id)) if store is not None else None
    if local is not None and not local.minute and local.hour in window_hours and start <= now:
        return SandboxError(
            400,
            "service_option_id has already started",
            key="service_option_id",
            code=ErrorCode.SERVICE_OPTION_STARTED,
        )
    return SandboxError(
        400,
        "unknown or unavailable service_option_id",
        key="service_option_id",
        code=ErrorCode.SERVICE_OPTION_UNAVAILABLE,
    )


def _unusable_hold(message: str) -> SandboxError:
    return SandboxError(400, message, key="hold_id", code=ErrorCode.HOLD_UNUSABLE)


def resolve_items(cart_items: list[CartItem]) -> list[dict[str, Any]]:
    """Order items with catalog names; an item the catalog lacks keeps a generic name."""
    items = []
    for i, item in enumerate(cart_items):
        if not item.upc and not item.product_id:
            raise SandboxError(
                400, f"cart.items.{i}: upc or product_id is required", key=f"cart.items.{i}"
            )
        product = (data.PRODUCTS_BY_UPC.get(item.upc) if item.upc else None) or (
            data.PRODUCTS_BY_ID.get(item.product_id) if item.product_id else None
        )
        out: dict[str, Any] = {}
        if product is not None:
            out.update(product_id=product.product_id, upc=product.upc, name=product.name)
        else:
            if item.product_id:
                out["product_id"] = item.product_id
            if item.upc:
                out["upc"] = item.upc
            out["name"] = f"Item {item.upc or item.product_id}"
        out["quantity"] = item.quantity if item.quantity is not None else 1
        out["status"] = "pending"
        items.append(out)
    return items


def store_json(store: Store, distance: float | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": store.id,
        "name": store.name,
        "address": {
            "address_line_1": store.address_line_1,
            "city": store.city,
            "state": store.state,
            "postal_code": store.postal_code,
        },
    }
    if distance is not None:
        out["distance"] = round(distance, 2)
    return out


def service_option_json(slot: Slot) -> dict[str, Any]:
    return {
        "id": slot.id,
        "date": slot.local_date.isoformat(),
        "window_starts_at": iso(slot.starts_at),
        "window_ends_at": iso(slot.ends_at),
        "fulfillment_type": slot.fulfillment_type,
    }


def hold_json(hold: Hold) -> dict[str, Any]:
    return {
        "hold_id": hold.id,
        "expires_at": iso(hold.expires_at),
        "service_option": service_option_json(hold.slot),
    }


def order_json(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "status": order.status,
        "created_at": iso(order.created_at),
        "fulfillment_type": order.fulfillment_type,
        "service_option": service_option_json(order.slot),
        "store": store_json(data.STORES_BY_ID[order.slot.store_id]),
        "items": [dict(item) for item in order.items],
    }


def order_summary_json(order: Order) -> dict[str, Any]:
    """An order as GET /sandbox/orders lists it: who, what, where, and its state."""
    return {
        "id": order.id,
        "user_id": order.user_id,
        "status": order.status,
        "fulfillment": order.fulfillment_type,
        "store_id": order.slot.store_id,
        "hold_id": order.hold_id,
        "created_at": iso(order.created_at),
        "updated_at": iso(order.updated_at),
    }
