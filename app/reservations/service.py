"""Reservations: a user's hold on a slot, kept in Postgres for every replica.

A reservation maps our id to the upstream hold and the slot it holds. It outlives the
10-minute hold on purpose: Instacart still books an expired hold while the slot has room, so
the record is kept (``reservation_ttl_seconds``) until then.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.instacart.client import InstacartClient
from app.instacart.errors import InstacartError
from app.instacart.models import Cart, CartItem, ReserveTimeSlotRequest, ServiceOption
from app.instacart.refusals import translate
from app.orders.vocabulary import Fulfillment, FulfillmentType
from app.platform.errors import SlotInPast, SlotNotFound, SlotUnavailable
from app.platform.rate_limits import RateLimiter
from app.reservations.repository import ReservationsRepository
from app.reservations.schemas import Reservation, ReservationRequest
from app.stores.schemas import Slot
from app.stores.slot_catalog import SlotCatalog, slot_json

# Instacart holds a slot for 10 minutes.
LAST_MILE_HOLD = timedelta(minutes=10)


class ReservationRecord(BaseModel):
    id: str
    user_id: str
    fulfillment: Fulfillment
    store_id: str
    hold_id: str
    slot: Slot
    expires_at: datetime | None = None


def new_reservation_id() -> str:
    return "res_" + secrets.token_urlsafe(12)


class ReservationStore:
    """Reservations in Postgres, so that losing Redis costs no checkout in progress."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], ttl_seconds: int) -> None:
        self.sessions = sessions
        self.ttl = timedelta(seconds=ttl_seconds)

    async def save(self, record: ReservationRecord) -> None:
        async with self.sessions() as session, session.begin():
            await ReservationsRepository(session).insert(
                {
                    "id": record.id,
                    "user_id": record.user_id,
                    "fulfillment": record.fulfillment,
                    "store_id": record.store_id,
                    "hold_id": record.hold_id,
                    "slot": record.slot.model_dump(mode="json"),
                    "expires_at": record.expires_at,
                    "retain_until": datetime.now(UTC) + self.ttl,
                }
            )

    async def get(
        self, reservation_id: str, user_id: str, session: AsyncSession | None = None
    ) -> ReservationRecord | None:
        """The user's reservation, or None when unknown, past retention or someone else's.

        Pass `session` to read inside the caller's transaction.
        """
        if session is None:
            async with self.sessions() as own:
                return await self.get(reservation_id, user_id, own)
        row = await ReservationsRepository(session).get_for_user(reservation_id, user_id)
        if row is None:
            return None
        return ReservationRecord(
            id=row.id,
            user_id=row.user_id,
            fulfillment=row.fulfillment,
            store_id=row.store_id,
            hold_id=row.hold_id,
            slot=Slot.model_validate(row.slot),
            expires_at=row.expires_at,
        )


class ReservationService:
    """Holds a slot upstream for the user and remembers the hold."""

    def __init__(
        self,
        client: InstacartClient,
        catalog: SlotCatalog,
        store: ReservationStore,
        limiter: RateLimiter,
    ) -> None:
        self.client = client
        self.catalog = catalog
        self.store = store
        self.limiter = limiter

    async def reserve(self, user_id: str, request: ReservationRequest) -> Reservation:
        # An id the store list lacks (or Instacart refused lately) costs no hold attempt.
        self.catalog.directory.check_listed(request.store_id, request.fulfillment)
        await self.catalog.directory.check_remembered(request.store_id, request.fulfillment)
        await self.limiter.hit(user_id)
        try:
            hold_id, expires_at, option = await self._hold(user_id, request)
        except InstacartError as exc:
            error = translate(exc)
            if isinstance(error, SlotUnavailable | SlotNotFound | SlotInPast):
                # Whatever the cache showed, this slot cannot be held: stop showing it.
                await self.catalog.invalidate_slots(request.fulfillment, request.store_id)
            raise error from exc
        # The hold took capacity: previews of this store are out of date for everyone.
        await self.catalog.invalidate_slots(request.fulfillment, request.store_id)
        time_zone = await self.catalog.directory.time_zone(request.store_id)
        record = ReservationRecord(
            id=new_reservation_id(),
            user_id=user_id,
            fulfillment=request.fulfillment,
            store_id=request.store_id,
            hold_id=hold_id,
            slot=Slot.model_validate(slot_json(option, request.fulfillment, time_zone)),
            expires_at=expires_at,
        )
        await self.store.save(record)
        return Reservation(
            id=record.id,
            expires_at=record.expires_at,
            fulfillment=record.fulfillment,
            store_id=record.store_id,
            slot=record.slot,
        )

    async def _hold(
        self, user_id: str, request: ReservationRequest
    ) -> tuple[str, datetime | None, ServiceOption]:
        cart = Cart(
            items=[CartItem(**item.model_dump(exclude_none=True)) for item in request.items or []]
        )
        if FulfillmentType(request.fulfillment) is FulfillmentType.LAST_MILE:
            # Instacart's last-mile preview also reserves: each option id is its own hold, so
            # previewing for this user and finding the chosen slot is the reservation.
            options = await self.catalog.preview(
                user_id, FulfillmentType.LAST_MILE, request.store_id, request.address
            )
            for option in options:
                if option.id == request.slot_id:
                    return option.id, datetime.now(UTC) + LAST_MILE_HOLD, option
            # The preview lists only slots with room: this one is full, gone or never was.
            raise SlotUnavailable(
                "The time slot is full or no longer offered: choose another.", param="slot_id"
            )
        reserve = (
            self.client.reserve_delivery_time_slot
            if FulfillmentType(request.fulfillment) is FulfillmentType.DELIVERY
            else self.client.reserve_pickup_time_slot
        )
        hold = await reserve(
            user_id, ReserveTimeSlotRequest(service_option_id=request.slot_id, cart=cart)
        )
        option = hold.service_option or ServiceOption(
            id=request.slot_id, fulfillment_type=request.fulfillment
        )
        return hold.hold_id, hold.expires_at, option
