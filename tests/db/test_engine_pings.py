"""The engine pings a pooled connection before use only when it sat idle
(app/platform/connections.py): a connection back a moment ago goes straight to work, one idle
for longer is checked first and replaced when it has died."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.platform.connections import PING_AFTER_IDLE_SECONDS, build_engine
from app.settings import Settings
from local_processes.waiting import wait_until_async
from tests.support.clock import FakeClock

BACKEND = text("SELECT pg_backend_pid()")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def engine(migrated_database_url: str, clock: FakeClock) -> AsyncIterator[AsyncEngine]:
    built = build_engine(Settings(database_url=migrated_database_url), monotonic=clock.monotonic)
    try:
        yield built
    finally:
        await built.dispose()


async def backend_of(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        pid = await connection.scalar(BACKEND)
    assert isinstance(pid, int)
    return pid


async def terminate(url: str, pid: int) -> None:
    """End a server backend, as a restart of Postgres would, and wait until it is gone."""
    raw = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        assert await raw.fetchval("SELECT pg_terminate_backend($1)", pid)

        async def gone() -> bool:
            query = "SELECT count(*) FROM pg_stat_activity WHERE pid = $1"
            return await raw.fetchval(query, pid) == 0

        await wait_until_async(gone, what=f"backend {pid} to end")
    finally:
        await raw.close()


async def test_a_connection_that_died_while_idle_is_replaced_before_use(
    engine: AsyncEngine, migrated_database_url: str, clock: FakeClock
) -> None:
    first = await backend_of(engine)
    await terminate(migrated_database_url, first)
    clock.advance(PING_AFTER_IDLE_SECONDS + 0.1)
    assert await backend_of(engine) != first


async def test_a_connection_back_a_moment_ago_is_used_without_a_ping(
    engine: AsyncEngine, migrated_database_url: str, clock: FakeClock
) -> None:
    first = await backend_of(engine)
    await terminate(migrated_database_url, first)
    clock.advance(PING_AFTER_IDLE_SECONDS / 2)
    # Not pinged: the statement itself finds the connection dead...
    with pytest.raises(DBAPIError) as failed:
        await backend_of(engine)
    assert failed.value.connection_invalidated
    # ...and the engine replaced it for the next use.
    assert await backend_of(engine) != first
