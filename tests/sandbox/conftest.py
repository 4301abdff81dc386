"""Fixtures for the sandbox's tests: an in-process sandbox with a controllable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from sandbox import SandboxConfig, create_sandbox_app

# A fixed "now": Monday 2025-06-02 16:00 UTC (09:00 in San Francisco, 12:00 in New York).
START = datetime(2025, 6, 2, 16, 0, tzinfo=UTC)


@dataclass
class FakeClock:
    now: datetime = field(default=START)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def config(clock: FakeClock) -> SandboxConfig:
    return SandboxConfig(clock=clock, slot_capacity=2)


@pytest.fixture
def app(config: SandboxConfig) -> Any:
    return create_sandbox_app(config)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as c:
        yield c


TOKEN_BODY = {
    "grant_type": "client_credentials",
    "client_id": "sandbox-client",
    "client_secret": "sandbox-secret",
    "scope": "connect:fulfillment",
}


@pytest.fixture
async def auth(client: httpx.AsyncClient) -> dict[str, str]:
    """Authorization headers with a fresh sandbox token."""
    response = await client.post("/v2/oauth/token", json=TOKEN_BODY)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
