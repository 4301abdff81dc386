from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.reservations.repository import ReservationsRepository
from app.reservations.tables import ReservationRow
from tests.db.factories import make_reservation

LATER = datetime(2999, 1, 1, tzinfo=UTC)
LONG_AGO = datetime(1970, 1, 2, tzinfo=UTC)


async def test_get_for_user_finds_only_the_owners_retained_reservation(
    db_session: AsyncSession, user_id: str, other_user_id: str
) -> None:
    repo = ReservationsRepository(db_session)
    kept = await repo.add(make_reservation(user_id, retain_until=LATER))
    past = await repo.add(make_reservation(user_id, retain_until=LONG_AGO))
    await db_session.commit()

    assert await repo.get_for_user(kept.id, user_id) is kept
    assert await repo.get_for_user(kept.id, other_user_id) is None
    assert await repo.get_for_user(past.id, user_id) is None
    assert await repo.get_for_user("res_missing", user_id) is None


async def test_an_expired_hold_is_still_found_while_retained(
    db_session: AsyncSession, user_id: str
) -> None:
    repo = ReservationsRepository(db_session)
    held = await repo.add(make_reservation(user_id, retain_until=LATER, expires_at=LONG_AGO))
    await db_session.commit()

    assert await repo.get_for_user(held.id, user_id) is held


async def test_purge_expired_deletes_only_reservations_past_retention(
    db_session: AsyncSession, user_id: str
) -> None:
    repo = ReservationsRepository(db_session)
    # Older than any other test's rows: the purge is table-wide, so the count is ours alone.
    oldest = datetime(1900, 1, 1, tzinfo=UTC)
    for retain_until in (oldest, oldest + timedelta(hours=1), LATER):
        await repo.add(make_reservation(user_id, retain_until=retain_until))
    await db_session.commit()

    purged = await repo.purge_expired(oldest + timedelta(minutes=1))
    await db_session.commit()

    assert purged == 1
    left = await db_session.scalars(
        select(ReservationRow.retain_until).where(ReservationRow.user_id == user_id)
    )
    assert sorted(left) == [oldest + timedelta(hours=1), LATER]


async def test_a_reservation_for_an_unknown_fulfillment_is_refused(
    db_session: AsyncSession, user_id: str
) -> None:
    with pytest.raises(IntegrityError):
        await ReservationsRepository(db_session).add(
            make_reservation(user_id, retain_until=LATER, fulfillment="drone")
        )
