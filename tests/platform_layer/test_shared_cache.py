"""The shared cache against a real Redis: single-flight across replicas, TTL, invalidation."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as redis

from app.platform.shared_cache import SharedCache, etag_for
from local_processes.waiting import wait_until_async
from tests.platform_layer.shared_cache_loaders import counting_loader
from tests.support.clock import FakeClock


async def test_200_cold_requests_from_two_replicas_cost_one_load(replicas) -> None:
    name = f"t{uuid.uuid4().hex}"
    caches = [SharedCache(r, name, ttl_seconds=30) for r in replicas]
    load, calls = counting_loader(delay=0.1)
    results = await asyncio.gather(
        *(caches[i % 2].get_or_load("delivery:s1:addr", load) for i in range(200))
    )
    assert calls["n"] == 1
    assert {entry.body for entry, _ in results} == {b'{"slots":[]}'}
    assert {entry.etag for entry, _ in results} == {etag_for(b'{"slots":[]}')}
    assert {how for _, how in results} <= {"miss", "coalesced", "hit"}


async def test_after_the_ttl_stale_is_served_while_one_refresh_runs(replicas) -> None:
    clock = FakeClock()
    cache = SharedCache(
        replicas[0], f"t{uuid.uuid4().hex}", ttl_seconds=30, stale_seconds=60, clock=clock.time
    )
    bodies = iter([b'{"v":1}', b'{"v":2}'])
    calls = {"n": 0}

    async def load() -> bytes:
        calls["n"] += 1
        return next(bodies)

    await cache.get_or_load("k", load)
    clock.advance(31)
    entry, how = await cache.get_or_load("k", load)
    assert (how, entry.body) == ("stale", b'{"v":1}')

    async def refreshed() -> bool:
        entry, how = await cache.get_or_load("k", load)
        return how == "hit" and entry.body == b'{"v":2}'

    await wait_until_async(refreshed, what="the stale value replaced by one refresh")
    assert calls["n"] == 2
    await cache.aclose()


async def test_past_the_stale_window_a_value_is_a_miss(replicas) -> None:
    clock = FakeClock()
    cache = SharedCache(
        replicas[0], f"t{uuid.uuid4().hex}", ttl_seconds=30, stale_seconds=60, clock=clock.time
    )
    load, calls = counting_loader(delay=0)
    await cache.get_or_load("k", load)
    clock.advance(91)
    _, how = await cache.get_or_load("k", load)
    assert how == "miss" and calls["n"] == 2


async def test_invalidating_a_group_drops_its_keys_everywhere(replicas) -> None:
    name = f"t{uuid.uuid4().hex}"
    a, b = (SharedCache(r, name, ttl_seconds=30) for r in replicas)
    load, calls = counting_loader()
    await a.get_or_load("delivery:s1:x", load, group="delivery:s1")
    await a.get_or_load("delivery:s1:y", load, group="delivery:s1")
    await a.get_or_load("delivery:s2:x", load, group="delivery:s2")
    assert calls["n"] == 3
    await b.invalidate_group("delivery:s1")
    await a.invalidate_group("delivery:s1")
    _, how = await a.get_or_load("delivery:s1:x", load, group="delivery:s1")
    assert how == "miss"
    _, how = await a.get_or_load("delivery:s2:x", load, group="delivery:s2")
    assert how == "hit"
    assert calls["n"] == 4


async def test_invalidating_a_group_leaves_only_its_moved_generation_in_redis(replicas) -> None:
    name = f"t{uuid.uuid4().hex}"
    cache = SharedCache(replicas[0], name, ttl_seconds=30)
    load, _ = counting_loader()
    for key in ("pickup:s1:x", "pickup:s1:y", "pickup:s1:z"):
        await cache.get_or_load(key, load, group="pickup:s1")
    await cache.get_or_load("pickup:s2:x", load, group="pickup:s2")
    generation = cache.prefix + "gen:{pickup:s1}"
    before = int(await replicas[0].get(generation) or 0)

    await cache.invalidate_group("pickup:s1")

    left = sorted([k.decode() async for k in replicas[0].scan_iter(f"{cache.prefix}*")])
    assert left == sorted(
        [generation, cache.prefix + "{pickup:s2}:pickup:s2:x", cache.prefix + "group:{pickup:s2}"]
    )
    assert int(await replicas[0].get(generation)) == before + 1
    assert await replicas[0].ttl(generation) > 0
    # A group with nothing in it moves its generation all the same.
    await cache.invalidate_group("pickup:s1")
    assert int(await replicas[0].get(generation)) == before + 2


async def test_local_tier_serves_without_redis_for_its_short_life(replicas) -> None:
    clock = FakeClock()
    name = f"t{uuid.uuid4().hex}"
    cache = SharedCache(replicas[0], name, ttl_seconds=30, local_ttl_seconds=1, clock=clock.time)
    load, calls = counting_loader()
    await cache.get_or_load("k", load)
    await replicas[0].delete(cache.prefix + "k")
    clock.advance(0.9)
    _, how = await cache.get_or_load("k", load)
    assert how == "hit" and calls["n"] == 1
    clock.advance(0.2)
    _, how = await cache.get_or_load("k", load)
    assert how == "miss" and calls["n"] == 2


async def test_redis_down_goes_to_the_loader_coalesced() -> None:
    dead = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    cache = SharedCache(dead, f"t{uuid.uuid4().hex}", ttl_seconds=30)
    load, calls = counting_loader(delay=0.1)
    results = await asyncio.gather(*(cache.get_or_load("k", load) for _ in range(50)))
    assert calls["n"] == 1
    assert {how for _, how in results} == {"bypass", "coalesced"}
    await dead.aclose()


async def test_a_failed_load_reaches_every_waiter_and_is_not_cached(replicas) -> None:
    cache = SharedCache(replicas[0], f"t{uuid.uuid4().hex}", ttl_seconds=30)
    attempts = {"n": 0}

    async def failing() -> bytes:
        attempts["n"] += 1
        await asyncio.sleep(0.05)  # the upstream's time to fail, while the others arrive
        raise RuntimeError("upstream down")

    results = await asyncio.gather(
        *(cache.get_or_load("k", failing) for _ in range(10)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    assert attempts["n"] == 1
    load, calls = counting_loader()
    _, how = await cache.get_or_load("k", load)
    assert how == "miss" and calls["n"] == 1
