"""Placing an order: intent first, one Instacart order per retailer order id, bounded retries.

One transaction claims the Idempotency-Key and writes the order row as ``pending`` under a new
retailer order id, holding attempt 1 and a lease; Instacart is then asked to create the order
*with that id*. A retry with the same key resumes the same order: it takes a new attempt (only
when no lease is live), looks the order up, and re-sends the create only when Instacart does
not have it. Instacart refuses a second order with an id it knows, so re-sending can never
make two orders. Every outcome is a move of the state machine (`app.orders.state_machine`).

A completed key answers from its stored response before anything else is read, so a replay
needs neither the reservation nor Redis. On Postgres the claim, the reservation check and the
intent are one statement (`app.orders.intent`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.instacart.client import InstacartClient
from app.instacart.errors import InstacartBadRequest, InstacartError, InstacartNotFound
from app.instacart.models import Cart, CartItem, CreateOrderRequest, UpstreamOrder
from app.instacart.refusals import Refusal, classify, translate
from app.orders.events import OrderEvents
from app.orders.idempotency import ClaimOutcome, ClaimResult, IdempotencyRepository
from app.orders.intent import one_statement_intent, record_intent
from app.orders.outcomes import PlacementOutcomes
from app.orders.repository import OrdersRepository
from app.orders.schemas import Order, OrderRequest
from app.orders.state_machine import Actor, OrderStateMachine
from app.orders.tables import OrderRow
from app.orders.vocabulary import FulfillmentType, IdempotencyState, PlacementState
from app.platform.dependency_failures import is_dependency_failure
from app.platform.errors import (
    AppError,
    DependencyUnavailable,
    IdempotencyKeyReused,
    RequestInProgress,
    ReservationExpired,
    ReservationNotFound,
    ReservationUsed,
    SlotUnavailable,
    UpstreamUnavailable,
    ValidationFailed,
)
from app.platform.metrics import ORDERS_PLACED
from app.platform.rate_limits import RateLimiter
from app.reservations.schemas import check_delivery_units
from app.reservations.service import ReservationRecord, ReservationStore
from app.stores.schemas import Address
from app.stores.slot_catalog import SlotCatalog, to_upstream_address

log = structlog.get_logger("app.orders.placement")

# Lookups and creates for one request: a create, then (when Instacart says the id exists) a
# lookup and at most one more create. Beyond that the order is left to the reconciler.
MAX_CREATE_ROUNDS = 2


# The storefront errors a failed placement was recorded with, to answer a retry of its key.
_FAILURE_ERRORS: dict[str, type[AppError]] = {
    cls.code: cls for cls in (SlotUnavailable, ReservationExpired, ValidationFailed)
}


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    """The order a placement made (or, on a replay, made earlier), as its owner sees it."""

    order: dict[str, Any]
    replayed: bool = False


def new_order_id() -> str:
    return "ord_" + secrets.token_urlsafe(15)


def request_fingerprint(request: OrderRequest) -> str:
    canonical = orjson.dumps(request.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def _check(fulfillment: str | None, used_by: str | None, request: OrderRequest) -> None:
    """Refuse a placement its reservation does not allow (`fulfillment` None: no reservation)."""
    if fulfillment is None:
        # Unknown, past retention, or another user's: the same answer, so nothing leaks.
        raise ReservationNotFound(
            "There is no such reservation of yours: reserve a slot again.", param="reservation_id"
        )
    try:
        check_delivery_units(fulfillment, request.items)
    except ValueError as exc:
        raise ValidationFailed(str(exc), errors=[{"field": "items", "message": str(exc)}]) from exc
    if FulfillmentType(fulfillment).needs_address and request.address is None:
        message = "an address is required for delivery and last-mile orders"
        raise ValidationFailed(message, errors=[{"field": "address", "message": message}])
    if used_by is not None:
        # An order the customer already has: say which, rather than ask Instacart to refuse
        # the used hold.
        raise ReservationUsed(used_by)


def _intent_items(request: OrderRequest) -> list[dict[str, Any]]:
    return [
        {**item.model_dump(exclude_none=True), "name": None, "status": None}
        for item in request.items
    ]


def _intent_address(request: OrderRequest) -> dict[str, Any] | None:
    return request.address.model_dump(exclude_none=True) if request.address else None


def _intent(
    order_id: str, user_id: str, reservation: ReservationRecord, request: OrderRequest
) -> OrderRow:
    return OrderRow(
        id=order_id,
        user_id=user_id,
        fulfillment=reservation.fulfillment,
        store_id=reservation.store_id,
        slot=reservation.slot.model_dump(mode="json"),
        items=_intent_items(request),
        placement_state=PlacementState.PENDING,
        hold_id=reservation.hold_id,
        reservation_id=reservation.id,
        address=_intent_address(request),
        instructions=request.instructions,
    )


def _create_request(row: OrderRow) -> CreateOrderRequest:
    return CreateOrderRequest(
        hold_id=row.hold_id or "",
        order_id=row.id,
        cart=Cart(
            items=[
                CartItem(upc=i.get("upc"), product_id=i.get("product_id"), quantity=i["quantity"])
                for i in row.items
            ]
        ),
        delivery_address=to_upstream_address(Address(**row.address) if row.address else None),
        delivery_instructions=row.instructions,
    )


class PlacementService:
    def __init__(
        self,
        *,
        client: InstacartClient,
        sessions: async_sessionmaker[AsyncSession],
        reservations: ReservationStore,
        catalog: SlotCatalog,
        limiter: RateLimiter,
        idempotency_ttl_seconds: int,
        idempotency_lock_seconds: int,
        replay_wait_seconds: float,
        lease_seconds: float,
        events: OrderEvents,
    ) -> None:
        self.events = events
        self.client = client
        self.sessions = sessions
        self.reservations = reservations
        self.catalog = catalog
        self.limiter = limiter
        self.idempotency_ttl = idempotency_ttl_seconds
        self.idempotency_lock = idempotency_lock_seconds
        self.replay_wait = replay_wait_seconds
        self.lease_seconds = lease_seconds

    async def place(self, user_id: str, key: str, request: OrderRequest) -> PlacedOrder:
        fingerprint = request_fingerprint(request)
        order_id = new_order_id()
        async with self.sessions() as session, session.begin():
            # Anything refused in this transaction rolls the claim back with it, so the key
            # stays free for a corrected request.
            claim, intent = await self._claim(session, user_id, key, fingerprint, order_id, request)

        if claim.outcome is ClaimOutcome.COMPLETED:
            return self._replay(claim.response_body)
        if claim.outcome is ClaimOutcome.MISMATCH:
            raise IdempotencyKeyReused("This Idempotency-Key was used with another request body.")
        if claim.outcome is ClaimOutcome.IN_PROGRESS:
            return await self._await_first(user_id, key)
        if claim.outcome is ClaimOutcome.RECLAIMABLE:
            assert claim.order_id is not None
            return await self._resume(user_id, key, claim.order_id)
        assert intent is not None
        return await self._drive(user_id, key, intent, Actor.REQUEST, look_first=False)

    async def _claim(
        self,
        session: AsyncSession,
        user_id: str,
        key: str,
        fingerprint: str,
        order_id: str,
        request: OrderRequest,
    ) -> tuple[ClaimResult, OrderRow | None]:
        """Claim the key and, when it is new, write the order's intent; or say why not.

        A completed key replays from its stored answer before anything else is read (the one
        statement reads the reservation beside it, but a replay needs neither it nor Redis).
        """
        if one_statement_intent(session):
            written = await record_intent(
                session,
                user_id=user_id,
                key=key,
                fingerprint=fingerprint,
                order_id=order_id,
                reservation_id=request.reservation_id,
                items=_intent_items(request),
                address=_intent_address(request),
                instructions=request.instructions,
                lock=timedelta(seconds=self.idempotency_lock),
                ttl=timedelta(seconds=self.idempotency_ttl),
                lease=timedelta(seconds=self.lease_seconds),
            )
            if written.claimed:
                _check(written.fulfillment, written.used_by, request)
                # Only new placements count against the limit.
                await self.limiter.hit(user_id)
                assert written.row is not None, "a claimed key with its reservation is written"
                return ClaimResult(ClaimOutcome.CLAIMED, order_id=order_id), written.row
            stored = written.stored
            if stored is not None and not stored.expired:
                if stored.fingerprint != fingerprint:
                    return ClaimResult(ClaimOutcome.MISMATCH), None
                if stored.state == IdempotencyState.COMPLETED:
                    completed = ClaimResult(
                        ClaimOutcome.COMPLETED,
                        order_id=stored.order_id,
                        response_status=stored.response_status,
                        response_body=stored.response_body,
                    )
                    return completed, None
        # A claim in flight, crashed or past its retention (or a database without the
        # one-statement intent): the general path, which locks the key's record.
        claim = await IdempotencyRepository(session).claim(
            user_id, key, fingerprint, order_id, self.idempotency_lock, self.idempotency_ttl
        )
        if claim.outcome is not ClaimOutcome.CLAIMED:
            return claim, None
        return claim, await self._intent_in_steps(session, user_id, order_id, request)

    async def _intent_in_steps(
        self, session: AsyncSession, user_id: str, order_id: str, request: OrderRequest
    ) -> OrderRow:
        """The intent of a claimed key, statement by statement (SQLite, or a key claimed anew
        after its retention)."""
        reservation = await self.reservations.get(request.reservation_id, user_id, session)
        used_by = (
            await OrdersRepository(session).created_with_reservation(user_id, reservation.id)
            if reservation is not None
            else None
        )
        _check(reservation.fulfillment if reservation else None, used_by, request)
        assert reservation is not None
        await self.limiter.hit(user_id)
        intent = _intent(order_id, user_id, reservation, request)
        return await OrdersRepository(session).add(
            intent, lease=timedelta(seconds=self.lease_seconds)
        )

    def _replay(self, body: Any) -> PlacedOrder:
        ORDERS_PLACED.labels("replayed").inc()
        # Postgres's JSONB reorders keys; through the model the replay is byte-for-byte the same.
        return PlacedOrder(Order.model_validate(body).model_dump(mode="json"), replayed=True)

    async def _await_first(self, user_id: str, key: str) -> PlacedOrder:
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
            if record.state == IdempotencyState.COMPLETED:
                return self._replay(record.response_body)
        raise RequestInProgress(
            "A request with this Idempotency-Key is still being processed; retry shortly."
        )

    async def _resume(self, user_id: str, key: str, order_id: str) -> PlacedOrder:
        """An earlier request with this key ended without an answer: settle its order."""
        async with self.sessions() as session, session.begin():
            settlement = PlacementOutcomes(session, lease_seconds=self.lease_seconds)
            row = await OrdersRepository(session).get_by_id(order_id)
            assert row is not None, "a claimed key's order row is written with the claim"
            if row.placement_state == PlacementState.CREATED:
                body = await settlement.answer(row, Actor.RETRY, user_id=user_id, key=key)
                return PlacedOrder(body)
            if row.placement_state == PlacementState.FAILED:
                await settlement.keys.release_for_order(order_id)
                error = _FAILURE_ERRORS.get(row.failure_code or "", UpstreamUnavailable)
                raise error("The earlier attempt with this key was refused; correct and retry.")
            taken = await settlement.begin_attempt(order_id, row.attempt, Actor.RETRY)
        if taken is None:
            raise RequestInProgress(
                "This order is being settled by another request; retry shortly."
            )
        return await self._drive(user_id, key, taken, Actor.RETRY, look_first=True)

    async def _drive(
        self, user_id: str, key: str, row: OrderRow, actor: Actor, *, look_first: bool
    ) -> PlacedOrder:
        """Talk to Instacart about `row` under the attempt it holds, and record the outcome."""
        async with self._lease_kept(row.id, row.attempt, actor):
            return await self._rounds(user_id, key, row, actor, look_first=look_first)

    @contextlib.asynccontextmanager
    async def _lease_kept(self, order_id: str, attempt: int, actor: Actor) -> AsyncIterator[None]:
        """Renew the lease every third of its length until the block ends (or the process)."""
        task = asyncio.create_task(self._renew_lease(order_id, attempt, actor))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _renew_lease(self, order_id: str, attempt: int, actor: Actor) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                async with self.sessions() as session, session.begin():
                    renewed = await OrderStateMachine(
                        session, lease_seconds=self.lease_seconds
                    ).renew_lease(order_id, attempt, actor)
            except Exception as exc:  # never let the heartbeat fail the placement it keeps
                # The create goes on; if the lease lapses meanwhile, a retry looks the order
                # up before sending anything, and whatever Instacart confirms still wins.
                log.warning("order.lease_not_renewed", order_id=order_id, error=type(exc).__name__)
                if not is_dependency_failure(exc):
                    return
                continue
            if renewed is None:
                return  # superseded: nothing more to keep

    async def _rounds(
        self, user_id: str, key: str, row: OrderRow, actor: Actor, *, look_first: bool
    ) -> PlacedOrder:
        attempt = row.attempt
        for _ in range(MAX_CREATE_ROUNDS):
            if look_first:
                try:
                    found = await self.client.get_order(user_id, row.id)
                except InstacartNotFound:
                    pass  # Instacart never got it: sending it under the same id is safe
                except InstacartError as exc:
                    raise await self._unknown(user_id, key, row.id, attempt, actor, exc) from exc
                else:
                    return await self._confirmed(user_id, key, row.id, actor, found)
            try:
                created = await self._create(user_id, row)
            except InstacartError as exc:
                if classify(exc) is Refusal.DUPLICATE_ORDER:
                    look_first = True  # an earlier attempt did create it: find it
                    continue
                if not exc.refuses_request:
                    # Ambiguous, or refused on our side (breaker, pool, no connection): an
                    # earlier create of this order may still land, so nothing is settled.
                    raise await self._unknown(user_id, key, row.id, attempt, actor, exc) from exc
                if classify(exc) is Refusal.HOLD_UNUSABLE:
                    adopted = await self._adopt_sibling(user_id, key, row, attempt, actor)
                    if adopted is not None:
                        return adopted
                raise await self._refused(row, attempt, actor, exc) from exc
            return await self._confirmed(user_id, key, row.id, actor, created)
        # Instacart says the id exists but cannot find it: leave the order to the reconciler.
        raise await self._unknown(user_id, key, row.id, attempt, actor, None)

    async def _adopt_sibling(
        self, user_id: str, key: str, row: OrderRow, attempt: int, actor: Actor
    ) -> PlacedOrder | None:
        """The hold is used: if this user's own earlier placement with it exists upstream, it
        is the order this checkout asked for, so the key answers with it.

        An earlier placement can be recorded failed while its slow create still lands (a
        lookup found nothing in between); telling the customer 409 then invites a second
        order. Only unsettled or failed siblings are candidates: a created one the customer
        already knows, and a second checkout of it is rightly refused.
        """
        async with self.sessions() as session:
            siblings = await OrdersRepository(session).unconfirmed_with_hold(
                user_id, row.hold_id, exclude_id=row.id
            )
        for sibling in siblings:
            try:
                found = await self.client.get_order(user_id, sibling)
            except InstacartNotFound:
                continue
            except InstacartError as exc:
                # Instacart may have it: nothing about this checkout is settled yet.
                raise await self._unknown(user_id, key, row.id, attempt, actor, exc) from exc
            async with self.sessions() as session, session.begin():
                adopted = await PlacementOutcomes(session, lease_seconds=self.lease_seconds).adopt(
                    row.id, attempt, actor, found, user_id=user_id, key=key
                )
            if adopted is None:
                log.warning("order.outcome_superseded", order_id=row.id, actor=actor.value)
                return None
            sibling_row, body = adopted
            await self.events.publish(sibling_row)
            ORDERS_PLACED.labels("adopted").inc()
            log.info("order.adopted", order_id=sibling_row.id, instead_of=row.id)
            return PlacedOrder(body)
        return None

    async def _create(self, user_id: str, row: OrderRow) -> UpstreamOrder:
        create = {
            FulfillmentType.DELIVERY: self.client.create_delivery_order,
            FulfillmentType.PICKUP: self.client.create_pickup_order,
            FulfillmentType.LAST_MILE: self.client.create_last_mile_order,
        }[FulfillmentType(row.fulfillment)]
        return await create(user_id, _create_request(row))

    async def _confirmed(
        self, user_id: str, key: str, order_id: str, actor: Actor, upstream: UpstreamOrder
    ) -> PlacedOrder:
        try:
            async with self.sessions() as session, session.begin():
                settlement = PlacementOutcomes(session, lease_seconds=self.lease_seconds)
                row, body = await settlement.confirm(
                    order_id, actor, upstream, user_id=user_id, key=key
                )
        except Exception as exc:
            if not is_dependency_failure(exc):
                raise
            # Instacart has the order and its lease will lapse: the reconciler records it.
            log.error("order.record_failed", order_id=order_id, error=type(exc).__name__)
            raise DependencyUnavailable(
                "The order was placed but could not be recorded yet; retry with the same "
                "Idempotency-Key shortly."
            ) from exc
        await self.events.publish(row)
        ORDERS_PLACED.labels("created").inc()
        log.info("order.created", order_id=order_id, actor=actor.value)
        return PlacedOrder(body)

    async def _unknown(
        self,
        user_id: str,
        key: str,
        order_id: str,
        attempt: int,
        actor: Actor,
        exc: InstacartError | None,
    ) -> AppError:
        async with self.sessions() as session, session.begin():
            recorded = await PlacementOutcomes(session, lease_seconds=self.lease_seconds).unknown(
                order_id, attempt, actor, user_id=user_id, key=key
            )
        if not recorded:
            log.warning("order.outcome_superseded", order_id=order_id, actor=actor.value)
        ORDERS_PLACED.labels("unknown").inc()
        if exc is None:
            return UpstreamUnavailable(
                "Instacart cannot settle this order yet; retry with the same Idempotency-Key."
            )
        return translate(exc)

    async def _refused(
        self, row: OrderRow, attempt: int, actor: Actor, exc: InstacartError
    ) -> AppError:
        """Record a definitive refusal and give the key back, so a corrected retry may use it."""
        error: AppError
        refusal = classify(exc)
        if refusal is Refusal.SLOT_FULL:
            await self.catalog.invalidate_slots(row.fulfillment, row.store_id)
            error = (
                ReservationExpired("The hold expired and the slot is now full; reserve again.")
                if await self._hold_expired(row)
                else SlotUnavailable("The time slot is full.")
            )
        elif refusal is Refusal.HOLD_UNUSABLE:
            error = ReservationExpired("The reservation is no longer valid; reserve again.")
        elif isinstance(exc, InstacartBadRequest):
            error = ValidationFailed(f"Instacart refused the order: {exc.upstream_message}")
        else:
            error = translate(exc)
        async with self.sessions() as session, session.begin():
            recorded = await PlacementOutcomes(session, lease_seconds=self.lease_seconds).failed(
                row.id, attempt, actor, error.code, exc.upstream_message
            )
        if not recorded:
            log.warning("order.outcome_superseded", order_id=row.id, actor=actor.value)
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
