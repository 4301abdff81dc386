"""One load shared by callers and replicas: cancellation, lock patience, namespaced keys."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from app.platform.shared_cache import LOCK_MARGIN_SECONDS, SharedCache
from local_processes.waiting import wait_until_async
from tests.platform_layer.shared_cache_loaders import counting_loader


async def test_a_cancelled_first_caller_does_not_cancel_the_load_for_the_others(
    replicas,
) -> None:
    cache = SharedCache(replicas[0], f"t{uuid.uuid4().hex}", ttl_seconds=30)
    started, release = asyncio.Event(), asyncio.Event()
    calls = {"n": 0}

    async def load() -> bytes:
        calls["n"] += 1
        started.set()
        await release.wait()
        return b'{"slots":[]}'

    first = asyncio.create_task(cache.get_or_load("k", load))
    second = asyncio.create_task(cache.get_or_load("k", load))
    await asyncio.wait_for(started.wait(), 5)
    first.cancel()  # its client went away
    with pytest.raises(asyncio.CancelledError):
        await first
    release.set()
    entry, how = await asyncio.wait_for(second, 5)
    assert (entry.body, how) == (b'{"slots":[]}', "coalesced")
    assert calls["n"] == 1
    # and the load was stored for everyone after them
    _, how = await cache.get_or_load("k", load)
    assert how == "hit" and calls["n"] == 1
    await cache.aclose()


async def test_another_replica_waits_out_a_holder_that_uses_its_whole_deadline(
    replicas,
) -> None:
    name, deadline = f"t{uuid.uuid4().hex}", 0.3
    a, b = (SharedCache(r, name, ttl_seconds=30, load_deadline_seconds=deadline) for r in replicas)
    calls = {"a": 0, "b": 0}

    async def slow_load() -> bytes:
        calls["a"] += 1
        await asyncio.sleep(deadline)  # the upstream answers just before its deadline
        return b'{"from":"a"}'

    async def load_b() -> bytes:
        calls["b"] += 1
        return b'{"from":"b"}'

    holder = asyncio.create_task(a.get_or_load("k", slow_load))

    async def lock_taken() -> bool:
        return bool(await replicas[1].exists(a.prefix + "k:lock"))

    await wait_until_async(lock_taken, what="the first replica to take the load's lock")
    entry, how = await b.get_or_load("k", load_b)
    assert (entry.body, how) == (b'{"from":"a"}', "miss")
    assert calls == {"a": 1, "b": 0}
    assert (await holder)[1] == "miss"


async def test_a_vanished_holders_lock_expires_and_one_waiter_takes_over(replicas) -> None:
    cache = SharedCache(replicas[0], f"t{uuid.uuid4().hex}", ttl_seconds=30)
    # A replica died holding the lock; what is left of its life is 200 ms.
    await replicas[1].set(cache.prefix + "k:lock", "gone", px=200)
    load, calls = counting_loader(delay=0)
    results = await asyncio.gather(*(cache.get_or_load("k", load) for _ in range(20)))
    assert calls["n"] == 1
    assert {how for _, how in results} == {"miss", "coalesced"}


async def test_the_lock_lives_for_the_loaders_deadline_plus_a_margin(replicas) -> None:
    cache = SharedCache(replicas[0], f"t{uuid.uuid4().hex}", ttl_seconds=30)
    seen: list[int] = []

    async def load() -> bytes:
        seen.append(await replicas[1].pttl(cache.prefix + "k:lock"))
        return b"{}"

    await cache.get_or_load("k", load, deadline_seconds=2.0)
    lock_ms = (2.0 + LOCK_MARGIN_SECONDS) * 1000
    assert lock_ms - 500 < seen[0] <= lock_ms
    assert not await replicas[1].exists(cache.prefix + "k:lock")  # released after the load


async def test_every_key_the_cache_writes_is_under_its_namespace(replicas) -> None:
    namespace = f"ns{uuid.uuid4().hex[:8]}"
    cache = SharedCache(replicas[0], "slots", ttl_seconds=30, namespace=namespace)
    lock_keys: list[bytes] = []

    async def load() -> bytes:
        lock_keys.extend(await replicas[1].keys(f"*{namespace}*lock*"))
        return b"{}"

    await cache.get_or_load("delivery:s1:x", load, group="delivery:s1")
    written = await replicas[1].keys(f"*{namespace}*")
    assert lock_keys and written
    assert all(k.decode().startswith(f"{namespace}:cache:slots:") for k in written + lock_keys)
    await replicas[1].delete(*written)
