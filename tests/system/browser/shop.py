"""The shop the browser tests click through: the BFF serving the demo storefront, and the
sandbox behind it calling it back, as real processes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from local_processes.checkout_stack import bff_server, sandbox_server
from local_processes.ports import free_port


@dataclass(frozen=True)
class Shop:
    """A BFF (serving the demo) and the sandbox behind it."""

    bff: str
    sandbox: str
    logs: Path


def start_shop(database_url: str, log_dir: Path, auto_advance_seconds: float) -> Iterator[Shop]:
    """Sandbox and BFF as `scripts/run` wires them: callbacks to the BFF, orders advancing."""
    client_id = f"demo-{uuid.uuid4().hex[:8]}"
    bff_port = free_port()  # the sandbox must know where to call back before it starts
    log_dir.mkdir(parents=True, exist_ok=True)
    callbacks = f"http://127.0.0.1:{bff_port}/callbacks/instacart"
    sandbox = sandbox_server(
        log_dir,
        client_id,
        slot_capacity=50,
        auto_advance_seconds=auto_advance_seconds,
        callback_url=callbacks,
        callback_token_url=f"{callbacks}/token",
    )
    bff = bff_server(
        log_dir,
        sandbox,
        database_url,
        port=bff_port,
        environment="development",
        log_json="true",
        reconciler_enabled="true",
    )
    sandbox.launch()
    bff.launch()
    try:
        sandbox.wait_healthy()
        bff.wait_healthy()
        yield Shop(bff=bff.url, sandbox=sandbox.url, logs=log_dir)
    finally:
        bff.stop()
        sandbox.stop()
