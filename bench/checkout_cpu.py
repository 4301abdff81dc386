"""CPU per checkout on a shared, noisy machine: one process, one checkout at a time, no sockets.

The BFF, the sandbox (through httpx's ASGI transport) and this client run in one process on a
fresh migrated database and the local Redis; each checkout reserves a pickup slot and places an
order (POST /v1/reservations, POST /v1/orders) for a new user. The figure is the process's CPU
time (``time.process_time``) over the measured checkouts, divided by their number. Other
processes on the machine slow the run down but add little to its CPU time, which is why the
before/after comparisons of docs/performance.md ("Round trips per checkout") use it beside
``bench.checkout_capacity``. The sandbox's and the client's share is the same code on both
sides of such a comparison; the difference is the BFF's.

    .venv/bin/python -m bench.checkout_cpu [--checkouts 300] [--warm-up 30]

To compare two trees, run it in each, alternating (A, B, A, B).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid

import httpx
from asgi_lifespan import LifespanManager

from bench import harness as h


async def measure(database_url: str, checkouts: int, warm_up: int) -> float:
    """CPU milliseconds per checkout over `checkouts`, after `warm_up` unmeasured ones."""
    from app.auth.tokens import mint_token
    from app.main import create_app
    from app.settings import Settings
    from sandbox import SandboxConfig, create_sandbox_app

    config = SandboxConfig(client_id=f"cpu-{uuid.uuid4().hex[:8]}", slot_capacity=1_000_000)
    sandbox_app = create_sandbox_app(config)
    settings = Settings(
        _env_file=None,
        environment="development",
        database_url=database_url,
        redis_url=h.REDIS_URL,
        instacart_base_url="http://sandbox.invalid",
        instacart_client_id=config.client_id,
        cache_namespace=config.client_id,
        reconciler_enabled=False,
        log_level="WARNING",
        access_log=False,
        rate_limit_orders_per_minute=1_000_000,
        rate_limit_reservations_per_minute=1_000_000,
        # One checkout at a time keeps the loop busy by design: nothing here is load to shed.
        admission_max_in_flight=1_000_000,
        admission_lag_budget_ms=1_000_000_000,
        admission_loop_busy_percent=100,
    )
    app = create_app(settings, instacart_transport=httpx.ASGITransport(app=sandbox_app))

    def auth(user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_token(settings, user)}"}

    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://bff.test"
        ) as bff,
    ):
        slots = await bff.get(
            f"/v1/stores/{h.STORE_ID}/slots",
            params={"fulfillment": "pickup"},
            headers=auth("warm"),
        )
        slot_id = slots.json()["slots"][-1]["id"]

        async def checkout() -> None:
            headers = auth(f"cpu-{uuid.uuid4().hex[:12]}")
            body = {"fulfillment": "pickup", "store_id": h.STORE_ID, "slot_id": slot_id}
            reserved = await bff.post("/v1/reservations", json=body, headers=headers)
            assert reserved.status_code == 201, reserved.text
            order = {
                "reservation_id": reserved.json()["id"],
                "items": [{"upc": h.UPC, "quantity": 1}],
            }
            headers |= {"Idempotency-Key": uuid.uuid4().hex}
            placed = await bff.post("/v1/orders", json=order, headers=headers)
            assert placed.status_code == 201, placed.text

        for _ in range(warm_up):
            await checkout()
        started = time.process_time()
        for _ in range(checkouts):
            await checkout()
        return (time.process_time() - started) * 1000 / checkouts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkouts", type=int, default=300)
    parser.add_argument("--warm-up", type=int, default=30)
    args = parser.parse_args()
    url = h.fresh_database()
    try:
        cpu_ms = asyncio.run(measure(url, args.checkouts, args.warm_up))
    finally:
        h.drop_database(url)
    print(f"{os.getcwd()}: {args.checkouts} checkouts, {cpu_ms:.2f} ms CPU per checkout")


if __name__ == "__main__":
    main()
