"""`npm run example` (clients/typescript/examples/checkout.ts) checks out against a served BFF.

The BFF and the sandbox run as processes, as `scripts/run` would; the example signs in with a
development token, as it does there. The order it prints is then read back through the API as
that user: placed once, with each product on one line.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest

from app.auth.tokens import mint_token
from app.settings import Settings
from local_processes.checkout_stack import bff_server, sandbox_server
from tests.system.openapi.typescript_client import npm


@pytest.fixture(scope="module")
def served_bff(
    migrated_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    logs = tmp_path_factory.mktemp("typescript-example")
    with (
        sandbox_server(logs, f"ts-{uuid.uuid4().hex[:8]}") as sandbox,
        bff_server(logs, sandbox, migrated_database_url, log_level="WARNING") as bff,
    ):
        yield bff.url


def test_npm_run_example_places_an_order_and_prints_its_id(
    installed: None, served_bff: str
) -> None:
    run = npm("run", "-s", "example", env={**os.environ, "BFF_URL": served_bff, "TZ": "Asia/Tokyo"})
    assert run.returncode == 0, run.stdout + run.stderr
    order_id = re.search(r"^order\s+(\S+)$", run.stdout, re.MULTILINE)
    user = re.search(r"^user\s+(\S+)$", run.stdout, re.MULTILINE)
    assert order_id and user, run.stdout
    # The store's local time (San Francisco), though the process runs in Tokyo's zone.
    assert re.search(r"^slot\s+.+ (PST|PDT)$", run.stdout, re.MULTILINE), run.stdout

    token = mint_token(Settings(), user.group(1))
    order = httpx.get(
        f"{served_bff}/v1/orders/{order_id.group(1)}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert order.status_code == 200, order.text
    items = order.json()["items"]
    products = [item["product_id"] for item in items]
    assert len(products) == 2 and len(set(products)) == 2, items
    listed = httpx.get(
        f"{served_bff}/v1/orders", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert [o["id"] for o in listed.json()["orders"]] == [order_id.group(1)]
