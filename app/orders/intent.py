"""A new placement's intent in one statement: claim the key, read the reservation, write the order.

A checkout's first transaction used to be five statements (insert the key, read the
reservation, look for a created order that used it, insert the order, read its lease back),
each a round trip and a trip through the ORM. On Postgres this is one INSERT with
data-modifying CTEs, built once and executed with bound parameters:

- ``claim``: the key, inserted unless present (``ON CONFLICT DO NOTHING``);
- ``reservation``: the user's reservation while it is kept;
- ``used``: the user's created order that already used it;
- ``intent``: the order row, ``pending`` with attempt 1 and a lease, inserted only when the
  key is new, the reservation is there and no created order used it.

What needs Python (delivery units, an address, the rate limit) is checked on what comes back;
a refusal rolls the transaction back and the claim with it, as before. A key that exists
inserts nothing here, and its record comes back as the statement saw it: a completed key
replays from it and another body is refused with it; anything else (a claim in flight, crashed
or expired) takes the general path (`IdempotencyRepository.claim`), which locks the record.

SQLite (development mode) has no data-modifying CTEs; there the caller takes the general path
for every key (`one_statement_intent`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import (
    Float,
    Integer,
    Table,
    Text,
    bindparam,
    exists,
    insert,
    literal,
    select,
    true,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from app.orders.idempotency import claimed_values
from app.orders.repository import created_with
from app.orders.tables import IdempotencyKey, OrderRow
from app.orders.vocabulary import PlacementState
from app.platform.database.portable import db_now
from app.reservations.repository import kept_for_user
from app.reservations.tables import ReservationRow

_keys = cast(Table, IdempotencyKey.__table__)
_orders = cast(Table, OrderRow.__table__)
_reservations = cast(Table, ReservationRow.__table__)

_user = bindparam("user_id", type_=Text)
_reservation_id = bindparam("reservation_id", type_=Text)
_order_id = bindparam("order_id", type_=Text)


def _statement() -> Any:
    claim = (
        postgresql.insert(_keys)
        .values(
            claimed_values(
                _user,
                bindparam("key", type_=Text),
                bindparam("fingerprint", type_=Text),
                _order_id,
                bindparam("lock_seconds", type_=Float),
                bindparam("ttl_seconds", type_=Float),
            )
        )
        .on_conflict_do_nothing(index_elements=[_keys.c.user_id, _keys.c.key])
        .returning(_keys.c.order_id)
        .cte("claim")
    )
    reservation = (
        select(
            _reservations.c.id,
            _reservations.c.fulfillment,
            _reservations.c.store_id,
            _reservations.c.hold_id,
            _reservations.c.slot,
        )
        .where(*kept_for_user(_reservation_id, _user))
        .cte("reservation")
    )
    used = select(_orders.c.id).where(*created_with(_user, _reservation_id)).limit(1).cte("used")
    intent = (
        insert(_orders)
        .from_select(
            [
                "id",
                "user_id",
                "fulfillment",
                "store_id",
                "slot",
                "items",
                "placement_state",
                "hold_id",
                "reservation_id",
                "address",
                "instructions",
                "attempt",
                "lease_until",
            ],
            select(
                _order_id,
                _user,
                reservation.c.fulfillment,
                reservation.c.store_id,
                reservation.c.slot,
                bindparam("items", type_=_orders.c["items"].type),
                literal(PlacementState.PENDING.value, Text),
                reservation.c.hold_id,
                reservation.c.id,
                bindparam("address", type_=_orders.c.address.type),
                bindparam("instructions", type_=Text),
                literal(1, Integer),
                db_now(bindparam("lease_seconds", type_=Float)),
            ).where(exists(select(claim.c.order_id)), ~exists(select(used.c.id))),
        )
        .returning(*_orders.c)
        .cte("intent")
    )
    # The key as it stood before this statement (the snapshot does not see our own insert).
    stored = (
        select(
            _keys.c.fingerprint.label("stored_fingerprint"),
            _keys.c.state.label("stored_state"),
            _keys.c.order_id.label("stored_order_id"),
            _keys.c.response_status.label("stored_status"),
            _keys.c.response_body.label("stored_body"),
            (_keys.c.expires_at <= db_now()).label("stored_expired"),
        )
        .where(_keys.c.user_id == _user, _keys.c.key == bindparam("key", type_=Text))
        .subquery("stored")
    )
    one = select(literal(1, Integer).label("one")).subquery("one")
    return select(
        exists(select(claim.c.order_id)).label("claimed"),
        select(reservation.c.fulfillment).scalar_subquery().label("reserved_fulfillment"),
        select(used.c.id).scalar_subquery().label("used_by"),
        *stored.c,
        *intent.c,
    ).select_from(one.outerjoin(intent, true()).outerjoin(stored, true()))


# Built once: each placement only binds its values, and the compiled form is cached.
_INTENT = _statement()
_ORDER_COLUMNS = tuple(column.key for column in _orders.c)


@dataclass(frozen=True, slots=True)
class StoredKey:
    """The key's record when it existed already, as the statement saw it (no row lock)."""

    fingerprint: str
    state: str
    order_id: str | None
    response_status: int | None
    response_body: Any
    expired: bool


@dataclass(frozen=True, slots=True)
class Intent:
    """What the one statement did. Only `claimed` with a `row` wrote anything that stays."""

    claimed: bool  # the key was new and is now this request's
    fulfillment: str | None  # the reservation's; None: no such reservation of the user's
    used_by: str | None  # the user's created order that already used the reservation
    row: OrderRow | None  # the intent written (not attached to the session)
    stored: StoredKey | None  # the key's record, when it was there before


def one_statement_intent(session: AsyncSession) -> bool:
    """Whether the database runs the one-statement intent (data-modifying CTEs: Postgres)."""
    assert session.bind is not None
    return session.bind.dialect.name == "postgresql"


async def record_intent(
    session: AsyncSession,
    *,
    user_id: str,
    key: str,
    fingerprint: str,
    order_id: str,
    reservation_id: str,
    items: list[dict[str, Any]],
    address: dict[str, Any] | None,
    instructions: str | None,
    lock: timedelta,
    ttl: timedelta,
    lease: timedelta,
) -> Intent:
    """Claim a new key and write its order's intent in one statement; the caller owns the
    transaction and must roll it back when it refuses what comes back."""
    connection = await session.connection()
    result = await connection.execute(
        _INTENT,
        {
            "user_id": user_id,
            "key": key,
            "fingerprint": fingerprint,
            "order_id": order_id,
            "reservation_id": reservation_id,
            "items": items,
            "address": address,
            "instructions": instructions,
            "lock_seconds": lock.total_seconds(),
            "ttl_seconds": ttl.total_seconds(),
            "lease_seconds": lease.total_seconds(),
        },
    )
    found = result.one()
    row = None
    if found.id is not None:
        mapping = found._mapping
        row = OrderRow(**{name: mapping[name] for name in _ORDER_COLUMNS})
    stored = None
    if found.stored_fingerprint is not None:
        stored = StoredKey(
            found.stored_fingerprint,
            found.stored_state,
            found.stored_order_id,
            found.stored_status,
            found.stored_body,
            found.stored_expired,
        )
    return Intent(found.claimed, found.reserved_fulfillment, found.used_by, row, stored)
