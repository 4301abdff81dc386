"""SandboxState: the sandbox's whole world behind one lock, and the operations routes call.

Each concern keeps its records in a module of its own: issued tokens (`access_tokens.py`), call
counts (`call_stats.py`), the slot grid (`slot_grid.py`), holds (`holds.py`), orders and their
status moves (`order_book.py`). One operation may touch several of them (an order consumes a
hold and takes capacity from its slot, which holds and orders share), so the one lock is here,
over all of them, and concurrent requests (and uvicorn's threads, if any) see consistent
capacity. The routes only parse, authenticate and serialise; the rules of UPSTREAM.md section 2
are enforced by this class and the modules beneath it.
"""

from __future__ import annotations

import random
import threading
from datetime import datetime, timedelta
from typing import Any

from sandbox.access_tokens import AccessTokens
from sandbox.call_stats import CallStats
from sandbox.carts import order_items, resolve_items
from sandbox.config import SandboxConfig
from sandbox.data import LAST_MILE
from sandbox.errors import ErrorCode, SandboxError
from sandbox.holds import Hold, HoldBook, unusable_hold
from sandbox.models import (
    CreateOrderRequest,
    FindStoresRequest,
    PreviewServiceOptionsRequest,
    ReserveTimeSlotRequest,
)
from sandbox.order_book import Listener, Order, OrderBook, check_order_id
from sandbox.response_bodies import (
    hold_json,
    order_json,
    order_summary_json,
    service_option_json,
    store_json,
)
from sandbox.slot_grid import Slot, SlotGrid
from sandbox.store_search import find_stores, store_to_preview


def _slot_full(key: str) -> SandboxError:
    return SandboxError(400, "slot full", key=key, code=ErrorCode.SLOT_FULL)


