"""The Redis client build_redis makes: opening a connection does not look redis-py's version up
again (0.5 ms of CPU each, docs/performance.md), and the connections still name the library."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
import redis as redis_package
import redis.utils

from app.platform.connections import build_redis
from app.settings import Settings
from tests.support.settings import suite_redis_url


async def test_new_connections_name_the_client_without_looking_its_version_up_again(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = build_redis(make_settings(redis_url=suite_redis_url()), max_connections=8)
    lookups = 0
    real_lookup = redis.utils.get_lib_version

    def counted() -> str:
        nonlocal lookups
        lookups += 1
        return real_lookup()

    monkeypatch.setattr(redis.utils, "get_lib_version", counted)
    name = f"conn-{uuid.uuid4().hex[:8]}"
    try:
        # Eight commands at once: the pool opens eight connections.
        await asyncio.gather(*(client.client_setname(f"{name}-{i}") for i in range(8)))
        assert lookups == 0
        listed = await client.client_list()
        ours = [c for c in listed if c.get("name", "").startswith(name)]
        assert len(ours) == 8
        # What CLIENT SETINFO sends (Redis 7.2 and later list it) is what redis-py found.
        info = client.connection_pool.connection_kwargs["driver_info"]
        assert (info.name, info.lib_version) == ("redis-py", redis_package.__version__)
    finally:
        await client.aclose()
