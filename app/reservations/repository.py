"""Statements on `reservations`. The caller owns the transaction: nothing here commits."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.platform.database.portable import db_now, rows_affected
from app.reservations.tables import ReservationRow

_RESERVATIONS = cast(Table, ReservationRow.__table__)
_INSERT = insert(_RESERVATIONS)


def kept_for_user(
    reservation_id: str | ColumnElement[str], user_id: str | ColumnElement[str]
) -> tuple[ColumnElement[bool], ...]:
    """The condition naming the user's reservation while it is kept (values or bound
    parameters): a placement builds its one claiming statement on it too."""
    return (
        ReservationRow.id == reservation_id,
        ReservationRow.user_id == user_id,
        ReservationRow.retain_until > db_now(),
    )


class ReservationsRepository:
    """Users' holds on slots, kept until `retain_until`."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, reservation: ReservationRow) -> ReservationRow:
        self.session.add(reservation)
        await self.session.flush()
        return reservation

    async def insert(self, values: dict[str, Any]) -> None:
        """Insert a reservation from its column values: one Core INSERT, without the ORM's
        flush (a checkout's reservation keeps no object to track)."""
        # One statement built once, its values bound at execution, on the session's connection:
        # building `.values(...)` per call and the session's ORM execute path were most of the
        # CPU of an insert.
        connection = await self.session.connection()
        await connection.execute(_INSERT, values)

    async def get_for_user(self, reservation_id: str, user_id: str) -> ReservationRow | None:
        """The user's reservation; None when unknown, past retention or someone else's."""
        stmt = select(ReservationRow).where(*kept_for_user(reservation_id, user_id))
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def purge_expired(self, now: datetime) -> int:
        """Delete reservations past their retention; returns how many."""
        result = await self.session.execute(
            delete(ReservationRow)
            .where(ReservationRow.retain_until <= now)
            .execution_options(synchronize_session=False)
        )
        return rows_affected(result)
