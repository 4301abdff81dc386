"""Stopping gracefully: a real process and a real SIGTERM.

Readiness fails at once, a placement in flight still gets its 201, an open event stream ends
politely, and the process exits cleanly within its shutdown timeout.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from pathlib import Path

import httpx

from local_processes.checkout_stack import bff_server, sandbox_server
from local_processes.waiting import wait_until
from tests.support.storefront_sync import place, reserve_pickup
from tests.support.tokens import bearer


def test_sigterm_fails_readiness_finishes_work_ends_streams_and_exits(
    migrated_database_url: str, tmp_path: Path
) -> None:
    client_id = f"stop-{uuid.uuid4().hex[:8]}"
    sandbox = sandbox_server(tmp_path, client_id, slot_capacity=50)
    bff = bff_server(
        tmp_path,
        sandbox,
        migrated_database_url,
        shutdown_drain_seconds=1.5,
        shutdown_timeout_seconds=10,
    )
    sandbox.start()
    try:
        bff.start()
        headers = bearer("stopping-user")
        with httpx.Client(base_url=bff.url, headers=headers, timeout=10) as client:
            first = place(client, reserve_pickup(client))
            assert first.status_code == 201, first.text
            streamed: list[str] = []
            stream_ended = threading.Event()

            def follow() -> None:
                url = f"/v1/orders/{first.json()['id']}/events"
                with client.stream("GET", url, timeout=30) as response:
                    for line in response.iter_lines():
                        streamed.append(line)
                stream_ended.set()

            threading.Thread(target=follow, daemon=True).start()
            wait_until(
                lambda: any(ln.startswith("data:") for ln in streamed),
                what="the stream's first event",
            )

            # a placement whose create takes 2.5 s is in flight when the signal comes
            slow = {"operations": {"createPickupOrder": {"latency_ms": 2500}}}
            assert httpx.put(f"{sandbox.url}/sandbox/faults", json=slow).status_code == 200
            reservation = reserve_pickup(client)
            placed: list[httpx.Response] = []
            placing = threading.Thread(target=lambda: placed.append(place(client, reservation)))
            placing.start()

            def create_sent() -> bool:
                calls = httpx.get(f"{sandbox.url}/sandbox/stats").json()["calls"]
                return calls.get("createPickupOrder", 0) >= 2

            wait_until(create_sent, what="the slow create in flight")
            assert bff.proc is not None
            stopped_at = time.monotonic()
            bff.proc.send_signal(signal.SIGTERM)

            # 1. readiness fails at once, while requests are still served
            with httpx.Client(base_url=bff.url, timeout=5) as fresh:
                assert fresh.get("/readyz").status_code == 503
                assert fresh.get("/livez").status_code == 200
            # 2. the stream ends politely (no error, just the end)
            assert stream_ended.wait(10), "the event stream did not end"
            # 3. the placement in flight gets its answer
            placing.join(15)
            assert placed and placed[0].status_code == 201, placed and placed[0].text
            # 4. the process exits cleanly, within its timeout
            assert bff.proc.wait(timeout=15) == 0
            assert time.monotonic() - stopped_at < 1.5 + 10 + 2
        log = bff.log_path.read_text()
        assert "app.draining" in log and "app.stopping" in log
        assert "Traceback" not in log
    finally:
        bff.stop()
        sandbox.stop()
