"""Fixtures of the fault suite: one private PostgreSQL cluster per session, a fleet per test."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.database import upgrade
from tests.faults.harness import open_fleet
from tests.faults.processes import PrivatePostgres

TEMPLATE = "faults_template"


async def _create(pg: PrivatePostgres, database: str) -> None:
    conn = await asyncpg.connect(pg.dsn())
    try:
        await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PrivatePostgres]:
    """A cluster of our own (a test may stop it), with a migrated template database."""
    pg = PrivatePostgres()
    try:
        pg.init()
        asyncio.run(_create(pg, TEMPLATE))
        upgrade(pg.url(TEMPLATE))
        yield pg
    finally:
        pg.destroy()


@pytest.fixture
def fleet(private_postgres: PrivatePostgres, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``async with fleet(name, replicas=2, BFF_X="..") as f``: a fleet on its own database."""

    def build(name: str, **kwargs: Any) -> contextlib.AbstractAsyncContextManager[Any]:
        return open_fleet(name, tmp_path, private_postgres, TEMPLATE, **kwargs)

    yield build
    # a scenario that stopped the cluster must not take the next one down with it
    private_postgres.ensure_running()
