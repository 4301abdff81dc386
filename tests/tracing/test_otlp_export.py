"""A served BFF (``python -m app serve``) configured only by the OTEL_* environment exports a
checkout's spans over OTLP/HTTP to a receiver inside the test (local_processes/otlp_receiver.py),
the last batch flushed when it stops."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx

from app.settings import Settings
from local_processes.checkout_stack import bff_env, sandbox_server
from local_processes.otlp_receiver import OtlpReceiver
from local_processes.servers import Server
from tests.support.checkout import Checkout

SERVER, CLIENT = 2, 3  # OTLP's span kinds


def test_a_served_bff_exports_a_checkouts_trace_to_the_otlp_endpoint(
    migrated_database_url: str, tmp_path: Path
) -> None:
    client_id = f"otlp-{uuid.uuid4().hex[:8]}"
    service = f"checkout-bff-{uuid.uuid4().hex[:6]}"
    trace_id, parent_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    user = f"shopper-{uuid.uuid4().hex[:12]}"
    with OtlpReceiver() as receiver, sandbox_server(tmp_path, client_id) as sandbox:
        otel = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_SERVICE_NAME": service,
            # No export on its own schedule during the test: what arrives was flushed at exit.
            "OTEL_BSP_SCHEDULE_DELAY": "600000",
        }
        env = bff_env(sandbox.url, client_id, migrated_database_url) | otel
        with Server("bff", ["app", "serve"], env, "/readyz", tmp_path) as bff:
            placed = asyncio.run(_checkout(bff.url, sandbox.url, user, trace_id, parent_id))
            assert placed.status_code == 201, placed.text
            assert receiver.received() == []
        # SIGTERM: the lifespan ends, and with it the batch still queued.
        assert bff.proc is not None and bff.proc.returncode == 0, bff.log_tail()

    spans = [s for s in receiver.received() if s.trace_id == trace_id]
    place = [s for s in spans if s.kind == SERVER and s.name == "POST /v1/orders"]
    assert len(place) == 1, spans
    assert place[0].parent_span_id == parent_id  # the storefront's span
    clients = {s.name for s in spans if s.kind == CLIENT}
    assert "POST" in clients  # Instacart's create
    # The order's row, written (the intent: one INSERT with data-modifying CTEs, so its span is
    # named WITH; app/orders/intent.py), then settled.
    assert {"WITH", "UPDATE"} <= clients
    assert {s.service_name for s in receiver.received()} == {service}
    assert all(s.parent_span_id for s in spans)  # every one below the storefront's span


async def _checkout(
    bff_url: str, sandbox_url: str, user: str, trace_id: str, parent_id: str
) -> httpx.Response:
    async with (
        httpx.AsyncClient(base_url=bff_url, timeout=10) as bff,
        httpx.AsyncClient(base_url=sandbox_url, timeout=10) as sandbox,
    ):
        checkout = Checkout(bff, sandbox, Settings(), app=None)
        reservation = await checkout.reserve("delivery", user)
        bff.headers["traceparent"] = f"00-{trace_id}-{parent_id}-01"
        return await checkout.place(reservation, user)
