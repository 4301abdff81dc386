"""A served BFF (``python -m app serve``) configured only by the OTEL_* environment exports a
checkout's spans over OTLP/HTTP to a receiver inside the test (local_processes/otlp_receiver.py)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx

from app.settings import Settings
from local_processes.checkout_stack import bff_env, sandbox_server
from local_processes.otlp_receiver import OtlpReceiver, ReceivedSpan
from local_processes.servers import Server
from local_processes.waiting import wait_until
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
            "OTEL_BSP_SCHEDULE_DELAY": "100",  # milliseconds between exports
        }
        env = bff_env(sandbox.url, client_id, migrated_database_url) | otel
        with Server("bff", ["app", "serve"], env, "/readyz", tmp_path) as bff:
            placed = asyncio.run(_checkout(bff.url, sandbox.url, user, trace_id, parent_id))
            assert placed.status_code == 201, placed.text

            def place_span() -> ReceivedSpan | None:
                return next(
                    (
                        s
                        for s in receiver.received()
                        if s.trace_id == trace_id
                        and s.kind == SERVER
                        and s.name == "POST /v1/orders"
                    ),
                    None,
                )

            place = wait_until(place_span, what="the placement's server span", timeout=15)
            assert place.parent_span_id == parent_id  # the storefront's span
            assert place.service_name == service

            def the_rest() -> list[ReceivedSpan]:
                spans = [s for s in receiver.received() if s.trace_id == trace_id]
                clients = [s for s in spans if s.kind == CLIENT]
                names = {s.name for s in clients}
                ready = "POST" in names and any(n.startswith(("INSERT", "UPDATE")) for n in names)
                return spans if ready else []

            spans = wait_until(the_rest, what="its SQL and Instacart spans", timeout=15)
    assert {s.service_name for s in spans} == {service}
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
