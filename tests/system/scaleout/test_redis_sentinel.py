"""The service on a Sentinel-managed master (BFF_REDIS_URL=redis+sentinel://...)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app.orders.events import OrderEvents
from app.platform.connections import build_redis
from app.platform.redis_urls import parse_sentinel_url
from app.platform.shared_cache import SharedCache
from app.settings import Settings
from tests.system.scaleout.flow import (
    fan_out_on,
    order_change_reaches,
    rate_limit_holds,
    whole_checkout,
)
from tests.system.scaleout.processes import RedisSentinel, redis_cli, redis_sentinel


# The event streams build their own Redis pool from BFF_REDIS_URL, which redis-py cannot read
# when it names sentinels; app.platform.connections.build_redis(settings, max_connections=...,
# blocking=False) builds it for every kind of URL.
@pytest.fixture(scope="module")
def sentinel() -> Iterator[RedisSentinel]:
    with redis_sentinel() as running:
        yield running


async def test_the_sentinel_url_reaches_the_master_for_cache_locks_limits_and_pubsub(
    sentinel: RedisSentinel,
) -> None:
    settings = Settings(redis_url=sentinel.url)
    client = build_redis(settings)
    streams = build_redis(settings, max_connections=4, blocking=False)
    namespace = f"sentinel-{uuid.uuid4().hex[:8]}"
    try:
        await client.ping()
        cache = SharedCache(client, "slots", namespace=namespace, ttl_seconds=30)
        loads = 0

        async def load() -> bytes:
            nonlocal loads
            loads += 1
            return b'{"slots": []}'

        await cache.get_or_load("delivery:s1:x", load, group="delivery:s1")
        cache._local.clear()
        _, how = await cache.get_or_load("delivery:s1:x", load, group="delivery:s1")
        assert (how, loads) == ("hit", 1)
        # Written on the master the sentinel names, behind its password.
        keys = redis_cli(sentinel.master_port, "keys", f"{namespace}:*", password=sentinel.password)
        assert f"{namespace}:cache:slots:{{delivery:s1}}:delivery:s1:x" in keys

        lock = client.lock(f"{namespace}:lock", timeout=5, blocking=False, thread_local=False)
        assert await lock.acquire()
        await lock.release()

        events = OrderEvents(streams, namespace)
        async with fan_out_on(streams, events) as fan_out, fan_out.subscribe("o1") as subscription:
            assert await client.publish(events.channel("o1"), b'{"version": 2, "order": {}}') == 1
            change = await subscription.next_change(5)
        assert change is not None and change.version == 2
    finally:
        await streams.aclose()
        await client.aclose()


def test_a_sentinel_url_names_its_sentinels_service_database_and_credentials() -> None:
    target = parse_sentinel_url("redis+sentinel://:p%40ss@s1:26380,[::1],s3/mymaster/2")
    assert target.sentinels == (("s1", 26380), ("::1", 26379), ("s3", 26379))
    assert (target.service_name, target.db, target.password, target.ssl) == (
        "mymaster",
        2,
        "p@ss",
        False,
    )
    for bad in ("redis+sentinel://s1/", "redis+sentinel://s1/m/x", "redis+sentinel:///m"):
        with pytest.raises(ValueError) as error:
            parse_sentinel_url(bad)
        assert "p@ss" not in str(error.value)


async def test_a_whole_checkout_runs_behind_redis_sentinel(
    sentinel: RedisSentinel, open_checkout: Callable[..., Any], user: str
) -> None:
    async with open_checkout(redis_url=sentinel.url, order_refresh_seconds=0) as checkout:
        order = await whole_checkout(checkout, user)
        await rate_limit_holds(checkout, user)
        async with fan_out_on(
            checkout.app.state.bff.redis, checkout.app.state.bff.checkout.events
        ) as on_main_client:
            await order_change_reaches(
                checkout, order, user, on_main_client, checkout.app.state.bff.order_streams.fan_out
            )
        assert (await checkout.stats())["tokens_issued"] == 1
