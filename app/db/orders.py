"""Statements on `orders`. The caller owns the transaction: nothing here commits."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, literal, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import UNRESOLVED_PLACEMENT_STATES, Order

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


class OrdersRepository:
    """Orders of users. Every user-facing read is filtered by the owner."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, order: Order) -> Order:
        """Insert a new order (flushed, so server defaults such as created_at are loaded)."""
        self.session.add(order)
        await self.session.flush()
        return order

    async def get_for_user(self, order_id: str, user_id: str) -> Order | None:
        """The order if it belongs to this user; None for unknown ids and other users' orders."""
        stmt = select(Order).where(Order.id == order_id, Order.user_id == user_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get_by_id(self, order_id: str, *, for_update: bool = False) -> Order | None:
        """Any user's order, for the reconciler and callbacks; never for user-facing reads."""
        stmt = select(Order).where(Order.id == order_id)
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
    ) -> tuple[list[Order], str | None]:
        """One page of the user's orders, newest first, and the cursor of the next page.

        `placement_states` narrows the list (e.g. ("created",)); None lists every row.
        Raises ValueError for a cursor that does not decode.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        stmt = select(Order).where(Order.user_id == user_id)
        if placement_states is not None:
            stmt = stmt.where(Order.placement_state.in_(list(placement_states)))
        if cursor is not None:
            created_at, order_id = decode_cursor(cursor)
            stmt = stmt.where(tuple_(Order.created_at, Order.id) < tuple_(created_at, order_id))
        stmt = stmt.order_by(Order.created_at.desc(), Order.id.desc()).limit(limit + 1)
        rows = list((await self.session.execute(stmt)).scalars())
        if len(rows) <= limit:
            return rows, None
        rows = rows[:limit]
        last = rows[-1]
        return rows, encode_cursor(last.created_at, last.id)

    async def mark_created(
        self,
        order_id: str,
        status: str | None,
        *,
        items: list[dict[str, Any]] | None = None,
        slot: dict[str, Any] | None = None,
        store_id: str | None = None,
    ) -> Order | None:
        """Record that Instacart has the order; None if it is no longer pending/unknown.

        `status` only applies while no callback has set one (a callback is always newer).
        """
        values: dict[str, Any] = {
            "placement_state": "created",
            "failure_code": None,
            "failure_detail": None,
            "updated_at": func.now(),
        }
        if status is not None:
            # A callback that already arrived carries a newer status than the create response.
            values["status"] = case(
                (Order.status_updated_at.is_(None), literal(status)), else_=Order.status
            )
        if items is not None:
            values["items"] = items
        if slot is not None:
            values["slot"] = slot
        if store_id is not None:
            values["store_id"] = store_id
        return await self._transition(order_id, UNRESOLVED_PLACEMENT_STATES, values)

    async def mark_failed(
        self, order_id: str, code: str, detail: str | None = None
    ) -> Order | None:
        """Record a definitive refusal; None if the order is no longer pending/unknown."""
        values = {
            "placement_state": "failed",
            "failure_code": code,
            "failure_detail": detail,
            "updated_at": func.now(),
        }
        return await self._transition(order_id, UNRESOLVED_PLACEMENT_STATES, values)

    async def mark_unknown(self, order_id: str) -> Order | None:
        """Record an ambiguous create outcome; None if the order is already resolved."""
        values = {"placement_state": "unknown", "updated_at": func.now()}
        return await self._transition(order_id, UNRESOLVED_PLACEMENT_STATES, values)

    async def update_status(self, order_id: str, status: str, at: datetime) -> bool:
        """Apply a status seen at `at` unless a newer (or same-time) one was applied already."""
        stmt = (
            update(Order)
            .where(
                Order.id == order_id,
                or_(Order.status_updated_at.is_(None), Order.status_updated_at < at),
            )
            .values(status=status, status_updated_at=at, updated_at=func.now())
            .returning(Order)
            .execution_options(populate_existing=True)
        )
        row = (await self.session.execute(stmt)).scalar_one_or_none()
        return row is not None

    async def stale_placements(self, older_than: datetime, limit: int = 100) -> Sequence[Order]:
        """Pending/unknown orders created before `older_than`, oldest first, locked for update.

        Rows another reconciler holds are skipped, so reconcilers can run on every replica.
        """
        stmt = (
            select(Order)
            .where(
                Order.placement_state.in_(UNRESOLVED_PLACEMENT_STATES),
                Order.created_at < older_than,
            )
            .order_by(Order.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def _transition(
        self, order_id: str, from_states: tuple[str, ...], values: dict[str, Any]
    ) -> Order | None:
        stmt = (
            update(Order)
            .where(Order.id == order_id, Order.placement_state.in_(from_states))
            .values(**values)
            .returning(Order)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()
