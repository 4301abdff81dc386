"""How fast the callback receiver answers Instacart, against /livez in the same run.

Starts the sandbox and one BFF process pinned to core 0 (`taskset -c 0`), and from this
process (pinned to core 1) sends callbacks for real orders one at a time, each a new event_id,
interleaved with /livez requests (the baseline: a route with no I/O). Reports p50/p99 of each
and the ratios, for several rounds.

    taskset -c 1 .venv/bin/python -m bench.callback_ack
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from app.auth.tokens import mint_token
from app.settings import Settings
from tests.database import create_database, upgrade
from tests.faults.processes import Server

ROUNDS = 3
PER_ROUND = 300


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    import asyncio

    database_url = asyncio.run(create_database("bff_bench"))
    upgrade(database_url)
    client_id = f"bench-{uuid.uuid4().hex[:8]}"
    logs = Path(tempfile.mkdtemp(prefix="callback-bench-"))
    sandbox = Server(
        "sandbox", ["sandbox"], {"SANDBOX_CLIENT_ID": client_id}, "/sandbox/stats", logs
    )
    bff = Server(
        "bff",
        ["app", "serve"],
        {
            "BFF_INSTACART_BASE_URL": sandbox.url,
            "BFF_INSTACART_CLIENT_ID": client_id,
            "BFF_DATABASE_URL": database_url,
            "BFF_CACHE_NAMESPACE": client_id,
            "BFF_RECONCILER_ENABLED": "false",
            "BFF_ACCESS_LOG": "false",
            "BFF_LOG_LEVEL": "WARNING",
        },
        "/readyz",
        logs,
    )
    bff.argv = ["taskset", "-c", "0", *bff.argv]
    sandbox.start()
    bff.start()
    try:
        with httpx.Client(base_url=bff.url, timeout=10) as client:
            token = client.post(
                "/callbacks/instacart/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": "instacart-sandbox",
                    "client_secret": "sandbox-callback-secret",
                },
            ).json()["access_token"]
            user = {"Authorization": f"Bearer {mint_token(Settings(), 'bench-user')}"}
            stores = client.get(
                "/v1/stores", params={"fulfillment": "pickup", "postal_code": "94105"}, headers=user
            ).json()["stores"]
            slot = client.get(
                f"/v1/stores/{stores[0]['id']}/slots",
                params={"fulfillment": "pickup"},
                headers=user,
            ).json()["slots"][0]
            reservation = client.post(
                "/v1/reservations",
                json={"fulfillment": "pickup", "store_id": stores[0]["id"], "slot_id": slot["id"]},
                headers=user,
            ).json()
            order = client.post(
                "/v1/orders",
                json={
                    "reservation_id": reservation["id"],
                    "items": [{"upc": "0001111041700", "quantity": 1}],
                },
                headers=user | {"Idempotency-Key": "bench"},
            ).json()
            auth = {"Authorization": f"Bearer {token}"}
            t0 = datetime.now(UTC)
            for round_no in range(1, ROUNDS + 1):
                acks, livez = [], []
                for i in range(PER_ROUND):
                    body = {
                        "event_id": random.getrandbits(62),
                        "event_name": "fulfillment.acknowledged",
                        "event_timestamp": (t0 + timedelta(seconds=i)).isoformat(),
                        "event_metadata": {"order_id": order["id"]},
                    }
                    start = time.perf_counter()
                    response = client.post("/callbacks/instacart", json=body, headers=auth)
                    acks.append(time.perf_counter() - start)
                    assert response.status_code == 200, response.text
                    start = time.perf_counter()
                    client.get("/livez")
                    livez.append(time.perf_counter() - start)
                ms = 1000
                print(
                    f"round {round_no}: callback ack p50 {statistics.median(acks) * ms:.2f} ms "
                    f"p99 {percentile(acks, 0.99) * ms:.2f} ms | /livez p50 "
                    f"{statistics.median(livez) * ms:.2f} ms p99 {percentile(livez, 0.99) * ms:.2f}"
                    f" ms | ratio p50 {statistics.median(acks) / statistics.median(livez):.1f}x"
                )
    finally:
        bff.stop()
        sandbox.stop()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("CI", "")
    sys.exit(main())
