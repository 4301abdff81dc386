"""How fast the callback receiver answers Instacart, against /livez in the same run.

Starts the sandbox (on core 1) and one BFF process (on core 0) with bench/harness.py, and from
this process (pinned to core 1) sends callbacks for real orders one at a time, each a new event_id,
interleaved with /livez requests (the baseline: a route with no I/O). Reports p50/p99 of each
and the ratios, for several rounds.

    taskset -c 1 .venv/bin/python -m bench.callback_ack
"""

from __future__ import annotations

import random
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx

from bench import harness as h

ROUNDS = 3
PER_ROUND = 300


def main() -> int:
    logs, sandbox, stack = h.scenario("callback-ack")
    bff = stack.bff("bff", logs, stack.client_id)
    try:
        with h.running(sandbox, bff), httpx.Client(base_url=bff.url, timeout=10) as client:
            token = client.post(
                "/callbacks/instacart/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": "instacart-sandbox",
                    "client_secret": "sandbox-callback-secret",
                },
            ).json()["access_token"]
            user = {"Authorization": f"Bearer {stack.tokens(1, 'bench-user')[0]}"}
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
                    f"round {round_no}: callback ack p50 {h.median(acks) * ms:.2f} ms "
                    f"p99 {h.percentile(acks, 0.99) * ms:.2f} ms | /livez p50 "
                    f"{h.median(livez) * ms:.2f} ms p99 {h.percentile(livez, 0.99) * ms:.2f}"
                    f" ms | ratio p50 {h.median(acks) / h.median(livez):.1f}x"
                )
    finally:
        h.drop_database(stack.database_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
