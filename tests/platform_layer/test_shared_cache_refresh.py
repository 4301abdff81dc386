"""Refresh-ahead: a key asked for at least once per TTL is refreshed before it expires, by one
replica, while a key nobody asks for expires, and an invalidation beats a refresh in flight."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as redis

from app.platform.shared_cache import SharedCache
from tests.platform_layer.shared_cache_loaders import counting_loader
from tests.support.clock import FakeClock

TTL = 20.0


def refreshing_cache(client: redis.Redis, name: str, clock: FakeClock) -> SharedCache:
    # No stale window: past its TTL a value is a miss, so only refreshing ahead avoids waits.
    return SharedCache(
        client, name, ttl_seconds=TTL, stale_seconds=0, refresh_at=0.75, clock=clock.time
    )


async def test_a_key_asked_for_once_per_ttl_waits_on_its_loader_only_the_first_time(
    replicas,
) -> None:
    clock = FakeClock()
    cache = refreshing_cache(replicas[0], f"t{uuid.uuid4().hex}", clock)
    load, calls = counting_loader(delay=0)
    waits = {"n": 0}

    def waited() -> None:
        waits["n"] += 1

    _, how = await cache.get_or_load("k", load, waited=waited)
    assert (how, waits["n"], calls["n"]) == ("miss", 1, 1)
    for round_ in range(1, 7):
        # Each hit past 75 % of the TTL (and before its end) answers at once and refreshes.
        clock.advance(0.9 * TTL)
        entry, how = await cache.get_or_load("k", load, waited=waited)
        assert how == "hit" and entry.fresh_until > clock.time()
        await cache.refreshes_done()
        assert calls["n"] == 1 + round_
    assert waits["n"] == 1
    await cache.aclose()


async def test_a_hit_before_the_refresh_point_does_not_refresh(replicas) -> None:
    clock = FakeClock()
    cache = refreshing_cache(replicas[0], f"t{uuid.uuid4().hex}", clock)
    load, calls = counting_loader(delay=0)
    await cache.get_or_load("k", load)
    clock.advance(0.7 * TTL)
    _, how = await cache.get_or_load("k", load)
    await cache.refreshes_done()
    assert how == "hit" and calls["n"] == 1
    await cache.aclose()


async def test_two_replicas_past_the_refresh_point_refresh_a_key_once(replicas) -> None:
    clock = FakeClock()
    name = f"t{uuid.uuid4().hex}"
    a, b = (refreshing_cache(r, name, clock) for r in replicas)
    load, calls = counting_loader(delay=0.05)
    await a.get_or_load("k", load, group="g")
    await b.get_or_load("k", load, group="g")  # b's in-process tier knows it too
    assert calls["n"] == 1
    clock.advance(0.8 * TTL)
    results = await asyncio.gather(
        *(cache.get_or_load("k", load, group="g") for cache in (a, b) for _ in range(20))
    )
    assert {how for _, how in results} <= {"hit", "coalesced"}
    await asyncio.gather(a.refreshes_done(), b.refreshes_done())
    # One replica refreshes; the other found the lock taken or the value already renewed,
    # even when it asks again after the refresh ended.
    assert calls["n"] == 2
    clock.advance(1.1)  # past the in-process tier, which may still hold the old value
    for cache in (a, b):
        entry, _ = await cache.get_or_load("k", load, group="g")
        assert entry.fresh_until >= clock.time() + 0.8 * TTL
    await asyncio.gather(a.refreshes_done(), b.refreshes_done())
    assert calls["n"] == 2
    await a.aclose()
    await b.aclose()


async def test_a_key_nobody_asks_for_is_not_refreshed_and_expires(replicas) -> None:
    clock = FakeClock()
    cache = refreshing_cache(replicas[0], f"t{uuid.uuid4().hex}", clock)
    hot, hot_calls = counting_loader(delay=0)
    cold, cold_calls = counting_loader(delay=0)
    await cache.get_or_load("hot", hot)
    await cache.get_or_load("cold", cold)
    for _ in range(4):
        clock.advance(0.8 * TTL)
        await cache.get_or_load("hot", hot)
        await cache.refreshes_done()
    assert (hot_calls["n"], cold_calls["n"]) == (5, 1)
    waits = {"n": 0}

    def waited() -> None:
        waits["n"] += 1

    _, how = await cache.get_or_load("cold", cold, waited=waited)
    assert (how, cold_calls["n"], waits["n"]) == ("miss", 2, 1)
    await cache.aclose()


async def test_an_invalidation_during_a_refresh_wins(replicas) -> None:
    clock = FakeClock()
    name = f"t{uuid.uuid4().hex}"
    a, b = (refreshing_cache(r, name, clock) for r in replicas)
    started, release = asyncio.Event(), asyncio.Event()
    bodies = iter([b'{"v":1}', b'{"v":2}', b'{"v":3}'])

    async def load() -> bytes:
        body = next(bodies)
        if body == b'{"v":2}':  # the refresh: held until the invalidation is done
            started.set()
            await release.wait()
        return body

    await a.get_or_load("k", load, group="g")
    clock.advance(0.8 * TTL)
    entry, how = await a.get_or_load("k", load, group="g")
    assert (how, entry.body) == ("hit", b'{"v":1}')
    await asyncio.wait_for(started.wait(), 5)
    await b.invalidate_group("g")  # a reservation on another replica
    release.set()
    await a.refreshes_done()
    # What the refresh read may predate the reservation: it was not stored.
    entry, how = await b.get_or_load("k", load, group="g")
    assert (how, entry.body) == ("miss", b'{"v":3}')
    # and the refreshing replica, told by the refused store, dropped its own copy at once
    entry, how = await a.get_or_load("k", load, group="g")
    assert (how, entry.body) == ("hit", b'{"v":3}')
    await a.aclose()
    await b.aclose()


async def test_a_load_that_fails_counts_as_a_wait(replicas) -> None:
    cache = SharedCache(replicas[0], f"t{uuid.uuid4().hex}", ttl_seconds=TTL)
    waits = {"n": 0}

    def waited() -> None:
        waits["n"] += 1

    async def failing() -> bytes:
        raise RuntimeError("upstream down")

    results = await asyncio.gather(
        *(cache.get_or_load("k", failing, waited=waited) for _ in range(3)),
        return_exceptions=True,
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    assert waits["n"] == 3
    await cache.aclose()
