"""Orders: idempotent placement, reads scoped to their owner, cancel and staff staging.

Placement records intent before it calls Instacart (DESIGN.md, "Checkout"): one transaction
claims the Idempotency-Key and writes the order row as ``pending`` under a new retailer order
id; Instacart is then asked to create the order *with that id*; the outcome is recorded as
``created`` or ``failed``. An ambiguous outcome becomes ``unknown`` and is settled by GETting
the order by its id. Because Instacart refuses a second order with the same id, re-sending a
create for an order that GET did not find can never make two orders.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.checkout.catalog import Catalog, to_upstream_address
from app.checkout.reservations import ReservationRecord, ReservationStore
from app.checkout.schemas import Address, Order, OrderPage, OrderRequest, check_delivery_units
from app.checkout.upstream_errors import (
    is_duplicate_order,
    is_hold_unusable,
    is_slot_full,
    translate,
)
from app.db.idempotency import ClaimOutcome, IdempotencyRepository
from app.db.models import Order as OrderRow
from app.db.orders import OrdersRepository
from app.errors import (
    AppError,
    DependencyUnavailable,
    IdempotencyKeyReused,
    NotFound,
    OrderNotCancelable,
    OrderNotStageable,
    RequestInProgress,
    ReservationExpired,
    SlotUnavailable,
    ValidationFailed,
)
from app.instacart.client import InstacartClient
from app.instacart.errors import InstacartBadRequest, InstacartError, InstacartNotFound
from app.instacart.models import TERMINAL_ORDER_STATUSES, Cart, CartItem, CreateOrderRequest
from app.instacart.models import Order as UpstreamOrder
from app.metrics import ORDERS_PLACED
from app.ratelimit import RateLimiter

log = structlog.get_logger("app.checkout.orders")

CREATED = 201


@dataclass(frozen=True, slots=True)
class Placement:
    """The answer to a placement: what to send, and whether it is a replay."""

    status: int
    body: dict[str, Any]
    replayed: bool = False


def new_order_id() -> str:
    return "ord_" + secrets.token_urlsafe(15)


def request_fingerprint(request: OrderRequest) -> str:
    canonical = orjson.dumps(request.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def order_view(row: OrderRow) -> Order:
    status = row.status or "brand_new"
    return Order(
        id=row.id,
        status=status,
        fulfillment=row.fulfillment,  # type: ignore[arg-type]
        store_id=row.store_id,
        slot=row.slot,  # type: ignore[arg-type]
        items=row.items,  # type: ignore[arg-type]
        created_at=row.created_at,
        updated_at=row.updated_at,
        cancelable=status == "brand_new",
    )


def _upstream_items(order: UpstreamOrder) -> list[dict[str, Any]]:
    return [item.model_dump(mode="json") for item in order.items]


class OrderService:
    def __init__(
        self,
        *,
        client: InstacartClient,
        sessions: async_sessionmaker[AsyncSession],
        reservations: ReservationStore,
        catalog: Catalog,
        limiter: RateLimiter,
        idempotency_ttl_seconds: int,
        idempotency_lock_seconds: int,
        replay_wait_seconds: float,
        refresh_after_seconds: float,
    ) -> None:
        self.client = client
        self.sessions = sessions
        self.reservations = reservations
        self.catalog = catalog
        self.limiter = limiter
        self.idempotency_ttl = idempotency_ttl_seconds
        self.idempotency_lock = idempotency_lock_seconds
        self.replay_wait = replay_wait_seconds
        self.refresh_after = refresh_after_seconds

    # --- placement --------------------------------------------------------------------------

    async def place(self, user_id: str, key: str, request: OrderRequest) -> Placement:
        reservation = await self.reservations.get(request.reservation_id, user_id)
        if reservation is None:
            raise ReservationExpired("This reservation is unknown or has expired; reserve again.")
        try:
            check_delivery_units(reservation.fulfillment, request.items)
        except ValueError as exc:
            raise ValidationFailed(
                str(exc), errors=[{"field": "items", "message": str(exc)}]
            ) from exc
        if reservation.fulfillment != "pickup" and request.address is None:
            message = "an address is required for delivery and last-mile orders"
            raise ValidationFailed(message, errors=[{"field": "address", "message": message}])

        fingerprint = request_fingerprint(request)
        intent = self._intent(new_order_id(), user_id, reservation, request)
        async with self.sessions() as session, session.begin():
            claim = await IdempotencyRepository(session).claim(
                user_id, key, fingerprint, intent.id, self.idempotency_lock, self.idempotency_ttl
            )
            if claim.outcome is ClaimOutcome.CLAIMED:
                # Only new placements count against the limit, not retries of one; over the
                # limit, the rollback takes the claim back with it.
                await self.limiter.hit(user_id)
                await OrdersRepository(session).add(intent)

        if claim.outcome is ClaimOutcome.COMPLETED:
            return self._replay(claim.response_status, claim.response_body)
        if claim.outcome is ClaimOutcome.MISMATCH:
            raise IdempotencyKeyReused("This Idempotency-Key was used with another request body.")
        if claim.outcome is ClaimOutcome.IN_PROGRESS:
            return await self._await_first(user_id, key)
        assert claim.order_id is not None
        if claim.outcome is ClaimOutcome.RECLAIMABLE:
            # An earlier attempt with this key died midway: settle its order, never a new one.
            return await self._resume(user_id, key, claim.order_id)
        return await self._submit(user_id, key, intent)

    def _intent(
        self, order_id: str, user_id: str, reservation: ReservationRecord, request: OrderRequest
    ) -> OrderRow:
        return OrderRow(
            id=order_id,
            user_id=user_id,
            fulfillment=reservation.fulfillment,
            store_id=reservation.store_id,
            slot=reservation.slot.model_dump(mode="json"),
            items=[
                {**item.model_dump(exclude_none=True), "name": None, "status": None}
                for item in request.items
            ],
            placement_state="pending",
            hold_id=reservation.hold_id,
            reservation_id=reservation.id,
            address=request.address.model_dump(exclude_none=True) if request.address else None,
            instructions=request.instructions,
        )

    def _replay(self, status: int | None, body: Any) -> Placement:
        ORDERS_PLACED.labels("replayed").inc()
        # Postgres's JSONB reorders keys; through the model the replay is byte-for-byte the same.
        return Placement(
            status or CREATED, Order.model_validate(body).model_dump(mode="json"), replayed=True
        )

    async def _await_first(self, user_id: str, key: str) -> Placement:
        """A duplicate of a request still running: wait briefly for its answer, else 409."""
        deadline = time.monotonic() + self.replay_wait
        pause = 0.02
        while time.monotonic() < deadline:
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.25)
            async with self.sessions() as session:
                record = await IdempotencyRepository(session).get(user_id, key)
            if record is None:
                break  # the first attempt failed definitively and gave the key back
            if record.state == "completed":
                return self._replay(record.response_status, record.response_body)
        raise RequestInProgress(
            "A request with this Idempotency-Key is still being processed; retry shortly."
        )

    async def _submit(self, user_id: str, key: str, row: OrderRow) -> Placement:
        """Ask Instacart to create the order recorded as ``row``, under the row's id."""
        order_id = row.id
        request = CreateOrderRequest(
            hold_id=row.hold_id or "",
            order_id=row.id,
            cart=Cart(
                items=[
                    CartItem(
                        upc=i.get("upc"), product_id=i.get("product_id"), quantity=i["quantity"]
                    )
                    for i in row.items
                ]
            ),
            delivery_address=to_upstream_address(Address(**row.address) if row.address else None),
            delivery_instructions=row.instructions,
        )
        create = {
            "delivery": self.client.create_delivery_order,
            "pickup": self.client.create_pickup_order,
            "last_mile": self.client.create_last_mile_order,
        }[row.fulfillment]
        try:
            upstream = await create(user_id, request)
        except InstacartError as exc:
            if is_duplicate_order(exc):
                # Our id already exists upstream: an earlier attempt did create it.
                return await self._resume(user_id, key, order_id)
            if exc.ambiguous:
                await self._mark_unknown(order_id)
                ORDERS_PLACED.labels("unknown").inc()
                raise translate(exc) from exc
            raise await self._refused(user_id, key, row, exc) from exc
        return await self._record_created(user_id, key, order_id, upstream)

    async def _resume(self, user_id: str, key: str, order_id: str) -> Placement:
        try:
            upstream = await self.client.get_order(user_id, order_id)
        except InstacartNotFound:
            # Instacart never got the order: sending it again under the same id is safe.
            async with self.sessions() as session:
                row = await OrdersRepository(session).get_by_id(order_id)
            assert row is not None, "a claimed key's order row is written with the claim"
            return await self._submit(user_id, key, row)
        except InstacartError as exc:
            raise translate(exc) from exc
        return await self._record_created(user_id, key, order_id, upstream)

    async def _record_created(
        self, user_id: str, key: str, order_id: str, upstream: UpstreamOrder
    ) -> Placement:
        try:
            async with self.sessions() as session, session.begin():
                row = await OrdersRepository(session).mark_created(
                    order_id, upstream.status, items=_upstream_items(upstream)
                )
                if row is None:  # the reconciler settled it first
                    row = await OrdersRepository(session).get_by_id(order_id)
                assert row is not None
                body = order_view(row).model_dump(mode="json")
                await IdempotencyRepository(session).complete(user_id, key, CREATED, body)
        except AppError:
            raise
        except Exception as exc:
            # Instacart has the order; the row stays pending and the reconciler restores it.
            log.error("order.record_failed", order_id=order_id, error=type(exc).__name__)
            raise DependencyUnavailable(
                "The order was placed but could not be recorded yet; retry with the same "
                "Idempotency-Key shortly."
            ) from exc
        ORDERS_PLACED.labels("created").inc()
        log.info("order.created", order_id=order_id, fulfillment=row.fulfillment)
        return Placement(CREATED, body)

    async def _mark_unknown(self, order_id: str) -> None:
        async with self.sessions() as session, session.begin():
            await OrdersRepository(session).mark_unknown(order_id)

    async def _refused(
        self, user_id: str, key: str, row: OrderRow, exc: InstacartError
    ) -> AppError:
        """Record a definitive refusal and give the key back, so a corrected retry may use it."""
        error: AppError
        if is_slot_full(exc):
            await self.catalog.invalidate_slots(row.fulfillment, row.store_id)
            expired = await self._hold_expired(row)
            error = (
                ReservationExpired("The hold expired and the slot is now full; reserve again.")
                if expired
                else SlotUnavailable("The time slot is full.")
            )
        elif is_hold_unusable(exc):
            error = ReservationExpired("The reservation is no longer valid; reserve again.")
        elif isinstance(exc, InstacartBadRequest):
            error = ValidationFailed(f"Instacart refused the order: {exc.upstream_message}")
        else:
            error = translate(exc)
        async with self.sessions() as session, session.begin():
            await OrdersRepository(session).mark_failed(row.id, error.code, exc.upstream_message)
            await IdempotencyRepository(session).release(user_id, key)
        ORDERS_PLACED.labels("failed").inc()
        log.info("order.refused", order_id=row.id, code=error.code)
        return error

    async def _hold_expired(self, row: OrderRow) -> bool:
        reservation = (
            await self.reservations.get(row.reservation_id, row.user_id)
            if row.reservation_id
            else None
        )
        expires_at = reservation.expires_at if reservation else None
        return expires_at is None or expires_at <= datetime.now(UTC)

    # --- reads and changes ------------------------------------------------------------------

    async def list(self, user_id: str, limit: int, cursor: str | None) -> OrderPage:
        async with self.sessions() as session:
            try:
                # Only placed orders: a pending or failed placement is not an order to the user.
                rows, next_cursor = await OrdersRepository(session).list_for_user(
                    user_id, limit, cursor, placement_states=("created",)
                )
            except ValueError as exc:
                raise ValidationFailed(
                    "The cursor is not valid.", errors=[{"field": "cursor", "message": str(exc)}]
                ) from exc
        return OrderPage(orders=[order_view(row) for row in rows], next_cursor=next_cursor)

    async def get(self, user_id: str, order_id: str) -> Order:
        row = await self._owned(user_id, order_id)
        if row.status in TERMINAL_ORDER_STATUSES or self._recent(row):
            return order_view(row)
        try:
            upstream = await self.client.get_order(user_id, order_id)
        except InstacartError:
            # The stored status is still a true answer, only older: better than an error page.
            return order_view(row)
        return await self._apply_status(row, upstream.status)

    async def cancel(self, user_id: str, order_id: str) -> Order:
        row = await self._owned(user_id, order_id)
        try:
            upstream = await self.client.cancel_order(user_id, order_id)
        except InstacartBadRequest as exc:
            raise OrderNotCancelable("Instacart no longer allows cancelling this order.") from exc
        except InstacartError as exc:
            raise translate(exc) from exc
        return await self._apply_status(row, upstream.status)

    async def stage(self, order_id: str) -> Order:
        async with self.sessions() as session:
            row = await OrdersRepository(session).get_by_id(order_id)
        if row is None or row.placement_state != "created":
            raise NotFound("No such order.")
        if row.fulfillment != "last_mile":
            raise OrderNotStageable("Only last-mile orders are staged at the store.")
        try:
            upstream = await self.client.stage_last_mile_order(order_id)
        except InstacartBadRequest as exc:
            raise OrderNotStageable(
                f"Instacart cannot stage this order: {exc.upstream_message}"
            ) from exc
        except InstacartError as exc:
            raise translate(exc) from exc
        return await self._apply_status(row, upstream.status)

    async def _owned(self, user_id: str, order_id: str) -> OrderRow:
        async with self.sessions() as session:
            row = await OrdersRepository(session).get_for_user(order_id, user_id)
        # Someone else's order and an unplaced one look exactly like no order at all.
        if row is None or row.placement_state != "created":
            raise NotFound("No such order.")
        return row

    def _recent(self, row: OrderRow) -> bool:
        return (datetime.now(UTC) - row.updated_at).total_seconds() < self.refresh_after

    async def _apply_status(self, row: OrderRow, status: str) -> Order:
        async with self.sessions() as session, session.begin():
            repo = OrdersRepository(session)
            await repo.update_status(row.id, status, datetime.now(UTC))
            fresh = await repo.get_by_id(row.id)
        assert fresh is not None
        return order_view(fresh)
