"""Fixtures for tests that need a real, migrated Postgres database.

Registered for every test package by `pytest_plugins` in tests/conftest.py; the helpers
(`create_database`, `drop_database`, `alembic_config`, `upgrade`) can be imported too.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from alembic.config import Config
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from alembic import command
from app.platform.database.session import build_sessionmaker
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def server_url() -> str:
    """The configured database URL (BFF_DATABASE_URL); only its server and credentials are used."""
    url = Settings().database_url
    assert url is not None, "tests/conftest.py sets BFF_DATABASE_URL for the suite"
    return url


def _asyncpg_dsn(url: str, database: str) -> str:
    return (
        make_url(url)
        .set(drivername="postgresql", database=database)
        .render_as_string(hide_password=False)
    )


async def create_database(prefix: str = "bff_test_db") -> str:
    """Create an empty database on the configured server; returns its SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(_asyncpg_dsn(server_url(), "postgres"))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return make_url(server_url()).set(database=name).render_as_string(hide_password=False)


async def drop_database(url: str) -> None:
    name = make_url(url).database
    conn = await asyncpg.connect(_asyncpg_dsn(url, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def alembic_config(url: str) -> Config:
    """An alembic Config for alembic.ini that targets `url` and leaves logging alone."""
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = url
    config.attributes["configure_logger"] = False
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Run migrations. Synchronous (env.py runs its own event loop): from async code, call it
    through `asyncio.to_thread`."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


@pytest.fixture(scope="session")
def migrated_database_url() -> Iterator[str]:
    """A fresh database migrated to head, shared by the test session and dropped at its end."""
    url = asyncio.run(create_database())
    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(drop_database(url))


@pytest.fixture
async def fresh_database_url() -> AsyncIterator[str]:
    """An empty, unmigrated database of this test's own, dropped afterwards."""
    url = await create_database()
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
