"""schemathesis with every check and its stateful phase against the BFF as a real server.

The BFF and the sandbox run as subprocesses on loopback ports (local_processes/checkout_stack.py),
with a user's, a staff member's and Instacart's callback token. The document's links (stores ->
slots -> reservation -> order -> get, cancel, events ticket) let the stateful phase place real
orders.
The relaxations, each with its reason, are in schemathesis.toml beside this file.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.auth.tokens import mint_token
from app.settings import Settings
from local_processes.checkout_stack import bff_server, sandbox_server

CONFIG = Path(__file__).with_name("schemathesis.toml")
CALLBACK_SECRET = "fuzz-callback-secret"


@pytest.fixture(scope="module")
def served_bff(
    migrated_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """(base URL of a running BFF in front of a running sandbox, its callback client id)."""
    logs = tmp_path_factory.mktemp("schemathesis")
    client_id = f"fuzz-{uuid.uuid4().hex[:8]}"
    with (
        sandbox_server(logs, client_id, slot_capacity=1000) as sandbox,
        bff_server(
            logs,
            sandbox,
            migrated_database_url,
            access_log="false",
            log_level="WARNING",
            callback_client_id=client_id,
            callback_client_secret=CALLBACK_SECRET,
            # The fuzzer reserves and orders far faster than a shopper; 429 would hide the rest.
            rate_limit_reservations_per_minute="100000",
            rate_limit_orders_per_minute="100000",
            rate_limit_callback_tokens_per_minute="100000",
            rate_limit_slot_misses_per_minute="100000",
            rate_limit_stream_tickets_per_minute="100000",
        ) as bff,
    ):
        yield bff.url, client_id


def _callback_token(bff_url: str, client_id: str) -> str:
    response = httpx.post(
        f"{bff_url}/callbacks/instacart/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": CALLBACK_SECRET,
        },
    )
    response.raise_for_status()
    return response.json()["access_token"]


def test_schemathesis_all_checks_and_stateful_phase_find_nothing(
    served_bff: tuple[str, str], tmp_path: Path
) -> None:
    bff_url, client_id = served_bff
    settings = Settings()
    env = {
        **os.environ,
        "NO_COLOR": "1",
        "BFF_FUZZ_USER_TOKEN": mint_token(settings, f"fuzz-{uuid.uuid4().hex[:8]}"),
        "BFF_FUZZ_STAFF_TOKEN": mint_token(settings, "fuzz-clerk", staff=True),
        "BFF_FUZZ_CALLBACK_TOKEN": _callback_token(bff_url, client_id),
    }
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(CONFIG),
        "run",
        f"{bff_url}/openapi.json",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        os.environ.get("BFF_SCHEMATHESIS_MAX_EXAMPLES", "25"),
        "--seed",
        os.environ.get("BFF_SCHEMATHESIS_SEED", "20261127"),
        # One worker: the server has the other core, and hypothesis' lambda-source cache is not
        # thread-safe (an occasional FlakyFailure "Runtime Error" with two workers).
        "--workers",
        "1",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path / "report"),
    ]
    started = time.monotonic()
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=420
    )
    output = result.stdout + result.stderr
    elapsed = time.monotonic() - started
    assert result.returncode == 0, f"schemathesis found problems:\n{output}"
    generated = re.search(r"(\d+) generated", output)
    assert generated, output
    scenarios = re.search(r"Scenarios:\s+(\d+)", output)
    links = re.search(r"API Links:\s+(\d+) covered / (\d+) selected", output)
    print(
        f"schemathesis: {generated.group(1)} cases, "
        f"{scenarios.group(1) if scenarios else '?'} stateful scenarios, "
        f"links {links.group(1) + '/' + links.group(2) if links else '?'}, {elapsed:.0f}s"
    )
    assert int(generated.group(1)) >= 500, output
    # The stateful phase ran and followed the document's links to real resources.
    assert scenarios and int(scenarios.group(1)) > 0, output
    assert links and int(links.group(1)) >= 8, output
