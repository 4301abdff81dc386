"""The baseline of the slot benchmark: a bare Starlette route answering one Redis GET.

Nothing a real route needs (auth, validation, metrics, logs): the ceiling to compare against.
    python -m bench.bare_route --port N
"""

from __future__ import annotations

import argparse
from contextlib import asynccontextmanager

import redis.asyncio as redis
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

KEY = "bench:bare:slots"
# The size of a week of slot previews for one store (49 two-hour slots, about 8 KB).
_SLOT = (
    b'{"id":"delivery.store-sf-001.20261126T2000Z","date":"2026-11-26",'
    b'"starts_at":"2026-11-26T20:00:00Z","ends_at":"2026-11-26T22:00:00Z",'
    b'"fulfillment":"delivery"}'
)
SLOTS_BODY = b'{"slots":[' + b",".join([_SLOT] * 49) + b"]}"


@asynccontextmanager
async def lifespan(app: Starlette):
    pool = redis.BlockingConnectionPool.from_url("redis://127.0.0.1:6379/0", max_connections=64)
    app.state.redis = redis.Redis(connection_pool=pool)
    await app.state.redis.set(KEY, SLOTS_BODY)
    yield
    await app.state.redis.aclose()


async def slots(request: Request) -> Response:
    body = await request.app.state.redis.get(KEY)
    return Response(body, media_type="application/json")


app = Starlette(routes=[Route("/slots", slots)], lifespan=lifespan)

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, access_log=False, log_level="warning")
