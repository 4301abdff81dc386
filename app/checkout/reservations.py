"""Reservations: a user's hold on a slot, kept in Redis for every replica.

A reservation maps our id to the upstream hold and the slot it holds. It outlives the
10-minute hold on purpose: Instacart still books an expired hold while the slot has room, so
the record is kept (``reservation_ttl_seconds``) until then.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import orjson
from pydantic import BaseModel
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.checkout.catalog import Catalog, slot_json
from app.checkout.schemas import Fulfillment, Reservation, ReservationRequest, Slot
from app.checkout.upstream_errors import is_slot_unavailable, translate
from app.errors import DependencyUnavailable, SlotUnavailable
from app.instacart.client import InstacartClient
from app.instacart.errors import InstacartError
from app.instacart.models import Cart, CartItem, ReserveTimeSlotRequest, ServiceOption
from app.ratelimit import RateLimiter

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
    def __init__(self, redis: Redis, ttl_seconds: int) -> None:
        self.redis = redis
        self.ttl = ttl_seconds

    @staticmethod
    def _key(reservation_id: str) -> str:
        return f"bff:reservation:{reservation_id}"

    async def save(self, record: ReservationRecord) -> None:
        try:
            await self.redis.set(self._key(record.id), record.model_dump_json(), ex=self.ttl)
        except (RedisError, OSError) as exc:
            raise DependencyUnavailable("Reservations cannot be saved right now.") from exc

    async def get(self, reservation_id: str, user_id: str) -> ReservationRecord | None:
        """The user's reservation, or None when unknown, expired or someone else's."""
        try:
            raw = await self.redis.get(self._key(reservation_id))
        except (RedisError, OSError) as exc:
            raise DependencyUnavailable("Reservations cannot be read right now.") from exc
        if raw is None:
            return None
        record = ReservationRecord.model_validate(orjson.loads(raw))
        return record if record.user_id == user_id else None


class ReservationService:
    """Holds a slot upstream for the user and remembers the hold."""

    def __init__(
        self,
        client: InstacartClient,
        catalog: Catalog,
        store: ReservationStore,
        limiter: RateLimiter,
    ) -> None:
        self.client = client
        self.catalog = catalog
        self.store = store
        self.limiter = limiter

    async def reserve(self, user_id: str, request: ReservationRequest) -> Reservation:
        await self.limiter.hit(user_id)
        try:
            hold_id, expires_at, option = await self._hold(user_id, request)
        except InstacartError as exc:
            if is_slot_unavailable(exc):
                # Whatever the cache showed, this slot has no room: stop showing it.
                await self.catalog.invalidate_slots(request.fulfillment, request.store_id)
                raise SlotUnavailable("The time slot is full or no longer offered.") from exc
            raise translate(exc) from exc
        # The hold took capacity: previews of this store are out of date for everyone.
        await self.catalog.invalidate_slots(request.fulfillment, request.store_id)
        record = ReservationRecord(
            id=new_reservation_id(),
            user_id=user_id,
            fulfillment=request.fulfillment,
            store_id=request.store_id,
            hold_id=hold_id,
            slot=Slot.model_validate(slot_json(option, request.fulfillment)),
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
        if request.fulfillment == "last_mile":
            # Instacart's last-mile preview also reserves: each option id is its own hold, so
            # previewing for this user and finding the chosen slot is the reservation.
            options = await self.catalog.preview(
                user_id, "last_mile", request.store_id, request.address
            )
            for option in options:
                if option.id == request.slot_id:
                    return option.id, datetime.now(UTC) + LAST_MILE_HOLD, option
            raise SlotUnavailable("The time slot is full or no longer offered.")
        reserve = (
            self.client.reserve_delivery_time_slot
            if request.fulfillment == "delivery"
            else self.client.reserve_pickup_time_slot
        )
        hold = await reserve(
            user_id, ReserveTimeSlotRequest(service_option_id=request.slot_id, cart=cart)
        )
        option = hold.service_option or ServiceOption(
            id=request.slot_id, fulfillment_type=request.fulfillment
        )
        return hold.hold_id, hold.expires_at, option
