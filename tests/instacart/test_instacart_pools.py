"""The client built from Settings, over real sockets: timeouts, limits and two pools."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from app.instacart import (
    USER_AGENT,
    Cart,
    CartItem,
    CreateOrderRequest,
    FindStoresRequest,
    InstacartBadRequest,
    InstacartClient,
)
from app.instacart.errors import InstacartPoolExhausted
from app.instacart.refusals import translate
from app.settings import Settings
from local_processes.waiting import wait_until_async
from tests.instacart.helpers import SECRET
from tests.support.settings import suite_redis_url

SF = FindStoresRequest(postal_code="94105")


def settings_for(base_url: str, client_id: str, **overrides: object) -> Settings:
    return Settings(
        instacart_base_url=base_url,
        instacart_client_id=client_id,
        instacart_client_secret=SECRET,
        instacart_connect_timeout_seconds=1.5,
        instacart_read_timeout_seconds=7.0,
        **overrides,
    )


async def test_from_settings_configures_timeouts_limits_and_user_agent(
    sandbox_process: tuple[str, str],
) -> None:
    base_url, client_id = sandbox_process
    redis = aioredis.Redis.from_url(suite_redis_url())
    client = InstacartClient.from_settings(
        settings_for(base_url, client_id), redis=redis, token_key_prefix=f"test:{uuid.uuid4()}"
    )
    async with client:
        for http in (client._http, client._create_http):
            assert http.timeout == httpx.Timeout(connect=1.5, read=7.0, write=7.0, pool=0.5)
            assert http.headers["user-agent"] == USER_AGENT
        assert await client.find_delivery_stores(SF)
        await client.tokens.invalidate(await client.tokens.get())
    assert client._http.is_closed and client._create_http.is_closed
    await redis.aclose()


async def test_slow_order_creation_does_not_starve_reads(sandbox_process: tuple[str, str]) -> None:
    base_url, client_id = sandbox_process
    async with httpx.AsyncClient(base_url=base_url) as control:
        await control.put(
            "/sandbox/faults", json={"operations": {"createDeliveryOrder": {"latency_ms": 800}}}
        )
        settings = settings_for(
            base_url,
            client_id,
            instacart_max_create_connections=1,
            instacart_max_read_connections=2,
            instacart_pool_wait_seconds=5,  # the second create waits its turn here
        )
        client = InstacartClient.from_settings(settings, redis=None)
        try:
            await client.find_delivery_stores(SF)  # the token, outside the measurement
            order = CreateOrderRequest(
                hold_id="no-such-hold", cart=Cart(items=[CartItem(product_id="1001", quantity=1)])
            )
            started = time.monotonic()
            creates = [
                asyncio.create_task(client.create_delivery_order(f"u{i}", order)) for i in range(2)
            ]
            # The first create is in flight upstream (the sandbox counts it before its latency).
            await wait_until_async(
                lambda: _calls(control, "createDeliveryOrder"),
                what="the first create sent upstream",
            )
            reads = await asyncio.gather(*(client.find_pickup_stores(SF) for _ in range(10)))
            reads_done = time.monotonic() - started
            outcomes = await asyncio.gather(*creates, return_exceptions=True)
            creates_done = time.monotonic() - started
        finally:
            await client.aclose()
            await control.delete("/sandbox/faults")
    assert all(reads)
    assert reads_done < 0.6  # the reads never waited for the creates' connection
    assert all(isinstance(o, InstacartBadRequest) for o in outcomes)
    assert creates_done >= 1.6  # one create connection: the two creates went one after another


async def _calls(control: httpx.AsyncClient, operation: str) -> bool:
    stats = (await control.get("/sandbox/stats")).json()
    return stats["calls"].get(operation, 0) >= 1


async def test_a_create_beyond_the_pool_is_refused_after_a_bounded_wait(
    sandbox_process: tuple[str, str],
) -> None:
    base_url, client_id = sandbox_process
    async with httpx.AsyncClient(base_url=base_url) as control:
        await control.put(
            "/sandbox/faults", json={"operations": {"createDeliveryOrder": {"latency_ms": 1500}}}
        )
        settings = settings_for(
            base_url,
            client_id,
            instacart_max_create_connections=1,
            instacart_pool_wait_seconds=0.2,
        )
        client = InstacartClient.from_settings(settings, redis=None)
        exhausted = (
            REGISTRY.get_sample_value("bff_upstream_pool_exhausted_total", {"pool": "create"})
            or 0.0
        )
        try:
            await client.find_delivery_stores(SF)  # the token, outside the measurement
            order = CreateOrderRequest(
                hold_id="no-such-hold", cart=Cart(items=[CartItem(product_id="1001", quantity=1)])
            )
            first = asyncio.create_task(client.create_delivery_order("u1", order))
            await wait_until_async(
                lambda: _calls(control, "createDeliveryOrder"),
                what="the first create sent upstream",
            )
            started = time.monotonic()
            with pytest.raises(InstacartPoolExhausted) as refused:
                await client.create_delivery_order("u2", order)
            waited = time.monotonic() - started
            [first_outcome] = await asyncio.gather(first, return_exceptions=True)
            assert isinstance(first_outcome, InstacartBadRequest)  # sent, and answered
        finally:
            await client.aclose()
            await control.delete("/sandbox/faults")
    # refused while the first still held the only connection: a bounded wait, not a queue
    assert waited < 1.5
    assert not refused.value.ambiguous and not refused.value.counts_as_upstream_failure
    assert translate(refused.value).status == 503
    assert translate(refused.value).headers["Retry-After"] == "1"
    after = REGISTRY.get_sample_value("bff_upstream_pool_exhausted_total", {"pool": "create"})
    assert after == exhausted + 1