class SandboxState:
    """The sandbox's whole mutable world; `reset()` brings it back to its first state."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self._lock = threading.RLock()
        self._grid = SlotGrid(config)
        # told of every order's status change; kept across resets (the callback sender)
        self.listeners: list[Listener] = []
        self.reset()

    # ---- lifecycle and bookkeeping -------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self._rng = random.Random(self.config.seed)
            self._tokens = AccessTokens()
            self._calls = CallStats()
            self._holds = HoldBook()
            self._orders = OrderBook(self.now, self.listeners)

    def now(self) -> datetime:
        return self.config.clock()

    # what a long run keeps in memory, read by the tests of pruning
    @property
    def tokens(self) -> dict[str, datetime]:
        return self._tokens.expiries

    @property
    def holds(self) -> dict[str, Hold]:
        return self._holds.holds

    @property
    def user_holds(self) -> dict[str, str]:
        return self._holds.user_holds

    def record_call(self, operation_id: str, traceparent: str | None = None) -> None:
        with self._lock:
            self._calls.record_call(operation_id, traceparent)

    def record_status(self, operation_id: str, status: int) -> None:
        with self._lock:
            self._calls.record_status(operation_id, status)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            now = self.now()
            return {
                **self._calls.as_json(),
                "tokens_issued": self._tokens.issued,
                "tokens_active": self._tokens.active(now),
                "orders": len(self._orders),
                "holds_active": self._holds.active(now),
            }

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{self._rng.getrandbits(64):016x}"

    def _prune(self, now: datetime) -> None:
        self._holds.prune(now)
        self._tokens.prune(now)

    # ---- tokens --------------------------------------------------------------------------

    def issue_token(self, ttl_seconds: int) -> tuple[str, datetime]:
        with self._lock:
            created = self.now()
            return self._tokens.issue(created, ttl_seconds), created

    def token_valid(self, token: str) -> bool:
        with self._lock:
            return self._tokens.valid(token, self.now())

    def revoke_tokens(self) -> int:
        with self._lock:
            return self._tokens.revoke_all()

    # ---- stores and slots ----------------------------------------------------------------

    def find_stores(self, fulfillment_type: str, req: FindStoresRequest) -> list[dict[str, Any]]:
        radius = self.config.search_radius_miles
        return [store_json(s, d) for s, d in find_stores(fulfillment_type, req, radius)]

    def _has_room(self, slot_id: str, now: datetime, exclude_hold: str | None = None) -> bool:
        """Whether a slot has capacity left: its live holds and live orders take it."""
        used = self._holds.held(slot_id, now, exclude_hold) + self._orders.booked(slot_id)
        return used < self.config.slot_capacity

    def preview(
        self, fulfillment_type: str, user_id: str, req: PreviewServiceOptionsRequest
    ) -> list[dict[str, Any]]:
        store = store_to_preview(fulfillment_type, req, self.config.search_radius_miles)
        with self._lock:
            now = self.now()
            return [
                service_option_json(slot)
                for slot in self._grid.slots_for(store, fulfillment_type, now)
                if self._has_room(slot.id, now)
            ]

    # ---- holds ---------------------------------------------------------------------------

    def reserve(
        self, fulfillment_type: str, user_id: str, req: ReserveTimeSlotRequest
    ) -> dict[str, Any]:
        if req.cart and req.cart.items:
            resolve_items(req.cart.items)
        with self._lock:
            now = self.now()
            slot = self._grid.parse(req.service_option_id, fulfillment_type, now)
            if slot is None:
                raise self._grid.refusal(req.service_option_id, fulfillment_type, now)
            # the hold this one replaces gives its capacity back
            if not self._has_room(slot.id, now, self._holds.current_of(user_id)):
                raise _slot_full("service_option_id")
            hold = Hold(
                id=self._new_id("hold_"),
                user_id=user_id,
                slot=slot,
                created_at=now,
                expires_at=now + timedelta(seconds=self.config.hold_ttl_seconds),
            )
            self._holds.replace(hold)
            if len(self._holds.holds) % 1000 == 0:
                self._prune(now)
            return hold_json(hold)

    # ---- orders --------------------------------------------------------------------------

    def create_order(
        self, fulfillment_type: str, user_id: str, req: CreateOrderRequest
    ) -> dict[str, Any]:
        check_order_id(req.order_id)
        items = order_items(req.cart, fulfillment_type, self.config.max_delivery_units)
        with self._lock:
            now = self.now()
            self._orders.check_new(req.order_id)
            hold, slot = self._booking(fulfillment_type, user_id, req.hold_id, now)
            if not self._has_room(slot.id, now, hold.id if hold is not None else None):
                raise _slot_full("hold_id")
            order_id = req.order_id
            while order_id is None or order_id in self._orders:
                order_id = self._new_id("ord_")
            address = req.delivery_address
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
                delivery_address=address.model_dump(exclude_none=True) if address else None,
                delivery_instructions=req.delivery_instructions,
            )
            if hold is not None:
                self._holds.consume(hold, order.id)
            self._orders.add(order)
            return order_json(order)

    def _booking(
        self, fulfillment_type: str, user_id: str, hold_id: str, now: datetime
    ) -> tuple[Hold | None, Slot]:
        """The user's hold an order books with, and its slot."""
        hold = self._holds.own(hold_id, user_id)
        if hold is not None:
            hold.check_bookable(fulfillment_type, now)
            return hold, hold.slot
        if fulfillment_type == LAST_MILE and (slot := self._grid.parse(hold_id, LAST_MILE, now)):
            # a last-mile service option id is its own hold (previewed and reserved)
            return None, slot
        raise unusable_hold("unknown hold_id")

    def get_order(self, user_id: str | None, order_id: str) -> dict[str, Any]:
        with self._lock:
            return order_json(self._orders.of(user_id, order_id))

    def list_orders(
        self,
        user_id: str | None = None,
        status: str | None = None,
        fulfillment: str | None = None,
    ) -> list[dict[str, Any]]:
        """Every order, oldest first, optionally only those matching each filter given."""
        with self._lock:
            orders = self._orders.matching(user_id, status, fulfillment)
            return [order_summary_json(order) for order in orders]

    def cancel_order(self, user_id: str, order_id: str) -> dict[str, Any]:
        with self._lock:
            order = self._orders.of(user_id, order_id)
            self._orders.cancel(order)
            return order_json(order)

    def stage_order(self, order_id: str) -> dict[str, Any]:
        with self._lock:
            order = self._orders.of(None, order_id)
            self._orders.stage(order)
            return order_json(order)

    def advance_order(self, order_id: str, status: str | None) -> dict[str, Any]:
        """Moves an order to the next status of its workflow, or to the status named."""
        with self._lock:
            order = self._orders.of(None, order_id)
            self._orders.advance(order, status)
            return order_json(order)

    def auto_advance_tick(self) -> list[tuple[str, str]]:
        """Moves every order one step along its workflow (see `OrderBook.advance_all`)."""
        with self._lock:
            return self._orders.advance_all()
