"""StoreDirectory's memo of what Redis said about a store, against real Redis: a replica reads
each store's refusal and zone at most once per MEMO_SECONDS, sees its own refusals at once and
other replicas' a moment later, and keeps a bounded number of stores."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis import asyncio as aioredis

from app.stores import directory as directory_module
from app.stores.directory import MEMO_SECONDS, StoreDirectory, store_not_found
from app.stores.schemas import Store
from tests.support.clock import FakeClock
from tests.support.settings import suite_redis_url


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(suite_redis_url())
    yield client
    await client.aclose()


@pytest.fixture
async def namespace(redis: aioredis.Redis) -> AsyncIterator[str]:
    namespace = f"test:directory:{uuid.uuid4().hex}"
    yield namespace
    keys = [k async for k in redis.scan_iter(match=f"{namespace}:*")]
    if keys:
        await redis.delete(*keys)


def replica(redis: aioredis.Redis, namespace: str, clock: FakeClock) -> StoreDirectory:
    return StoreDirectory(
        redis,
        namespace=namespace,
        listed=None,
        unknown_store_seconds=60,
        monotonic=clock.monotonic,
    )


async def refused(directory: StoreDirectory, store_id: str) -> bool:
    try:
        await directory.check_remembered(store_id, "pickup")
    except directory_module.StoreNotFound:
        return True
    return False


async def test_another_replicas_refusal_is_seen_once_the_memo_lapses(
    redis: aioredis.Redis, namespace: str
) -> None:
    clock = FakeClock()
    a, b = replica(redis, namespace, clock), replica(redis, namespace, clock)
    assert not await refused(a, "store-nowhere")  # read from Redis: nothing, for a moment

    await b.remember_refusal("store-nowhere", "pickup", store_not_found("store-nowhere"))

    # b knows at once; a answers from its memo, without Redis, until the memo lapses.
    assert await refused(b, "store-nowhere")
    assert not await refused(a, "store-nowhere")
    clock.advance(MEMO_SECONDS)
    assert await refused(a, "store-nowhere")
    # Redis still holds it for every replica, for the setting's time.
    assert 0 < await redis.pttl(f"{namespace}:stores:missing:pickup:store-nowhere") <= 60_000


async def test_a_replica_sees_its_own_refusal_at_once(
    redis: aioredis.Redis, namespace: str
) -> None:
    a = replica(redis, namespace, FakeClock())
    assert not await refused(a, "store-gone")
    await a.remember_refusal("store-gone", "pickup", store_not_found("store-gone"))
    assert await refused(a, "store-gone")


async def test_a_zone_another_replica_learnt_is_seen_once_the_memo_lapses(
    redis: aioredis.Redis, namespace: str
) -> None:
    clock = FakeClock()
    a, b = replica(redis, namespace, clock), replica(redis, namespace, clock)
    assert await a.time_zone("store-1") is None

    await b.learn([Store(id="store-1", time_zone="America/Chicago")])

    assert await a.time_zone("store-1") is None
    clock.advance(MEMO_SECONDS)
    assert await a.time_zone("store-1") == "America/Chicago"


async def test_the_memo_keeps_a_bounded_number_of_stores(
    redis: aioredis.Redis, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(directory_module, "MEMO_ENTRIES", 5)
    a = replica(redis, namespace, FakeClock())
    for n in range(23):
        assert not await refused(a, f"store-{n}")
        assert len(a._memo) <= 5
