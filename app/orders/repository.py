"""Reads of `orders`, and the insert of an intent. The caller owns the transaction.

Every change of an existing order's state is a move of `app.orders.state_machine`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, func, or_, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.orders.tables import OrderRow
from app.orders.vocabulary import TERMINAL_STATUSES, UNRESOLVED_PLACEMENT_STATES, PlacementState
from app.platform.database.portable import db_now, in_list, latest

MAX_CURSOR_LENGTH = 512


def encode_cursor(created_at: datetime, order_id: str) -> str:
    """An opaque, URL-safe cursor for the position just after (created_at, order_id)."""
    raw = json.dumps([created_at.isoformat(), order_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (created_at, order_id) in a cursor; ValueError for anything we did not produce."""
    if not isinstance(cursor, str) or not cursor or len(cursor) > MAX_CURSOR_LENGTH:
        raise ValueError("invalid cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
        created_raw, order_id = value
        if not isinstance(created_raw, str) or not isinstance(order_id, str) or not order_id:
            raise ValueError("invalid cursor")
        created_at = datetime.fromisoformat(created_raw)
    except (ValueError, TypeError, binascii.Error) as exc:
        # json, base64, unicode and isoformat errors are all ValueErrors; unpacking is a TypeError
        raise ValueError("invalid cursor") from exc
    if created_at.tzinfo is None:
        raise ValueError("invalid cursor")
    return created_at, order_id


def _abandoned(grace: timedelta) -> tuple[Any, ...]:
    return (
        OrderRow.placement_state.in_(UNRESOLVED_PLACEMENT_STATES),
        or_(OrderRow.lease_until.is_(None), OrderRow.lease_until <= db_now()),
        OrderRow.updated_at < db_now(-grace),
    )


def created_with(
    user_id: str | ColumnElement[str], reservation_id: str | ColumnElement[str]
) -> tuple[ColumnElement[bool], ...]:
    """This user's orders that Instacart created from the reservation (values or parameters)."""
    return (
        OrderRow.user_id == user_id,
        OrderRow.reservation_id == reservation_id,
        OrderRow.placement_state == PlacementState.CREATED,
    )


class AbandonedPlacement(NamedTuple):
    id: str
    user_id: str
    attempt: int


class OrdersRepository:
    """Orders of users. Every user-facing read is filtered by the owner."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, order: OrderRow, *, lease: timedelta | None = None) -> OrderRow:
        """Insert an order (flushed, so server defaults are loaded).

        With `lease`, the placing request's intent: it holds attempt 1 and that lease.
        """
        if lease is not None:
            order.attempt = 1
            order.lease_until = db_now(lease)
        self.session.add(order)
        await self.session.flush()
        if lease is not None:
            # A SQL expression is not loaded back by the INSERT's RETURNING; without this the
            # attribute would be expired, and reading it in async code would be a hidden query.
            await self.session.refresh(order, ["lease_until"])
        return order

    async def get_for_user(self, order_id: str, user_id: str) -> OrderRow | None:
        """The order if it belongs to this user; None for unknown ids and other users' orders."""
        stmt = select(OrderRow).where(OrderRow.id == order_id, OrderRow.user_id == user_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get_by_id(self, order_id: str, *, for_update: bool = False) -> OrderRow | None:
        """Any user's order, for the reconciler and callbacks; never for user-facing reads."""
        stmt = select(OrderRow).where(OrderRow.id == order_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def list_for_user(
        self,
        user_id: str,
        limit: int,
        cursor: str | None = None,
        *,
        placement_states: Collection[str] | None = None,
    ) -> tuple[list[OrderRow], str | None]:
        """One page of the user's orders, newest first, and the cursor of the next page.

        `placement_states` narrows the list (e.g. only the created ones); None lists every row.
        Raises ValueError for a cursor that does not decode.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        stmt = select(OrderRow).where(OrderRow.user_id == user_id)
        if placement_states is not None:
            stmt = stmt.where(OrderRow.placement_state.in_(list(placement_states)))
        if cursor is not None:
            created_at, order_id = decode_cursor(cursor)
            stmt = stmt.where(
                tuple_(OrderRow.created_at, OrderRow.id) < tuple_(created_at, order_id)
            )
        stmt = stmt.order_by(OrderRow.created_at.desc(), OrderRow.id.desc()).limit(limit + 1)
        rows = list((await self.session.execute(stmt)).scalars())
        if len(rows) <= limit:
            return rows, None
        rows = rows[:limit]
        last = rows[-1]
        return rows, encode_cursor(last.created_at, last.id)

    async def unconfirmed_with_hold(
        self, user_id: str, hold_id: str | None, *, exclude_id: str, limit: int = 3
    ) -> list[str]:
        """Ids of this user's other placements with `hold_id` that are not (yet) created,
        newest first: the candidates for an order Instacart made from that hold."""
        if hold_id is None:
            return []
        stmt = (
            select(OrderRow.id)
            .where(
                OrderRow.user_id == user_id,
                OrderRow.hold_id == hold_id,
                OrderRow.id != exclude_id,
                OrderRow.placement_state != PlacementState.CREATED,
            )
            .order_by(OrderRow.created_at.desc())
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def created_with_reservation(self, user_id: str, reservation_id: str) -> str | None:
        """The id of this user's order that Instacart created from `reservation_id`, if any."""
        stmt = select(OrderRow.id).where(*created_with(user_id, reservation_id)).limit(1)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def count_abandoned_placements(self, grace: timedelta) -> int:
        """How many placements `abandoned_placements` would offer with no limit."""
        stmt = select(func.count()).where(*_abandoned(grace))
        return int((await self.session.execute(stmt)).scalar_one())

    async def oldest_unresolved_created_at(self) -> datetime | None:
        """When the oldest placement still pending or unknown began; None if there is none."""
        # The partial index's own predicate, as text: bound parameters in its place would leave
        # the planner unable to prove the index applies (a generic plan would scan the table).
        stmt = select(func.min(OrderRow.created_at)).where(
            text(in_list("placement_state", UNRESOLVED_PLACEMENT_STATES))
        )
        oldest: datetime | None = (await self.session.execute(stmt)).scalar_one()
        return oldest

    async def abandoned_placements(
        self, grace: timedelta, limit: int = 50
    ) -> Sequence[AbandonedPlacement]:
        """Unresolved placements nobody holds a lease on and nobody touched for `grace`.

        No row locks: the reconciler takes each one over with the state machine's
        `begin_attempt`, which fails for anyone who comes second.
        """
        stmt = (
            select(OrderRow.id, OrderRow.user_id, OrderRow.attempt)
            .where(*_abandoned(grace))
            .order_by(OrderRow.created_at)
            .limit(limit)
        )
        rows = (await self.session.execute(stmt)).all()
        return [AbandonedPlacement(row.id, row.user_id, row.attempt) for row in rows]

    async def quiet_orders(self, quiet_for: timedelta, limit: int) -> Sequence[OrderRow]:
        """Placed orders not yet ended that Instacart has told us nothing about for `quiet_for`
        (nor were we asked to look), least recently heard of first."""
        last_news = latest(OrderRow.status_updated_at, OrderRow.checked_at, OrderRow.created_at)
        stmt = (
            select(OrderRow)
            .where(
                OrderRow.placement_state == PlacementState.CREATED,
                or_(OrderRow.status.is_(None), OrderRow.status.notin_(TERMINAL_STATUSES)),
                last_news < db_now(-quiet_for),
            )
            .order_by(last_news)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars())
