"""Token requests per 1,000 upstream calls: shared token vs a token per call.

Starts a sandbox subprocess, uses the real Redis, and runs each scenario as 1 or 3 worker
processes making 1,000 upstream calls in total (store searches, 4 concurrent per process):

- shared: the production client (token in memory and in Redis, one refresh for the fleet);
- local:  the same client without Redis (each process keeps its own token);
- naive:  a client that requests a new token before every call (the baseline).

Run from the repository root:

    .venv/bin/python -m bench.token_sharing [--calls 1000] [--redis-url redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson

from local_processes.checkout_stack import sandbox_server

REPO_ROOT = Path(__file__).resolve().parents[1]
CLIENT_ID = "bench-client"
CLIENT_SECRET = "bench-secret"  # the sandbox's credentials, nothing real


# --- worker side ---


class _TokenPerCall:
    """The naive baseline: every call asks for a fresh token."""

    def __init__(self, fetch: Any) -> None:
        self._fetch = fetch

    async def get(self) -> str:
        return (await self._fetch()).access_token

    async def invalidate(self, sent: str) -> None:
        return None


async def _worker(args: argparse.Namespace) -> dict[str, Any]:
    import redis.asyncio as aioredis
    import structlog

    from app.instacart import FindStoresRequest, InstacartClient, InstacartError

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    redis = aioredis.Redis.from_url(args.redis_url) if args.mode == "shared" else None
    client = InstacartClient(
        base_url=args.base_url,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redis=redis,
        token_key_prefix=args.key_prefix,
    )
    if args.mode == "naive":
        client.tokens = _TokenPerCall(client.generate_access_token)  # type: ignore[assignment]
    location = FindStoresRequest(postal_code="94105")
    remaining = args.calls
    ok = failed = 0

    async def loop() -> None:
        nonlocal remaining, ok, failed
        while remaining > 0:
            remaining -= 1
            try:
                await client.find_stores("delivery", location)
                ok += 1
            except InstacartError:
                failed += 1

    delay = args.start_at - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(4)))
    elapsed = time.perf_counter() - started
    await client.aclose()
    if redis is not None:
        await redis.aclose()
    return {"ok": ok, "failed": failed, "elapsed": elapsed}


# --- driver side ---


def _scenario(
    base_url: str, redis_url: str, mode: str, processes: int, calls: int
) -> dict[str, Any]:
    httpx.post(f"{base_url}/sandbox/reset").raise_for_status()
    key_prefix = f"bench:instacart:token:{uuid.uuid4().hex}"
    start_at = time.time() + 2.0
    shares = [calls // processes + (1 if i < calls % processes else 0) for i in range(processes)]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.token_sharing",
                "--worker",
                "--mode",
                mode,
                "--base-url",
                base_url,
                "--redis-url",
                redis_url,
                "--key-prefix",
                key_prefix,
                "--calls",
                str(share),
                "--start-at",
                str(start_at),
            ],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
        )
        for share in shares
    ]
    results = []
    for proc in procs:
        stdout, _ = proc.communicate(timeout=300)
        if proc.returncode != 0:
            raise SystemExit(f"a worker failed in scenario {mode}/{processes}")
        results.append(orjson.loads(stdout.splitlines()[-1]))
    stats = httpx.get(f"{base_url}/sandbox/stats").json()
    if mode == "shared":
        import redis

        r = redis.Redis.from_url(redis_url)
        r.delete(*r.keys(f"{key_prefix}*") or ["-"])
        r.close()
    upstream_calls = stats["calls"].get("findDeliveryStores", 0)
    tokens = stats["tokens_issued"]
    wall = max(r["elapsed"] for r in results)
    return {
        "mode": mode,
        "processes": processes,
        "calls": upstream_calls,
        "failed": sum(r["failed"] for r in results),
        "tokens": tokens,
        "tokens_per_1000": tokens * 1000 / max(upstream_calls, 1),
        "calls_per_s": upstream_calls / wall if wall else 0.0,
    }


def _drive(args: argparse.Namespace) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        sandbox_server(Path(tmp), CLIENT_ID, client_secret=CLIENT_SECRET) as sandbox,
    ):
        base_url = sandbox.url
        rows = [
            _scenario(base_url, args.redis_url, mode, processes, args.calls)
            for processes in (1, 3)
            for mode in ("shared", "local", "naive")
        ]
    print(f"token requests per {args.calls} upstream calls (sandbox subprocess, real Redis)")
    print()
    header = f"{'mode':<8}{'procs':>6}{'calls':>7}{'failed':>7}{'tokens':>8}"
    header += f"{'tokens/1k':>11}{'calls/s':>9}{'naive/this':>12}"
    print(header)
    print("-" * len(header))
    naive = {r["processes"]: r["tokens_per_1000"] for r in rows if r["mode"] == "naive"}
    for r in rows:
        ratio = naive[r["processes"]] / r["tokens_per_1000"] if r["tokens_per_1000"] else 0
        print(
            f"{r['mode']:<8}{r['processes']:>6}{r['calls']:>7}{r['failed']:>7}{r['tokens']:>8}"
            f"{r['tokens_per_1000']:>11.1f}{r['calls_per_s']:>9.0f}{ratio:>11.0f}x"
        )
    if args.json:
        print(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--json", action="store_true", help="also print the rows as JSON")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="shared", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--key-prefix", help=argparse.SUPPRESS)
    parser.add_argument("--start-at", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(orjson.dumps(asyncio.run(_worker(args))).decode(), flush=True)
    else:
        _drive(args)


if __name__ == "__main__":
    main()
