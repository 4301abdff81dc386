"""Statements on `callback_events`, the inbox of Instacart's callbacks. The caller commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.callbacks.tables import CallbackEvent
from app.platform.database.portable import db_now, insert_unless_present, rows_affected


class CallbackEventsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, values: dict[str, Any]) -> bool:
        """Store an event; False when its event_id is already stored (a duplicate delivery)."""
        inserted = await self.session.execute(
            insert_unless_present(self.session, CallbackEvent, ["event_id"])
            .values(**values)
            .returning(CallbackEvent.event_id)
        )
        return inserted.first() is not None

    async def get(self, event_id: int) -> CallbackEvent | None:
        return await self.session.get(CallbackEvent, event_id)

    async def finish(self, event_id: int, result: str) -> bool:
        """Record what applying the event did; False if another applier finished it first."""
        outcome = await self.session.execute(
            update(CallbackEvent)
            .where(CallbackEvent.event_id == event_id, CallbackEvent.result == "received")
            .values(result=result, applied_at=func.now())
            .execution_options(synchronize_session=False)
        )
        return rows_affected(outcome) == 1

    async def count_unapplied(self, older_than: timedelta) -> int:
        stmt = select(func.count()).where(
            CallbackEvent.result == "received",
            CallbackEvent.received_at < db_now(-older_than),
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def unapplied(self, older_than: timedelta, limit: int) -> Sequence[int]:
        """Events stored before `older_than` ago and never applied, oldest first."""
        stmt = (
            select(CallbackEvent.event_id)
            .where(
                CallbackEvent.result == "received",
                CallbackEvent.received_at < db_now(-older_than),
            )
            .order_by(CallbackEvent.received_at)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars())
