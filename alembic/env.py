"""Alembic environment: runs migrations over the service's asyncpg driver.

The URL comes, in order, from `config.attributes["database_url"]` (tests and tools that call
alembic's API), the `sqlalchemy.url` option when set programmatically, else BFF_DATABASE_URL via
app.settings.Settings, else, in development only, development mode's SQLite file in
BFF_DATA_DIR. A caller may also pass an open sync connection as
`config.attributes["connection"]`.
"""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig

from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

# Imported for their side effect: each registers its tables on Base.metadata.
import app.callbacks.tables
import app.orders.tables
import app.reservations.tables  # noqa: F401
from alembic import context
from app.platform.database.base import Base
from app.settings import Settings

config = context.config

# Leave the caller's logging alone when alembic runs inside another program (tests, the app).
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def database_url() -> str:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    if url:
        return url
    # BFF_DATABASE_URL (or .env) as the service reads it; migrating needs none of production's
    # other settings, so the environment's start-up rules are not asked here.
    settings = Settings(environment="development")
    if settings.database_url:
        return settings.database_url
    if os.environ.get("BFF_ENVIRONMENT", "production") not in ("development", "test"):
        raise RuntimeError("alembic: set BFF_DATABASE_URL (production has no development database)")
    # Development: the embedded SQLite file of development mode (app/dev/embedded.py).
    from app.dev.embedded import database_url as embedded_database_url

    return embedded_database_url(settings)


def run_migrations_offline() -> None:
    """Emit SQL to stdout (`alembic upgrade head --sql`) without a database."""
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    engine = create_async_engine(database_url(), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        do_run_migrations(connection)
    else:
        asyncio.run(run_async_migrations())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
