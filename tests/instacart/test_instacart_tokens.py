"""The shared access token: one per fleet, refreshed ahead, dropped only when it is the one sent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.lock import Lock

from app.instacart import (
    FindStoresRequest,
    InstacartClient,
    InstacartCredentialsRejected,
    RefreshPolicy,
    TokenProvider,
    TokenResponse,
)
from app.instacart.tokens import AccessToken, token_key
from app.settings import Settings
from local_processes.waiting import wait_until_async
from sandbox.app import create_sandbox_app
from sandbox.config import SandboxConfig
from tests.instacart.helpers import SECRET, LogRecorder, SandboxControl, metric
from tests.support.clock import FakeClock

SF = FindStoresRequest(postal_code="94105")


async def test_concurrent_calls_in_one_process_make_one_token_request(
    client: InstacartClient, control: SandboxControl, redis_client: aioredis.Redis
) -> None:
    results = await asyncio.gather(*(client.find_delivery_stores(SF) for _ in range(50)))
    assert all(results)
    assert await control.tokens_issued() == 1
    stored = orjson.loads(await redis_client.get(client.tokens.key))
    assert set(stored) >= {"access_token", "expires_at"}
    assert stored["expires_at"] > time.time() + 86000
    assert 86000 < await redis_client.pttl(client.tokens.key) / 1000 <= 86400


async def test_replicas_sharing_redis_make_one_token_request(
    make_client: Callable[..., InstacartClient], control: SandboxControl
) -> None:
    # Separate clients have separate asyncio locks and memory, like separate processes:
    # only the Redis lock keeps them from each fetching a token.
    clients = [make_client() for _ in range(4)]
    await asyncio.gather(*(c.find_delivery_stores(SF) for c in clients for _ in range(10)))
    assert await control.tokens_issued() == 1
    for c in clients:
        await c.aclose()


async def test_revoked_token_costs_one_refresh_and_no_failed_call(
    make_client: Callable[..., InstacartClient], control: SandboxControl, logs: LogRecorder
) -> None:
    clients = [make_client() for _ in range(3)]
    await asyncio.gather(*(c.find_pickup_stores(SF) for c in clients))
    assert await control.revoke_tokens() == 1

    results = await asyncio.gather(*(c.find_pickup_stores(SF) for c in clients for _ in range(10)))

    assert all(results)
    assert await control.tokens_issued() == 2
    assert logs.named("upstream.request.retry")
    assert {e["reason"] for e in logs.named("upstream.request.retry")} == {"token_rejected"}
    for c in clients:
        await c.aclose()


async def test_second_401_raises_credentials_rejected() -> None:
    calls: dict[str, int] = {"token": 0, "stores": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/oauth/token":
            calls["token"] += 1
            return httpx.Response(200, json={"access_token": f"t{calls['token']}"})
        calls["stores"] += 1
        return httpx.Response(401, json={"error": "invalid or expired token", "status": 401})

    async with InstacartClient(
        base_url="http://instacart.test",
        client_id="id",
        client_secret="s",
        transport=httpx.MockTransport(handler),
    ) as client:
        with pytest.raises(InstacartCredentialsRejected) as caught:
            await client.find_delivery_stores(SF)
    assert calls == {"token": 2, "stores": 2}
    assert caught.value.operation == "findDeliveryStores" and caught.value.status == 401
    assert "rejected" in str(caught.value)


async def test_invalidating_a_stale_token_keeps_the_newer_one(
    client: InstacartClient, redis_client: aioredis.Redis
) -> None:
    await client.find_delivery_stores(SF)
    current = orjson.loads(await redis_client.get(client.tokens.key))["access_token"]
    await client.tokens.invalidate("an-older-token")
    assert await redis_client.exists(client.tokens.key)
    assert await client.tokens.get() == current
    await client.tokens.invalidate(current)
    assert not await redis_client.exists(client.tokens.key)


async def test_redis_down_calls_still_succeed_with_a_process_local_token(
    make_client: Callable[..., InstacartClient], control: SandboxControl, logs: LogRecorder
) -> None:
    dead = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    async with make_client(redis=dead) as client:
        results = [await client.find_delivery_stores(SF) for _ in range(5)]
        results += await asyncio.gather(*(client.find_pickup_stores(SF) for _ in range(10)))
        await control.revoke_tokens()
        results.append(await client.find_pickup_stores(SF))  # 401 -> local refresh
    await dead.aclose()
    assert all(results)
    assert await control.tokens_issued() == 2
    warnings = logs.named("instacart.token.redis_unavailable")
    assert len(warnings) == 1 and warnings[0]["level"] == "warning"


# Methods that do no I/O and are not awaited (redis-py's Lock registers its scripts with them).
_LOCAL_METHODS = frozenset({"register_script", "get_encoder"})


class FlakyRedis:
    """A real Redis client that fails like a dead server while ``down`` is set."""

    def __init__(self, real: aioredis.Redis) -> None:
        self.real = real
        self.down = False

    def lock(self, name: str, **kwargs: Any) -> Lock:
        # redis-py's lock, talking through this wrapper so that it fails with the rest.
        return Lock(self, name, **kwargs)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.real, name)
        if name in _LOCAL_METHODS:
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise redis.exceptions.ConnectionError("Connection refused")
            return await attr(*args, **kwargs)

        return call


async def test_redis_is_tried_again_after_an_outage(
    redis_client: aioredis.Redis, key_prefix: str, logs: LogRecorder
) -> None:
    flaky = FlakyRedis(redis_client)
    flaky.down = True
    clock = FakeClock()
    fetched: list[int] = []
    provider = provider_for(fetched, flaky, key_prefix, clock, redis_retry_seconds=5.0)
    first = await provider.get()
    assert not await redis_client.exists(provider.key)
    flaky.down = False
    clock.advance(5.0)
    await provider.invalidate(first)  # as after a 401
    assert await provider.get() == "fetched-2"  # the refresh goes through Redis again
    assert await redis_client.exists(provider.key)
    assert [e["event"] for e in logs.events if "redis" in e["event"]] == [
        "instacart.token.redis_unavailable",
        "instacart.token.redis_recovered",
    ]


async def test_token_is_refreshed_ahead_of_expiry_without_a_401(
    make_client: Callable[..., InstacartClient], client_id: str
) -> None:
    # The sandbox and the client read the same fake clock: its tokens expire when it moves.
    clock = FakeClock()
    sandbox = create_sandbox_app(
        SandboxConfig(client_id=client_id, client_secret=SECRET, clock=clock.utc)
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sandbox), base_url="http://sandbox.test"
    ) as http:
        control = SandboxControl(http)
        await control.faults(token_ttl_seconds=2)
        refresh = RefreshPolicy(floor_seconds=0.5, jitter=0.0)
        transport = httpx.ASGITransport(app=sandbox)
        async with make_client(
            token_refresh=refresh, token_clock=clock.time, transport=transport
        ) as client:
            calls = 0
            for _ in range(185):  # 3.7 s in steps of 20 ms
                assert await client.find_pickup_stores(SF)
                calls += 1
                clock.advance(0.02)
        stats = await control.stats()
    # Lifetime 2 s, refreshed 0.5 s early: tokens at about 0, 1.5 and 3 s.
    assert stats["tokens_issued"] == 3
    assert stats["responses"]["findPickupStores"] == {"200": calls}


async def test_tokens_and_secrets_never_reach_the_logs(
    make_client: Callable[..., InstacartClient],
    control: SandboxControl,
    redis_client: aioredis.Redis,
    logs: LogRecorder,
) -> None:
    async with make_client() as client:
        await client.find_pickup_stores(SF)
        token = orjson.loads(await redis_client.get(client.tokens.key))["access_token"]
        await control.revoke_tokens()
        await client.find_pickup_stores(SF)
        token2 = orjson.loads(await redis_client.get(client.tokens.key))["access_token"]
        assert token not in repr(client.tokens._token) and token2 not in repr(client.tokens._token)
    dumped = orjson.dumps(logs.events, default=str).decode()
    assert "instacart.token.refreshed" in dumped
    for secret in (token, token2, "test-secret"):
        assert secret not in dumped


async def test_refresh_results_are_counted(
    make_client: Callable[..., InstacartClient],
) -> None:
    success = metric("bff_instacart_token_refreshes_total", result="success")
    failure = metric("bff_instacart_token_refreshes_total", result="failure")
    async with make_client() as client:
        await client.find_pickup_stores(SF)
    async with make_client(client_secret="wrong", token_key_prefix="test:instacart:x") as bad:
        with pytest.raises(InstacartCredentialsRejected):
            await bad.find_pickup_stores(SF)
    assert metric("bff_instacart_token_refreshes_total", result="success") == success + 1
    assert metric("bff_instacart_token_refreshes_total", result="failure") == failure + 1


# --- the provider alone, with a counting fetch and a fake clock ---


def counting_fetch(
    counter: list[int], *, gate: asyncio.Event | None = None, lifetime: int = 86400
) -> Callable[[], Awaitable[TokenResponse]]:
    """A token endpoint that counts its calls; with ``gate``, it answers once the gate opens."""

    async def fetch() -> TokenResponse:
        counter.append(1)
        if gate is not None:
            await gate.wait()
        return TokenResponse(access_token=f"fetched-{len(counter)}", expires_in=lifetime)

    return fetch


def provider_for(
    fetched: list[int],
    redis: Any,
    key_prefix: str,
    clock: FakeClock,
    *,
    gate: asyncio.Event | None = None,
    **kwargs: Any,
) -> TokenProvider:
    return TokenProvider(
        counting_fetch(fetched, gate=gate),
        redis,
        client_id="c",
        key_prefix=key_prefix,
        clock=clock.time,
        monotonic=clock.monotonic,
        sleep=clock.sleep,
        **kwargs,
    )


async def test_loser_waits_for_the_winners_token(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    fetched: list[int] = []
    clock = FakeClock()
    key = token_key(key_prefix, "c")
    await redis_client.set(f"{key}:lock", "another-process", px=60_000)

    async def sleep(seconds: float) -> None:
        await clock.sleep(seconds)
        if clock.slept >= 1.0:  # the other process stores its token a second later
            token = AccessToken("winners-token", clock.time() + 86400, 86400)
            await redis_client.set(key, token.to_json(), px=86_400_000)

    provider = TokenProvider(
        counting_fetch(fetched),
        redis_client,
        client_id="c",
        key_prefix=key_prefix,
        clock=clock.time,
        monotonic=clock.monotonic,
        sleep=sleep,
    )
    assert await provider.get() == "winners-token"
    assert fetched == []


async def test_waiters_outlast_a_slow_holder_before_fetching_their_own(
    redis_client: aioredis.Redis, key_prefix: str, logs: LogRecorder
) -> None:
    fetched: list[int] = []
    clock = FakeClock()
    provider = provider_for(fetched, redis_client, key_prefix, clock, fetch_deadline_seconds=10)
    # A holder that crashed, or is still inside its 10 s token request.
    await redis_client.set(f"{token_key(key_prefix, 'c')}:lock", "crashed", px=60_000)
    assert await provider.get() == "fetched-1"
    # Longer than the holder's deadline and its lock (15 s), then a bounded wait: 20 s.
    assert 20.0 <= clock.slept < 20.2
    assert len(logs.named("instacart.token.lock_wait_exceeded")) == 1


def test_waiters_must_be_more_patient_than_the_lock_and_the_lock_than_the_fetch() -> None:
    async def never() -> TokenResponse:
        raise AssertionError

    with pytest.raises(ValueError, match="fetch deadline < lock ttl < wait"):
        TokenProvider(never, None, client_id="c", fetch_deadline_seconds=10, wait_seconds=10)
    with pytest.raises(ValueError, match="fetch deadline < lock ttl < wait"):
        TokenProvider(never, None, client_id="c", fetch_deadline_seconds=10, lock_ttl_seconds=9)


async def test_lock_is_released_only_by_its_owner(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    fetched: list[int] = []
    gate = asyncio.Event()
    provider = provider_for(fetched, redis_client, key_prefix, FakeClock(), gate=gate)
    lock_key = f"{token_key(key_prefix, 'c')}:lock"
    task = asyncio.get_running_loop().create_task(provider.get())
    await wait_until_async(lambda: fetched, what="the token request under way")
    # The lock expired and someone else took it meanwhile: our release must not delete theirs.
    await redis_client.set(lock_key, "someone-else", px=5000)
    gate.set()
    assert await task == "fetched-1"
    assert await redis_client.get(lock_key) == b"someone-else"


async def test_a_cancelled_caller_does_not_cancel_the_refresh_others_wait_for(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    fetched: list[int] = []
    gate = asyncio.Event()
    provider = provider_for(fetched, redis_client, key_prefix, FakeClock(), gate=gate)
    loop = asyncio.get_running_loop()
    first = loop.create_task(provider.get())
    await wait_until_async(lambda: fetched, what="the token request under way")
    second = loop.create_task(provider.get())
    await asyncio.sleep(0)  # one turn of the loop: the second caller joins the refresh
    first.cancel()  # the caller that started the refresh gives up (its deadline, say)
    gate.set()
    assert await second == "fetched-1"
    assert first.cancelled()
    assert await provider.get() == "fetched-1"
    assert fetched == [1]
    assert await redis_client.exists(provider.key)


async def test_concurrent_callers_share_one_refresh_and_its_failure(
    key_prefix: str,
) -> None:
    calls: list[int] = []

    async def failing() -> TokenResponse:
        calls.append(1)
        await asyncio.sleep(0)
        raise RuntimeError("token endpoint down")

    provider = TokenProvider(failing, None, client_id="c", key_prefix=key_prefix)
    outcomes = await asyncio.gather(*(provider.get() for _ in range(5)), return_exceptions=True)
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    assert calls == [1]


def test_refresh_margin_is_an_hour_for_a_day_and_bounded_for_short_tokens() -> None:
    policy = RefreshPolicy()
    assert policy.margin(86400, 0.0) == 3600
    assert 3600 <= policy.margin(86400, 1.0) <= 3600 * 1.25
    assert policy.margin(7 * 86400, 0.0) == 3600  # ceiling
    assert policy.margin(4, 0.0) == 1.0  # floor
    assert policy.margin(2, 0.0) == 0.5  # the floor takes at most a quarter of the lifetime


async def test_memory_token_is_used_without_touching_redis(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    fetched: list[int] = []
    flaky = FlakyRedis(redis_client)
    provider = provider_for(fetched, flaky, key_prefix, FakeClock())
    first = await provider.get()
    flaky.down = True  # any Redis access would now fail and be logged
    assert [await provider.get() for _ in range(100)] == [first] * 100
    assert fetched == [1]
    assert not provider._redis_down_logged


async def test_token_keys_live_under_the_configured_namespace() -> None:
    settings = Settings(cache_namespace="tenant-a", instacart_client_id="cid")
    async with InstacartClient.from_settings(settings, redis=None) as client:
        assert client.tokens.key == token_key("tenant-a:instacart:token", "cid")
        assert client.tokens.key.startswith("tenant-a:instacart:token:")
