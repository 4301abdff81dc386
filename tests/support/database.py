"""Fixtures for tests that need a real, migrated Postgres database, on the suite's server.

Registered for every test package by `pytest_plugins` in tests/conftest.py. Making, migrating
and dropping databases is local_processes.postgres's, which the benchmarks use too.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.platform.database.session import build_sessionmaker
from app.settings import Settings
from local_processes.postgres import create_database, drop_database, upgrade


def server_url() -> str:
    """The configured database URL (BFF_DATABASE_URL); only its server and credentials are used."""
    url = Settings().database_url
    assert url is not None, "tests/conftest.py sets BFF_DATABASE_URL for the suite"
    return url


@pytest.fixture(scope="session")
def migrated_database_url() -> Iterator[str]:
    """A fresh database migrated to head, shared by the test session and dropped at its end."""
    url = asyncio.run(create_database(server_url()))
    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(drop_database(url))


@pytest.fixture
async def fresh_database_url() -> AsyncIterator[str]:
    """An empty, unmigrated database of this test's own, dropped afterwards."""
    url = await create_database(server_url())
    try:
        yield url
    finally:
        await drop_database(url)


@pytest.fixture
async def db_engine(migrated_database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on the migrated database, per test (async engines belong to one event loop)."""
    engine = create_async_engine(migrated_database_url, pool_size=25, max_overflow=5)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def db_sessionmaker(db_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return build_sessionmaker(db_engine)


@pytest.fixture
async def db_session(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A session; the test commits what it wants others to see. Rolled back if left open."""
    async with db_sessionmaker() as session:
        yield session


@pytest.fixture
def user_id() -> str:
    """A user id of this test's own, so tests never see each other's rows."""
    return f"user-{uuid.uuid4().hex}"


@pytest.fixture
def other_user_id() -> str:
    return f"other-{uuid.uuid4().hex}"
