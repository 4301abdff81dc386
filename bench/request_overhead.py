"""CPU per call of the per-request pieces around a checkout, this tree against another ref.

The checkout benchmarks cannot resolve a few hundred microseconds on a shared machine whose
Postgres, Redis and sandbox other runs are loading (their customers fail, and a failed checkout
costs less). This one measures the process's own CPU time (`time.process_time`) per call of:

- `middleware`: a POST with a 200-byte body through RequestContextMiddleware and
  BodySizeLimitMiddleware (request id, context, body deadline, server duration histogram)
  to an app that reads the body and answers 201;
- `rate limit`: `RateLimiter.hit` against the local Redis (a new user each call, as checkouts
  are), the client's CPU only;
- `new Redis connection`: a connection object from `build_redis`'s pool, as the pool makes one
  when a burst needs more than it holds (not connected: the object alone).

Each side runs in its own process pinned to the server core, importing `app` from its own
checkout (`--base`, exported with `git archive`, or this tree); sides alternate (base, head,
head, base, ...) and the ratio of the medians is the figure.

    .venv/bin/python -m bench.request_overhead --base main [--repetitions 5]

Writes bench/results/request-overhead-<name>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

MIDDLEWARE_CALLS = 20_000
RATE_LIMIT_CALLS = 3_000
CONNECTIONS = 300


async def _middleware_us() -> float:
    from app.platform.middleware import BodySizeLimitMiddleware, RequestContextMiddleware

    async def created(scope: Any, receive: Any, send: Any) -> None:
        while (await receive()).get("more_body", False):
            pass
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    app = RequestContextMiddleware(
        BodySizeLimitMiddleware(created, max_bytes=65536), access_log_enabled=False
    )
    body = {"type": "http.request", "body": b"x" * 200, "more_body": False}
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/orders",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"200")],
    }

    async def receive() -> dict[str, Any]:
        return body

    async def send(message: dict[str, Any]) -> None:
        pass

    for _ in range(1000):  # warm
        await app(dict(scope), receive, send)
    started = time.process_time()
    for _ in range(MIDDLEWARE_CALLS):
        await app(dict(scope), receive, send)
    return (time.process_time() - started) * 1e6 / MIDDLEWARE_CALLS


async def _rate_limit_us(redis_url: str) -> float:
    from redis.asyncio import Redis

    from app.platform.rate_limits import RateLimiter

    client = Redis.from_url(redis_url)
    namespace = f"bench-overhead-{uuid.uuid4().hex[:8]}"
    limiter = RateLimiter(client, "orders", 10, namespace=namespace)
    try:
        for i in range(300):  # warm: connection, script loaded
            await limiter.hit(f"warm-{i}")
        started = time.process_time()
        for i in range(RATE_LIMIT_CALLS):
            await limiter.hit(f"user-{i}")
        return (time.process_time() - started) * 1e6 / RATE_LIMIT_CALLS
    finally:
        keys = [k async for k in client.scan_iter(match=f"{namespace}:*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def _connection_us(redis_url: str) -> float:
    from app.platform.connections import build_redis
    from app.settings import Settings

    settings = Settings(_env_file=None, environment="test", redis_url=redis_url)
    pool = build_redis(settings).connection_pool
    pool.make_connection()  # warm
    started = time.process_time()
    for _ in range(CONNECTIONS):
        pool.make_connection()
    return (time.process_time() - started) * 1e6 / CONNECTIONS


def child(redis_url: str) -> None:
    """One side's measurements, as one JSON line."""
    import uvloop

    async def both() -> dict[str, float]:
        return {
            "middleware": await _middleware_us(),
            "rate limit": await _rate_limit_us(redis_url),
            "new Redis connection": _connection_us(redis_url),
        }

    print(json.dumps(uvloop.run(both())))


def run_side(
    code: Path,
    redis_url: str,
    cores: str,
    *,
    script: Path = Path(__file__),
    extra: list[str] | None = None,
) -> dict[str, float]:
    """`script --child` (this module, or another bench of its kind) under `code`'s app/."""
    argv = ["taskset", "-c", cores, sys.executable, str(script.resolve()), "--child"]
    argv += ["--redis-url", redis_url, *(extra or [])]
    env = {**os.environ, "PYTHONPATH": str(code)}
    out = subprocess.run(argv, cwd=code, env=env, capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="main", help="git ref the head is compared with")
    parser.add_argument("--repetitions", type=int, default=5, help="runs per side")
    parser.add_argument("--name", default="head", help="results: request-overhead-<name>.*")
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.redis_url)
        return
    from bench import harness as h

    redis_url = args.redis_url or h.REDIS_URL
    h.pin_self()
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-base-") as folder:
        base_commit = h.export(args.base, Path(folder))
        code = {"base": Path(folder), "head": h.ROOT}
        for rep in range(1, args.repetitions + 1):
            for side in ["base", "head"] if rep % 2 else ["head", "base"]:
                measured = run_side(code[side], redis_url, h.SERVER_CORES)
                runs.append({"repetition": rep, "code": side, **measured})
                print(f"rep {rep} {side}: {measured}", flush=True)
    pieces = ["middleware", "rate limit", "new Redis connection"]
    rows = []
    for piece in pieces:
        base = h.median([r[piece] for r in runs if r["code"] == "base"])
        head = h.median([r[piece] for r in runs if r["code"] == "head"])
        spread = {s: [r[piece] for r in runs if r["code"] == s] for s in ("base", "head")}
        rows.append(
            [
                piece,
                f"{base:.1f} ({min(spread['base']):.1f}-{max(spread['base']):.1f})",
                f"{head:.1f} ({min(spread['head']):.1f}-{max(spread['head']):.1f})",
                f"{head / base:.2f}",
            ]
        )
    table = h.markdown_table(
        ["per call", "base CPU µs, median (min-max)", "head CPU µs", "head/base"], rows
    )
    markdown = (
        f"### Per-request pieces, {args.base} ({base_commit}) against {h.git_commit()} "
        f"(`python -m bench.request_overhead`)\n\n{args.repetitions} alternating runs per "
        f"side, each in its own process on core {h.SERVER_CORES}; {MIDDLEWARE_CALLS} requests "
        f"through the middleware, {RATE_LIMIT_CALLS} rate-limit hits on the local Redis, "
        f"{CONNECTIONS} connections made by the pool.\n\n"
        f"{table}\n"
    )
    h.save(
        f"request-overhead-{args.name}",
        {"base": args.base, "base_commit": base_commit, "runs": runs},
        markdown,
    )


if __name__ == "__main__":
    main()
