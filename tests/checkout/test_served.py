"""The BFF as a real server in front of the sandbox, loaded (its schemathesis run, with every
check and the stateful phase, is tests/system/openapi/test_schemathesis.py).

Both run as subprocesses on loopback ports, as they would in production.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from local_processes.checkout_stack import bff_server, sandbox_server
from local_processes.servers import Server
from tests.support.tokens import bearer

SF = {"postal_code": "94105", "address_line_1": "101 Spear St", "city": "San Francisco"}


@pytest.fixture(scope="module")
def served(
    migrated_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A running BFF in front of a running sandbox."""
    logs = tmp_path_factory.mktemp("served")
    client_id = f"served-{uuid.uuid4().hex[:8]}"
    with (
        sandbox_server(logs, client_id, slot_capacity=50) as sandbox,
        bff_server(
            logs, sandbox, migrated_database_url, access_log="false", log_level="WARNING"
        ) as bff,
    ):
        yield bff


def test_256_concurrent_connections_on_the_slot_route_get_no_5xx(served: Server) -> None:
    bff_url = served.url
    headers = bearer("load-user")

    async def load() -> Counter[int]:
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
        async with httpx.AsyncClient(base_url=bff_url, limits=limits, timeout=30) as client:
            stores = await client.get(
                "/v1/stores",
                params={"fulfillment": "delivery", "postal_code": "94105"},
                headers=headers,
            )
            store_id = stores.json()["stores"][0]["id"]
            params = {"fulfillment": "delivery"} | SF

            async def one() -> int:
                response = await client.get(
                    f"/v1/stores/{store_id}/slots", params=params, headers=headers
                )
                return response.status_code

            # 256 at once, four times: every connection busy together.
            statuses: Counter[int] = Counter()
            for _ in range(4):
                statuses.update(await asyncio.gather(*(one() for _ in range(256))))
            return statuses

    statuses = asyncio.run(load())
    assert statuses == Counter({200: 1024}), statuses


def test_reconcile_command_runs_one_round(served: Server) -> None:
    env = served.env
    result = subprocess.run(
        [sys.executable, "-m", "app", "reconcile"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "ReconcileSummary(examined=" in result.stdout
