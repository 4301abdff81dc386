"""Stream tickets never reach a log line: the BFF as a real process, its log read back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.settings import Settings
from local_processes.checkout_stack import bff_server, sandbox_server
from local_processes.waiting import wait_until
from tests.checkout.live_orders import issue_ticket, placed_order
from tests.support.checkout import Checkout
from tests.support.event_streams import EventReader, events_path


@pytest.fixture(scope="module")
def served_with_logs(
    migrated_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, Path]]:
    """(bff_url, sandbox_url, the BFF's log file), the access log on at INFO."""
    logs = tmp_path_factory.mktemp("order-events")
    client_id = f"events-{uuid.uuid4().hex[:8]}"
    with (
        sandbox_server(logs, client_id) as sandbox,
        bff_server(
            logs,
            sandbox,
            migrated_database_url,
            access_log="true",
            log_level="DEBUG",
            log_json="true",
        ) as bff,
    ):
        yield bff.url, sandbox.url, bff.log_path


def test_stream_tickets_never_appear_in_the_logs(
    served_with_logs: tuple[str, str, Path],
) -> None:
    bff_url, sandbox_url, log_path = served_with_logs
    user = f"shopper-{uuid.uuid4().hex[:12]}"
    forged = f"forged-{uuid.uuid4().hex}"

    async def scenario() -> str:
        async with (
            httpx.AsyncClient(base_url=bff_url, timeout=10) as bff,
            httpx.AsyncClient(base_url=sandbox_url, timeout=10) as sandbox,
        ):
            checkout = Checkout(bff, sandbox, Settings(), app=None)
            order = await placed_order(checkout, user)
            ticket = await issue_ticket(checkout, order["id"], user)
            path = events_path(order["id"])
            async with bff.stream("GET", path, params={"ticket": ticket}) as response:
                assert response.status_code == 200
                assert await EventReader(response).status() is not None
            assert (await bff.get(path, params={"ticket": ticket})).status_code == 401
            assert (await bff.get(path, params={"ticket": forged})).status_code == 401
            other = f"/v1/orders/not-{order['id']}/events"
            assert (await bff.get(other, params={"ticket": forged})).status_code == 401
            return ticket

    ticket = asyncio.run(scenario())
    route = '"route":"/v1/orders/{order_id}/events"'
    # The stream's own access line is written when it ends: wait for all four.
    wait_until(
        lambda: log_path.read_text().count(route) >= 4,
        what="four access lines of the events route",
        explain=log_path.read_text,
    )
    text = log_path.read_text()
    assert ticket not in text
    assert forged not in text
    assert "ticket=" not in text
