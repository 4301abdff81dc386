"""Upstream preview calls for 1,000 slot requests over 10 keys, with and without the cache.

Runs the BFF and the sandbox in-process (real Redis, real Postgres) and counts the sandbox's
previewDeliveryTimeSlots calls. Three modes, measured in one run:
- naive: every request calls Instacart (``SlotCatalog.preview`` directly), as a BFF with no cache;
- coalescing only: a cache TTL so short that every request misses, leaving only in-process
  single-flight of concurrent identical requests;
- cached: the service as configured (shared Redis cache, local tier, fleet-wide single-flight).

    .venv/bin/python -m bench.slot_cache_calls
"""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
from asgi_lifespan import LifespanManager

from app.auth.tokens import mint_token
from app.main import create_app
from app.settings import Settings
from app.stores.schemas import Address
from sandbox import SandboxConfig, create_sandbox_app

REQUESTS = 1000
KEYS = 10
CONCURRENCY = 50


async def run(mode: str) -> tuple[int, float]:
    sandbox = create_sandbox_app(SandboxConfig(client_id=f"bench-{uuid.uuid4().hex[:8]}"))
    overrides = (
        {}
        if mode == "cached"
        else {
            "slot_cache_ttl_seconds": 1e-6,
            "slot_cache_stale_seconds": 0,
            "slot_cache_local_seconds": 0,
        }
    )
    settings = Settings(
        instacart_client_id=sandbox.state.config.client_id,
        cache_namespace=sandbox.state.config.client_id,
        reconciler_enabled=False,
        access_log=False,
        log_level="WARNING",
        database_url="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
        **overrides,
    )
    app = create_app(settings, instacart_transport=httpx.ASGITransport(app=sandbox))
    headers = {"Authorization": f"Bearer {mint_token(settings, 'bench-user')}"}
    # Ten keys: ten delivery addresses in the store's area.
    addresses = [
        {"postal_code": "94105", "address_line_1": f"{100 + i} Main St"} for i in range(KEYS)
    ]
    gate = asyncio.Semaphore(CONCURRENCY)
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://b"
        ) as bff,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox), base_url="http://s") as sb,
    ):
        catalog = app.state.bff.checkout.catalog

        async def one(i: int) -> None:
            async with gate:
                if mode == "naive":
                    address = Address(**addresses[i % KEYS])
                    await catalog.preview("bench-user", "delivery", "store-sf-001", address)
                    return
                params = {"fulfillment": "delivery"} | addresses[i % KEYS]
                response = await bff.get(
                    "/v1/stores/store-sf-001/slots", params=params, headers=headers
                )
                assert response.status_code == 200, response.text

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(REQUESTS)))
        elapsed = time.perf_counter() - started
        calls = (await sb.get("/sandbox/stats")).json()["calls"].get("previewDeliveryTimeSlots", 0)
    return calls, elapsed


async def main() -> None:
    print(f"{REQUESTS} slot requests over {KEYS} keys, {CONCURRENCY} at a time")
    results = {mode: await run(mode) for mode in ("naive", "coalescing only", "cached")}
    naive_calls, naive_time = results["naive"]
    for mode, (calls, elapsed) in results.items():
        print(
            f"  {mode:16s} {calls:5d} upstream previews  {calls / naive_calls:6.3f} of naive"
            f"  ({elapsed:.2f}s, {naive_time / elapsed:.1f}x naive speed)"
        )


if __name__ == "__main__":
    asyncio.run(main())
