"""Fixtures for the Instacart client: an in-process sandbox, real Redis, a client wired to both.

Each test gets its own sandbox (own client id, own tokens and stats) and its own Redis key
prefix, so tests are independent of each other and of anything else using the Redis server.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import stamina
from fastapi import FastAPI

from app.instacart import Backoff, BreakerConfig, InstacartClient
from local_processes.checkout_stack import sandbox_server
from sandbox.app import create_sandbox_app
from sandbox.config import SandboxConfig
from tests.instacart.helpers import SECRET, LogRecorder, SandboxControl
from tests.support.settings import suite_redis_url


@pytest.fixture(autouse=True)
def no_backoff_sleeps() -> Iterator[None]:
    """Retries keep each policy's attempts but never sleep between them."""
    # cap: each policy's own attempts, up to a number no policy reaches.
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


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
    client = aioredis.Redis.from_url(
        suite_redis_url(), socket_timeout=1.0, socket_connect_timeout=1.0
    )
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


@pytest.fixture(scope="module")
def sandbox_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A sandbox subprocess shared by a module's tests: ``(base_url, client_id)``."""
    client_id = f"fleet-{uuid.uuid4().hex[:12]}"
    logs = tmp_path_factory.mktemp("sandbox")
    with sandbox_server(logs, client_id, client_secret=SECRET) as sandbox:
        yield sandbox.url, client_id


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> LogRecorder:
    """Every log event of the Instacart package during the test (structlog may cache loggers,
    so the module loggers are replaced rather than reconfigured)."""
    from app.instacart import calls, policy, tokens

    recorder = LogRecorder()
    for module in (calls, policy, tokens):
        monkeypatch.setattr(module, "log", recorder)
    return recorder
