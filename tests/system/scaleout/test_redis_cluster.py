"""The service on a Redis Cluster of three primaries (BFF_REDIS_CLUSTER=true, a seed URL)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from app.platform.connections import ClusterClient, build_redis
from local_processes.ports import free_port
from local_processes.waiting import wait_until_async
from sandbox import SandboxConfig, create_sandbox_app
from tests.system.scaleout.flow import (
    fan_out_on,
    order_change_reaches,
    rate_limit_holds,
    whole_checkout,
)
from tests.system.scaleout.processes import (
    RedisCluster,
    redis_cli,
    redis_cluster,
    wait_showing_logs,
)


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisCluster]:
    with redis_cluster() as running:
        yield running


async def test_a_whole_checkout_on_two_replicas_runs_on_a_redis_cluster(
    cluster: RedisCluster, open_checkout: Callable[..., Any], user: str
) -> None:
    sandbox_app = create_sandbox_app(SandboxConfig(client_id=f"test-{uuid.uuid4().hex[:12]}"))
    settings = {"redis_url": cluster.url, "redis_cluster": True, "order_refresh_seconds": 0}
    async with contextlib.AsyncExitStack() as stack:
        a, b = [
            await stack.enter_async_context(open_checkout(sandbox_app=sandbox_app, **settings))
            for _ in range(2)
        ]
        assert isinstance(a.app.state.bff.redis, ClusterClient)
        order = await whole_checkout(a, user)

        # The other replica reads the shared preview and the shared token from the cluster.
        store_id = await b.first_store("delivery", user)
        await b.first_slot("delivery", store_id, user)
        assert await b.calls("previewDeliveryTimeSlots") == 2
        assert (await b.stats())["tokens_issued"] == 1

        await rate_limit_holds(a, user)
        # A change one replica publishes reaches subscribers on both: through the cluster
        # client's pub/sub and through the event streams' own client.
        async with (
            fan_out_on(a.app.state.bff.redis, a.app.state.bff.checkout.events) as on_a,
            fan_out_on(b.app.state.bff.redis, b.app.state.bff.checkout.events) as on_b,
        ):
            await order_change_reaches(
                a, order, user, on_a, on_b, b.app.state.bff.order_streams.fan_out
            )


async def test_keys_that_live_together_share_one_slot(
    cluster: RedisCluster, open_checkout: Callable[..., Any], user: str
) -> None:
    async with open_checkout(redis_url=cluster.url, redis_cluster=True) as checkout:
        await whole_checkout(checkout, user)
        redis = checkout.app.state.bff.redis
        namespace = checkout.settings.cache_namespace
        cached = [k.decode() async for k in redis.scan_iter(match=f"{namespace}:cache:slots:*")]
    groups = [k for k in cached if ":group:" in k]
    assert groups, cached
    for group_key in groups:
        tag = group_key[group_key.index("{") : group_key.index("}") + 1]
        members = [k for k in cached if tag in k]
        assert len(members) >= 2, cached  # the set and at least one preview
        assert {cluster.slot_of(k) for k in members} == {cluster.slot_of(group_key)}


async def test_without_a_reachable_cluster_previews_still_answer_and_it_is_reported(
    open_checkout: Callable[..., Any], user: str
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    async with open_checkout(redis_url=nowhere, redis_cluster=True) as checkout:
        # readiness is about the process; the dependency is reported, not routed on
        ready = await checkout.bff.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"]["redis"] == "failed: ConnectionError"
        assert (await checkout.bff.get("/healthz/dependencies")).status_code == 503
        store_id = await checkout.first_store("delivery", user)
        slot = await checkout.first_slot("delivery", store_id, user)
        assert slot["id"]


async def test_a_cluster_client_that_only_subscribes_receives(cluster: RedisCluster) -> None:
    from app.settings import Settings

    settings = Settings(redis_url=cluster.url, redis_cluster=True)
    publisher, subscriber = build_redis(settings), build_redis(settings)
    try:
        pubsub = subscriber.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe("scaleout:fresh-client")
        # PUBLISH counts the receivers on its own node only; the message reaches every node.
        await publisher.publish("scaleout:fresh-client", b"hello")
        message = await wait_until_async(
            lambda: pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2),
            what="the message on the other node's subscriber",
        )
        assert message["data"] == b"hello"
        await pubsub.aclose()
    finally:
        await publisher.aclose()
        await subscriber.aclose()


async def test_with_a_primary_down_a_fresh_replica_still_previews_slots(
    open_checkout: Callable[..., Any], user: str
) -> None:
    with redis_cluster() as wounded:
        wounded.stop(wounded.ports[1])  # a third of the slots gone, no replica to take over
        wait_showing_logs(
            lambda: "cluster_state:fail" in redis_cli(wounded.ports[0], "cluster", "info"),
            "the cluster noticing its lost primary",
            wounded.workdir,
        )
        async with open_checkout(redis_url=wounded.url, redis_cluster=True) as checkout:
            store_id = await checkout.first_store("delivery", user)
            slot = await checkout.first_slot("delivery", store_id, user)
            assert slot["id"]
            reservation = await checkout.reserve("delivery", user)
            placed = await checkout.place(reservation, user)
            assert placed.status_code == 201, placed.text


async def test_the_redis_pool_gauges_show_the_busiest_node(
    cluster: RedisCluster, open_checkout: Callable[..., Any]
) -> None:
    # A pool per node, each with the limit: the gauges follow the node that runs dry first.
    tag = uuid.uuid4().hex
    keys = [f"test:{{{tag}}}:pop:{i}" for i in range(3)]  # one hash tag: one node
    settings = {"redis_url": cluster.url, "redis_cluster": True, "redis_max_connections": 8}
    async with open_checkout(**settings) as checkout:
        redis = checkout.app.state.bff.redis
        await redis.ping()  # the client learns the nodes on its first command
        pops = [asyncio.create_task(redis.blpop([key], timeout=10)) for key in keys]
        await wait_until_async(
            lambda: REGISTRY.get_sample_value("bff_redis_pool_in_use") == 3,
            what="three connections in use on the keys' node",
        )
        assert REGISTRY.get_sample_value("bff_redis_pool_connections") == 8
        for key in keys:
            await redis.rpush(key, "done")
        assert all(await asyncio.gather(*pops))
        assert REGISTRY.get_sample_value("bff_redis_pool_in_use") == 0
        await redis.delete(*keys)
