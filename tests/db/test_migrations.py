from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.platform.database.base import Base
from local_processes.postgres import downgrade, upgrade


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            )
            return {row[0] for row in rows}
    finally:
        await engine.dispose()


async def test_migrated_schema_matches_the_models(migrated_database_url: str) -> None:
    engine = create_async_engine(migrated_database_url)
    try:
        async with engine.connect() as conn:
            diffs = await conn.run_sync(
                lambda sync_conn: compare_metadata(
                    MigrationContext.configure(
                        sync_conn,
                        opts={"compare_type": True, "compare_server_default": True},
                    ),
                    Base.metadata,
                )
            )
    finally:
        await engine.dispose()
    assert diffs == []


async def test_downgrade_to_base_then_upgrade_again(fresh_database_url: str) -> None:
    await asyncio.to_thread(upgrade, fresh_database_url)
    assert {"orders", "idempotency_keys", "alembic_version"} <= await _tables(fresh_database_url)

    await asyncio.to_thread(downgrade, fresh_database_url, "base")
    assert await _tables(fresh_database_url) == {"alembic_version"}

    await asyncio.to_thread(upgrade, fresh_database_url)
    assert {"orders", "idempotency_keys"} <= await _tables(fresh_database_url)
