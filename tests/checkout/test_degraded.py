"""Dependencies failing underneath: Redis down, Instacart misconfigured or down."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from local_processes.postgres import PrivatePostgres, upgrade
from local_processes.redis_server import PrivateRedis
from tests.support.addresses import SF_ADDRESS
from tests.support.ci import tools_required


async def test_a_whole_checkout_works_with_redis_down(
    open_checkout: Callable[..., Any], user: str
) -> None:
    async with open_checkout(redis_url="redis://127.0.0.1:1/0") as checkout:
        store_id = await checkout.first_store("delivery", user)
        response = await checkout.bff.get(
            f"/v1/stores/{store_id}/slots",
            params={"fulfillment": "delivery"} | SF_ADDRESS,
            headers=checkout.auth(user),
        )
        assert response.status_code == 200
        assert response.json()["slots"]
        # the token was fetched once, kept in process memory
        assert (await checkout.stats())["tokens_issued"] == 1
        # Reservations and orders live in Postgres: Redis costs speed, never a checkout.
        reservation = await checkout.reserve("delivery", user)
        placed = await checkout.place(reservation, user, key="no-redis")
        assert placed.status_code == 201, placed.text
        listed = await checkout.bff.get("/v1/orders", headers=checkout.auth(user))
        assert [o["id"] for o in listed.json()["orders"]] == [placed.json()["id"]]
        replay = await checkout.place(reservation, user, key="no-redis")
        assert replay.status_code == 201
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.json() == placed.json()


async def test_rejected_instacart_credentials_are_502(
    open_checkout: Callable[..., Any], user: str
) -> None:
    async with open_checkout(instacart_client_secret="wrong") as checkout:
        response = await checkout.bff.get(
            "/v1/stores",
            params={"fulfillment": "pickup", "postal_code": "94105"},
            headers=checkout.auth(user),
        )
        assert response.status_code == 502
        assert response.json()["code"] == "upstream_error"
        assert "wrong" not in response.text


async def test_instacart_down_is_503_with_retry_after(
    open_checkout: Callable[..., Any], user: str
) -> None:
    async with open_checkout() as checkout:
        await checkout.faults({"operations": {"*": {"error_rate": 1.0, "status": 503}}})
        response = await checkout.bff.get(
            "/v1/stores",
            params={"fulfillment": "pickup", "postal_code": "10001"},
            headers=checkout.auth(user),
        )
        assert response.status_code == 503
        assert response.json()["code"] == "upstream_unavailable"
        assert int(response.headers["retry-after"]) >= 1


async def test_an_open_circuit_fails_fast_with_503(
    open_checkout: Callable[..., Any], user: str
) -> None:
    async with open_checkout(
        instacart_breaker_failure_threshold=2, instacart_breaker_cooldown_seconds=30
    ) as checkout:
        await checkout.faults({"operations": {"findPickupStores": {"error_rate": 1.0}}})
        params = {"fulfillment": "pickup", "postal_code": "60601"}
        # one request makes three attempts: enough failures to open the read circuit
        first = await checkout.bff.get("/v1/stores", params=params, headers=checkout.auth(user))
        assert first.status_code == 503
        calls = await checkout.calls("findPickupStores")
        second = await checkout.bff.get("/v1/stores", params=params, headers=checkout.auth(user))
        assert second.status_code == 503
        assert second.json()["code"] == "upstream_unavailable"
        assert int(second.headers["retry-after"]) > 1
        assert await checkout.calls("findPickupStores") == calls  # not even attempted


async def test_readiness_stays_with_the_process_while_redis_then_postgres_stop(
    open_checkout: Callable[..., Any], user: str, tmp_path: Path
) -> None:
    with tools_required():
        redis, postgres = PrivateRedis(tmp_path), PrivatePostgres()
    try:
        await asyncio.to_thread(redis.start)
        await asyncio.to_thread(postgres.init)
        await asyncio.to_thread(upgrade, postgres.url())
        async with open_checkout(redis_url=redis.url, database_url=postgres.url()) as checkout:

            async def ready() -> dict[str, Any]:
                answer = await checkout.bff.get("/readyz")
                assert answer.status_code == 200, answer.text
                return answer.json()["checks"]

            async def slots_are_served() -> None:
                store_id = await checkout.first_store("pickup", user)
                assert (await checkout.first_slot("pickup", store_id, user))["id"]

            assert await ready() == {"postgres": "ok", "redis": "ok"}
            reservation = await checkout.reserve("pickup", user)

            await asyncio.to_thread(redis.stop)
            assert (await ready())["redis"].startswith("failed")
            await slots_are_served()
            placed = await checkout.place(reservation, user, key="redis-down")
            assert placed.status_code == 201, placed.text

            await asyncio.to_thread(postgres.stop)
            checks = await ready()
            assert checks["redis"].startswith("failed")
            assert checks["postgres"].startswith("failed")
            await slots_are_served()  # previews need neither
            refused = await checkout.place(reservation, user, key="postgres-down")
            assert refused.status_code == 503, refused.text
            assert refused.json()["code"] == "dependency_unavailable"
            assert int(refused.headers["retry-after"]) >= 1
            health = await checkout.bff.get("/healthz/dependencies")
            assert health.status_code == 503
    finally:
        await asyncio.to_thread(redis.stop)
        await asyncio.to_thread(postgres.destroy)
