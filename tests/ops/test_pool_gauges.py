"""The gauges of the service's own pools follow the real pools: connections taken from the
running app's Postgres engine and Redis client show on /metrics while held, and leave when
they are given back."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import sqlalchemy.exc
from asgi_lifespan import LifespanManager
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.lifespan import State, state_of
from app.main import create_app
from app.platform.pool_gauges import WaitCountingQueuePool
from app.settings import Settings
from local_processes.waiting import wait_until_async

POOL_GAUGES = [
    f"bff_{pool}_pool_{field}"
    for pool in ("database", "redis")
    for field in ("connections", "open", "in_use")
] + ["bff_database_pool_waiting"]


def outside() -> dict[str, float]:
    """The pool gauges before an app starts: any other app still running in this process
    counts in them, and the tests look at what theirs adds."""
    return {name: REGISTRY.get_sample_value(name) or 0.0 for name in POOL_GAUGES}


async def scrape(client: httpx.AsyncClient, base: dict[str, float]) -> dict[str, float]:
    """The pool gauges as Prometheus reads them from /metrics, less `base`."""
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    samples = {
        sample.name: sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    return {name: samples[name] - base[name] for name in POOL_GAUGES}


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[State, httpx.AsyncClient]]:
    app = create_app(settings)
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://bff.test"
        ) as client,
    ):
        yield state_of(app), client


async def test_database_pool_gauges_count_connections_checked_out(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(database_pool_size=3, reconciler_enabled=False)
    base = outside()
    async with serving(settings) as (state, client):
        before = await scrape(client, base)
        assert before["bff_database_pool_connections"] == 6  # the size and as many in overflow
        assert before["bff_database_pool_in_use"] == 0
        async with contextlib.AsyncExitStack() as held:
            for _ in range(4):  # one past the pool's size: an overflow connection
                await held.enter_async_context(state.engine.connect())
            during = await scrape(client, base)
            assert during["bff_database_pool_in_use"] == 4
            assert during["bff_database_pool_open"] == 4
        after = await scrape(client, base)
        assert after["bff_database_pool_in_use"] == 0
        # Given back: the pool keeps its size open, the overflow connection is closed.
        assert after["bff_database_pool_open"] == 3
        assert after["bff_database_pool_connections"] == 6
    # Stopped, the app's pool leaves the process's sum.
    assert (
        REGISTRY.get_sample_value("bff_database_pool_connections")
        == base["bff_database_pool_connections"]
    )


async def test_redis_pool_gauges_count_connections_held_by_commands(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(redis_max_connections=8, reconciler_enabled=False)
    keys = [f"test:pool-gauges:{uuid.uuid4().hex}" for _ in range(3)]
    base = outside()
    async with serving(settings) as (state, client):
        before = await scrape(client, base)
        assert before["bff_redis_pool_connections"] == 8
        idle_in_use = before["bff_redis_pool_in_use"]
        # A blocking pop holds its connection until a value comes: three of them, three in use.
        pops = [asyncio.create_task(state.redis.blpop([key], timeout=10)) for key in keys]

        async def three_more_in_use() -> dict[str, float] | None:
            samples = await scrape(client, base)
            return samples if samples["bff_redis_pool_in_use"] == idle_in_use + 3 else None

        during = await wait_until_async(three_more_in_use, what="3 Redis connections in use")
        assert during["bff_redis_pool_open"] >= 3
        for key in keys:
            await state.redis.rpush(key, "done")
        assert all(result is not None for result in await asyncio.gather(*pops))
        after = await scrape(client, base)
        assert after["bff_redis_pool_in_use"] == idle_in_use
        assert after["bff_redis_pool_open"] >= 3  # kept for the next commands
        await state.redis.delete(*keys)


async def test_callers_waiting_for_a_postgres_connection_are_counted(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(database_pool_size=1, reconciler_enabled=False)
    base = outside()
    async with serving(settings) as (state, client), contextlib.AsyncExitStack() as held:
        first = await held.enter_async_context(state.engine.connect())
        await held.enter_async_context(state.engine.connect())  # the overflow: the pool is full

        async def third() -> int:
            async with state.engine.connect() as connection:
                return (await connection.execute(text("SELECT 3"))).scalar_one()

        waiter = asyncio.create_task(third())

        async def one_waiting() -> bool:
            return (await scrape(client, base))["bff_database_pool_waiting"] == 1

        await wait_until_async(one_waiting, what="a caller waiting for a connection")
        await first.close()  # given back: the waiter takes it
        assert await waiter == 3
        assert (await scrape(client, base))["bff_database_pool_waiting"] == 0


async def test_a_wait_for_a_postgres_connection_that_runs_out_is_counted(
    make_settings: Callable[..., Settings],
) -> None:
    # The service's pool waits 5 s; the same pool class with a short wait, on the same server.
    url = make_settings().database_url
    engine = create_async_engine(
        url, poolclass=WaitCountingQueuePool, pool_size=1, max_overflow=0, pool_timeout=0.1
    )
    before = REGISTRY.get_sample_value("bff_database_pool_timeouts_total") or 0.0
    try:
        async with engine.connect():
            with pytest.raises(sqlalchemy.exc.TimeoutError):
                async with engine.connect():
                    pass
        async with engine.connect() as connection:  # free again: no wait, nothing counted
            await connection.execute(text("SELECT 1"))
    finally:
        await engine.dispose()
    assert REGISTRY.get_sample_value("bff_database_pool_timeouts_total") == before + 1
