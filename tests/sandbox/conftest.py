"""Fixtures for the sandbox's tests: an in-process sandbox with a controllable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from sandbox import SandboxConfig, create_sandbox_app
from tests.sandbox.helpers import START, TOKEN_BODY
from tests.support.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def config(clock: FakeClock) -> SandboxConfig:
    return SandboxConfig(clock=clock.utc, slot_capacity=2)


@pytest.fixture
def app(config: SandboxConfig) -> Any:
    return create_sandbox_app(config)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as c:
        yield c


@pytest.fixture
async def auth(client: httpx.AsyncClient) -> dict[str, str]:
    """Authorization headers with a fresh sandbox token."""
    response = await client.post("/v2/oauth/token", json=TOKEN_BODY)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
