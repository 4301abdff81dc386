"""Fixtures of the database tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.db.factories import settle_unresolved_orders


@pytest.fixture
async def settle_leftovers(
    db_sessionmaker: async_sessionmaker[AsyncSession], user_id: str, other_user_id: str
) -> AsyncIterator[None]:
    """After the test, resolve its users' unresolved orders (reconcilers elsewhere use grace 0)."""
    yield
    async with db_sessionmaker() as session:
        for owner in (user_id, other_user_id):
            await settle_unresolved_orders(session, owner)
