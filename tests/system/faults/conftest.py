"""Fixtures of the fault suite: one private PostgreSQL cluster per session, a fleet per test."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from local_processes.postgres import PrivatePostgres, create_database, upgrade
from tests.support.ci import tools_required
from tests.system.faults.harness import open_fleet


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[tuple[PrivatePostgres, str]]:
    """A cluster of our own (a test may stop it), and the URL of a migrated template database
    on it that each fleet's database copies."""
    with tools_required():
        pg = PrivatePostgres()
    try:
        pg.init()
        template = asyncio.run(create_database(pg.url(), prefix="faults_template"))
        upgrade(template)
        yield pg, template
    finally:
        pg.destroy()


@pytest.fixture
def fleet(
    private_postgres: tuple[PrivatePostgres, str], tmp_path: Path
) -> Iterator[Callable[..., Any]]:
    """``async with fleet(name, replicas=2, BFF_X="..") as f``: a fleet on its own database."""
    pg, template = private_postgres

    def build(name: str, **kwargs: Any) -> contextlib.AbstractAsyncContextManager[Any]:
        return open_fleet(name, tmp_path, pg, template, **kwargs)

    yield build
    # a scenario that stopped the cluster must not take the next one down with it
    pg.ensure_running()
