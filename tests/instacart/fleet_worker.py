"""One replica of a fleet for the token-sharing tests: a client making upstream calls.

``python -m tests.instacart.fleet_worker --base-url URL --redis-url URL --client-id ID
--key-prefix P (--calls N | --duration S)`` prints one JSON line:
``{"ok": n, "failed": n, "errors": {...}, "refreshes": n}``.

Workers start together: each one counts itself in at ``P:ready`` once it is connected, then
waits for the test to set ``P:go`` (see ``start_signal``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections import Counter

import orjson
import redis.asyncio as aioredis
import structlog

from app.instacart import FindStoresRequest, InstacartClient, InstacartError, RefreshPolicy
from app.platform.metrics import TOKEN_REFRESHES
from local_processes.waiting import wait_until_async

FULFILLMENTS = ("delivery", "pickup", "last_mile")
LOCATION = FindStoresRequest(postal_code="94105")


async def run(args: argparse.Namespace) -> dict[str, object]:
    redis = aioredis.Redis.from_url(args.redis_url, socket_timeout=1.0)
    client = InstacartClient(
        base_url=args.base_url,
        client_id=args.client_id,
        client_secret=args.client_secret,
        redis=redis,
        token_key_prefix=args.key_prefix,
        token_refresh=RefreshPolicy(floor_seconds=args.refresh_floor),
    )
    ok = 0
    errors: Counter[str] = Counter()
    remaining = args.calls

    async def one(i: int) -> None:
        nonlocal ok
        try:
            await client.find_stores(FULFILLMENTS[i % 3], LOCATION)  # type: ignore[arg-type]
            ok += 1
        except InstacartError as exc:
            errors[type(exc).__name__] += 1

    async def by_count() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await one(remaining)

    async def by_time(end: float) -> None:
        i = 0
        while time.time() < end:
            await one(i)
            i += 1
            await asyncio.sleep(args.interval)  # the pace of a replica's calls, not a wait

    await wait_for_start(redis, args.key_prefix, args.start_timeout)
    if args.calls:
        await asyncio.gather(*(by_count() for _ in range(args.concurrency)))
    else:
        end = time.time() + args.duration
        await asyncio.gather(*(by_time(end) for _ in range(args.concurrency)))
    await client.aclose()
    await redis.aclose()
    return {
        "ok": ok,
        "failed": sum(errors.values()),
        "errors": dict(errors),
        "refreshes": int(TOKEN_REFRESHES.labels("success")._value.get()),
    }


async def wait_for_start(redis: aioredis.Redis, key_prefix: str, timeout: float) -> None:
    """Count this worker in, then wait for the test's signal to start."""
    await redis.incr(f"{key_prefix}:ready")
    go = f"{key_prefix}:go"
    await wait_until_async(lambda: redis.exists(go), what="the start signal", timeout=timeout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", default="test-secret")
    parser.add_argument("--key-prefix", required=True)
    parser.add_argument("--calls", type=int, default=0)
    parser.add_argument("--duration", type=float, default=0.0)
    parser.add_argument("--interval", type=float, default=0.01)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--start-timeout", type=float, default=30.0)
    parser.add_argument("--refresh-floor", type=float, default=1.0)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    print(orjson.dumps(asyncio.run(run(args))).decode(), flush=True)


if __name__ == "__main__":
    main()
