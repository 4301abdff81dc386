"""The service through PgBouncer in transaction mode (BFF_DATABASE_PGBOUNCER=true).

PgBouncer here is the Debian package's binary on a free port, in front of this machine's
Postgres, with two server connections per database: consecutive transactions of one client
connection land on different server connections, as they do under load in production.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.platform.connections import build_engine
from app.settings import Settings
from tests.system.scaleout.flow import whole_checkout
from tests.system.scaleout.processes import PgBouncer, pgbouncer

QUERY = text("SELECT count(*) FROM pg_class WHERE relpages >= :n")


@pytest.fixture(scope="module")
def bouncer() -> Iterator[PgBouncer]:
    with pgbouncer(pool_mode="transaction", pool_size=2) as running:
        yield running


async def same_query_after_the_server_connection_changed(engine: AsyncEngine) -> None:
    """One client connection runs a query twice; between the two, another client holds the
    server connection the first ran on, so the second lands on the other one."""
    async with engine.connect() as first, engine.connect() as second:
        await first.execute(QUERY, {"n": 1})
        await first.commit()
        await second.execute(QUERY, {"n": 2})  # its transaction stays open
        await first.execute(QUERY, {"n": 3})
        await first.commit()
        await second.commit()


async def test_a_whole_checkout_runs_through_pgbouncer_in_transaction_mode(
    bouncer: PgBouncer,
    migrated_database_url: str,
    open_checkout: Callable[..., Any],
    user: str,
) -> None:
    url = bouncer.url_for(migrated_database_url)
    async with open_checkout(database_url=url, database_pgbouncer=True) as checkout:
        for _ in range(2):  # the same statements again, on whichever server connection is free
            order = await whole_checkout(checkout, f"{user}-{_}")
            listed = await checkout.bff.get("/v1/orders", headers=checkout.auth(f"{user}-{_}"))
            assert listed.status_code == 200, listed.text
            assert order["id"] in listed.text
    # Statements are closed after use, not left to pile up on PgBouncer's server connections.
    raw = await asyncpg.connect(
        host="127.0.0.1", port=bouncer.port, user="postgres", database="postgres",
        statement_cache_size=0,
    )  # fmt: skip
    try:
        assert await raw.fetchval("SELECT count(*) FROM pg_prepared_statements") <= 3
    finally:
        await raw.close()


async def test_with_the_setting_a_query_survives_a_change_of_server_connection(
    bouncer: PgBouncer, migrated_database_url: str
) -> None:
    url = bouncer.url_for(migrated_database_url)
    engine = build_engine(Settings(database_url=url, database_pgbouncer=True))
    try:
        await same_query_after_the_server_connection_changed(engine)
    finally:
        await engine.dispose()


async def test_without_the_setting_a_cached_statement_is_missing_on_another_server_connection(
    bouncer: PgBouncer, migrated_database_url: str
) -> None:
    url = bouncer.url_for(migrated_database_url)
    engine = build_engine(Settings(database_url=url, database_pgbouncer=False))
    try:
        with pytest.raises(DBAPIError, match=r"prepared statement .* does not exist"):
            await same_query_after_the_server_connection_changed(engine)
    finally:
        await engine.dispose()
