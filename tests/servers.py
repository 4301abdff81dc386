"""Real servers for tests that need a socket: the sandbox and the BFF as subprocesses."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(
    module: str,
    health_path: str,
    log_path: Path,
    *,
    env: dict[str, str] | None = None,
    extra_args: tuple[str, ...] = (),
) -> Iterator[str]:
    """Run ``python -m <module> --port N`` until the block ends; yields its base URL."""
    port = free_port()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, "--port", str(port), *extra_args],
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url + health_path, timeout=1).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{module} did not start:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def serve_bff_and_sandbox(
    logs: Path,
    client_id: str,
    database_url: str,
    *,
    sandbox_env: dict[str, str] | None = None,
    **settings: str,
) -> Iterator[tuple[str, str, dict[str, str]]]:
    """A sandbox and a BFF in front of it, as processes; yields (bff_url, sandbox_url, env).

    The BFF gets its own cache namespace and no background reconciler; keyword settings
    (lower-case names) add or override its BFF_* variables.
    """
    with serve(
        "sandbox",
        "/sandbox/stats",
        logs / "sandbox.log",
        env={"SANDBOX_CLIENT_ID": client_id, **(sandbox_env or {})},
        extra_args=("--log-level", "warning"),
    ) as sandbox_url:
        env = {
            "BFF_INSTACART_BASE_URL": sandbox_url,
            "BFF_INSTACART_CLIENT_ID": client_id,
            "BFF_DATABASE_URL": database_url,
            "BFF_CACHE_NAMESPACE": client_id,
            "BFF_RECONCILER_ENABLED": "false",
        } | {f"BFF_{name.upper()}": value for name, value in settings.items()}
        with serve("app", "/readyz", logs / "bff.log", env=env, extra_args=("serve",)) as bff:
            yield bff, sandbox_url, env
