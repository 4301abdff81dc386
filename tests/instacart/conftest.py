"""Fixtures for the Instacart client: an in-process sandbox, real Redis, a client wired to both.

Each test gets its own sandbox (own client id, own tokens and stats) and its own Redis key
prefix, so tests are independent of each other and of anything else using the Redis server.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI

from app.instacart import Backoff, BreakerConfig, InstacartClient
from sandbox.app import create_sandbox_app
from sandbox.config import SandboxConfig

REDIS_URL = os.environ.get("BFF_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET = "test-secret"


class SandboxControl:
    """The sandbox's /sandbox control routes, over any transport."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def stats(self) -> dict[str, Any]:
        response = await self.http.get("/sandbox/stats")
        response.raise_for_status()
        return response.json()

    async def calls(self, operation: str) -> int:
        return (await self.stats())["calls"].get(operation, 0)

    async def tokens_issued(self) -> int:
        return (await self.stats())["tokens_issued"]

    async def faults(self, token_ttl_seconds: int | None = None, **operations: Any) -> None:
        body: dict[str, Any] = {"operations": operations}
        if token_ttl_seconds is not None:
            body["token_ttl_seconds"] = token_ttl_seconds
        response = await self.http.put("/sandbox/faults", json=body)
        response.raise_for_status()

    async def revoke_tokens(self) -> int:
        response = await self.http.post("/sandbox/tokens/revoke")
        response.raise_for_status()
        return response.json()["revoked"]

    async def reset(self) -> None:
        (await self.http.post("/sandbox/reset")).raise_for_status()


@pytest.fixture
def client_id() -> str:
    return f"test-client-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def sandbox_app(client_id: str) -> FastAPI:
    return create_sandbox_app(SandboxConfig(client_id=client_id, client_secret=SECRET))


@pytest.fixture
async def control(sandbox_app: FastAPI) -> AsyncIterator[SandboxControl]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sandbox_app), base_url="http://sandbox.test"
    ) as http:
        yield SandboxControl(http)


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(REDIS_URL, socket_timeout=1.0, socket_connect_timeout=1.0)
    yield client
    await client.aclose()


@pytest.fixture
async def key_prefix(redis_client: aioredis.Redis) -> AsyncIterator[str]:
    prefix = f"test:instacart:{uuid.uuid4().hex}"
    yield prefix
    keys = [k async for k in redis_client.scan_iter(match=f"{prefix}*")]
    if keys:
        await redis_client.delete(*keys)


@pytest.fixture
def make_client(
    sandbox_app: FastAPI, client_id: str, redis_client: aioredis.Redis, key_prefix: str
) -> Callable[..., InstacartClient]:
    """Build clients against this test's sandbox; every keyword overrides a default."""

    def build(**overrides: Any) -> InstacartClient:
        kwargs: dict[str, Any] = {
            "base_url": "http://instacart.test",
            "client_id": client_id,
            "client_secret": SECRET,
            "redis": redis_client,
            "transport": httpx.ASGITransport(app=sandbox_app),
            "token_key_prefix": key_prefix,
            "backoff": Backoff(base_seconds=0.01, max_seconds=0.05),
            "breaker": BreakerConfig(failure_threshold=5, cooldown_seconds=0.5),
        }
        kwargs.update(overrides)
        return InstacartClient(**kwargs)

    return build


@pytest.fixture
async def client(make_client: Callable[..., InstacartClient]) -> AsyncIterator[InstacartClient]:
    async with make_client() as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sandbox_process(client_id: str, port: int | None = None) -> tuple[subprocess.Popen, str]:
    """``python -m sandbox`` on a free port; returns once it answers."""
    port = port or free_port()
    env = {**os.environ, "SANDBOX_CLIENT_ID": client_id, "SANDBOX_CLIENT_SECRET": SECRET}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", str(port), "--log-level", "warning"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sandbox exited with {proc.returncode}")
        try:
            if httpx.get(f"{base_url}/sandbox/stats", timeout=0.5).status_code == 200:
                return proc, base_url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("sandbox did not start")


@pytest.fixture(scope="module")
def sandbox_process() -> Iterator[tuple[str, str]]:
    """A sandbox subprocess shared by a module's tests: ``(base_url, client_id)``."""
    client_id = f"fleet-{uuid.uuid4().hex[:12]}"
    proc, base_url = start_sandbox_process(client_id)
    try:
        yield base_url, client_id
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class LogRecorder:
    """Stands in for a module's structlog logger and keeps every event."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def _record(self, level: str, event: str, **fields: Any) -> None:
        self.events.append({"level": level, "event": event, **fields})

    def debug(self, event: str, **fields: Any) -> None:
        self._record("debug", event, **fields)

    def info(self, event: str, **fields: Any) -> None:
        self._record("info", event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._record("warning", event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        self._record("error", event, **fields)

    def named(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == event]


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> LogRecorder:
    """Every log event of the Instacart package during the test (structlog may cache loggers,
    so the module loggers are replaced rather than reconfigured)."""
    from app.instacart import client, policy, tokens

    recorder = LogRecorder()
    for module in (client, policy, tokens):
        monkeypatch.setattr(module, "log", recorder)
    return recorder


def metric(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0
