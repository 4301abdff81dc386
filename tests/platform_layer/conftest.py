"""Fixtures of the platform tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from tests.support.settings import suite_redis_url


@pytest.fixture
async def replicas() -> AsyncIterator[list[redis.Redis]]:
    """Two Redis clients standing for two replicas of the service."""
    clients = [redis.Redis.from_url(suite_redis_url()) for _ in range(2)]
    yield clients
    for client in clients:
        await client.aclose()
