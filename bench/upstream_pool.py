"""The upstream connection pool's CPU per request, by pool size, library and layout.

A small ASGI app on granian (core 0) holds every request ``--hold-ms`` (2 s, as Instacart takes
to create an order) and answers a few bytes. A client process (core 1) first opens its whole
pool (one burst of as many 200 ms requests as it has connections, as a day of bursts leaves a
pool), then keeps ``--concurrency`` requests in flight, each starting again when it ends, and
reports the CPU time (user + system) of its process per completed request over a window of
``--seconds``, and how long the requests ending in that window took beyond the hold (the
wait for a connection and the client's own work). Only the client is measured: the server is
the same for every variant.

Variants (the client as configured, POST with a small JSON body, as the service sends):
  httpx         httpx / httpcore (today 0.28.1 / 1.0.9), one AsyncClient of N connections
  httpx2        httpx2 / httpcore2 (the maintained fork), the same layout
  httpx-h2      httpx 0.28.1 with http2=True, prior-knowledge h2c to granian --http 2
  httpx2-h2     httpx2 with HTTP/2, the same
  sharded/S     httpx 0.28.1 through app/instacart/sharded_pool.py, S connections per shard
                (the service's layout; --shard-sizes)
  semaphore     the same with one shard: waiting on a semaphore, one httpcore pool behind it

httpx2 and h2 are not dependencies of the service: give ``--alt-python`` a Python whose
environment has httpx2, h2, httpx 0.28.1 and uvloop (a private venv); the variants that need
it are skipped without one. Repetitions are interleaved (every variant at every size, then
again), and each cell's ratio is taken against today's client at the same size in the same
repetition.

    .venv/bin/python -m bench.upstream_pool --alt-python /tmp/pool-venv/bin/python \
        [--pools 20,150,300] [--concurrency 150] [--seconds 8] [--repetitions 2]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata as metadata
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
BODY = b'{"user_id":"u1","cart":{"items":[{"product_id":"1001","quantity":1}]}}'
ALT_VARIANTS = ("httpx2", "httpx-h2", "httpx2-h2")
VARIANTS = ("httpx", "sharded", *ALT_VARIANTS)


# --- the upstream: a request held for a while, then a few bytes ---


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    hold_ms = int(scope["path"].rsplit("/", 1)[-1] or 0)
    await asyncio.sleep(hold_ms / 1000)
    body = b'{"id":"o1","status":"brand_new"}'
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# --- one measurement, in its own process ---


def build_client(variant: str, pool: int, shard_size: int) -> Any:
    limits_kw = {"max_connections": pool, "max_keepalive_connections": pool}
    timeout_kw = {"connect": 5.0, "read": 30.0, "write": 30.0, "pool": 120.0}
    if variant.startswith("httpx2"):
        import httpx2 as lib
    else:
        import httpx as lib
    h2 = variant.endswith("-h2")
    kwargs: dict[str, Any] = {
        "timeout": lib.Timeout(**timeout_kw),
        "headers": {"Content-Type": "application/json"},
    }
    if variant == "sharded":
        sys.path.insert(0, str(ROOT))
        from app.instacart.sharded_pool import ShardedPool

        kwargs["transport"] = ShardedPool(pool, shard_size=shard_size or pool)
    else:
        kwargs["limits"] = lib.Limits(**limits_kw)
    if h2:
        kwargs.update(http1=False, http2=True)
    return lib.AsyncClient(**kwargs)


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    client = build_client(args.variant, args.pool, args.shard_size)
    url = args.url.rstrip("/")
    errors: dict[str, int] = {}
    done = 0
    overheads: list[float] = []  # seconds beyond the hold, of the requests ending in the window
    window = False

    async def one(hold_ms: int) -> bool:
        try:
            response = await client.post(f"{url}/hold/{hold_ms}", content=BODY)
            return response.status_code == 200
        except Exception as exc:  # counted and reported: the run says how many failed
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            return False

    async def worker(delay: float) -> None:
        nonlocal done
        await asyncio.sleep(delay)
        while True:
            started = time.monotonic()
            if await one(args.hold_ms):
                done += 1
                if window:
                    overheads.append(time.monotonic() - started - args.hold_ms / 1000)

    async with client:
        # Open the whole pool at once, as a burst does; HTTP/2 opens what it needs.
        await asyncio.gather(*(one(200) for _ in range(args.pool)))
        hold = args.hold_ms / 1000
        workers = [
            asyncio.create_task(worker(random.uniform(0, hold))) for _ in range(args.concurrency)
        ]
        await asyncio.sleep(hold * 1.5)  # every worker started and spread over the hold time
        window = True
        cpu0, done0, t0 = time.process_time(), done, time.monotonic()
        await asyncio.sleep(args.seconds)
        cpu1, done1, t1 = time.process_time(), done, time.monotonic()
        window = False
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    completed = done1 - done0
    overheads.sort()
    lib = "httpx2" if args.variant.startswith("httpx2") else "httpx"
    versions = {d: metadata.version(d) for d in (lib, lib.replace("httpx", "httpcore"))}

    def ms(q: float) -> float | None:
        return round(overheads[int(q * (len(overheads) - 1))] * 1000, 1) if overheads else None

    return {
        "variant": args.variant,
        "pool": args.pool,
        "concurrency": args.concurrency,
        "hold_ms": args.hold_ms,
        "shard_size": (args.shard_size or args.pool) if args.variant == "sharded" else None,
        "completed": completed,
        "per_second": round(completed / (t1 - t0), 1),
        "cpu_us_per_request": round((cpu1 - cpu0) / max(completed, 1) * 1e6, 1),
        "cpu_share": round((cpu1 - cpu0) / (t1 - t0), 3),
        "overhead_p50_ms": ms(0.5),
        "overhead_p99_ms": ms(0.99),
        "errors": errors,
        "versions": versions,
    }


def run_client(args: argparse.Namespace) -> None:
    import uvloop

    print(json.dumps(uvloop.run(measure(args))), flush=True)


# --- the matrix ---


class Upstream:
    """granian serving ``app`` on one port, pinned to the server core."""

    def __init__(self, python: str, port: int, http: str, cores: str) -> None:
        granian = str(Path(python).parent / "granian")
        argv = [
            "taskset", "-c", cores, granian, "--interface", "asgi", "--http", http,
            "--loop", "uvloop", "--host", "127.0.0.1", "--port", str(port),
            "--backlog", "4096", "--backpressure", "4096", "--no-ws", "--log-level", "warning",
            "bench.upstream_pool:app",
        ]  # fmt: skip
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL)

    def wait_ready(self) -> None:
        import socket

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:  # a listening port is enough: the same app answers HTTP/1.1 and h2c
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"the upstream at {self.url} did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def one_run(
    python: str, variant: str, shard_size: int, url: str, pool: int, opts: argparse.Namespace
) -> dict[str, Any]:
    argv = [
        "taskset", "-c", opts.load_cores, python, str(HERE), "client", "--variant", variant,
        "--url", url, "--pool", str(pool), "--concurrency", str(opts.concurrency),
        "--hold-ms", str(opts.hold_ms), "--seconds", str(opts.seconds),
        "--shard-size", str(shard_size),
    ]  # fmt: skip
    out = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        return {"variant": variant, "pool": pool, "failed": out.stderr.strip()[-400:]}
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run_matrix(opts: argparse.Namespace) -> None:
    from bench import harness as h

    variants = [v for v in opts.variants.split(",") if v]
    if not opts.alt_python:
        variants = [v for v in variants if v not in ALT_VARIANTS]
    # (label, variant, shard size): the service's layout once per shard size asked for.
    clients: list[tuple[str, str, int]] = []
    for variant in variants:
        if variant != "sharded":
            clients.append((variant, variant, 0))
            continue
        for size in (int(s) for s in opts.shard_sizes.split(",")):
            clients.append((f"sharded/{size}" if size else "semaphore", variant, size))
    labels = [label for label, _, _ in clients]
    pools = [int(p) for p in opts.pools.split(",")]
    h1 = Upstream(sys.executable, opts.port, "1", opts.server_cores)
    h2 = Upstream(sys.executable, opts.port + 1, "2", opts.server_cores)
    rows: list[dict[str, Any]] = []
    try:
        h1.wait_ready()
        if opts.alt_python:
            h2.wait_ready()
        for rep in range(opts.repetitions):
            for pool in pools:
                for label, variant, size in clients:
                    python = opts.alt_python if variant in ALT_VARIANTS else sys.executable
                    url = h2.url if variant.endswith("-h2") else h1.url
                    row = one_run(python, variant, size, url, pool, opts)
                    row["label"], row["repetition"] = label, rep
                    print(json.dumps(row), flush=True)
                    rows.append(row)
    finally:
        h1.stop()
        h2.stop()
    table = summarise(rows, labels, pools)
    data = {
        "command": " ".join(sys.argv),
        "options": vars(opts),
        "machine": h.machine(),
        "commit": h.git_commit(),
        "rows": rows,
    }
    header = (
        f"Client CPU per request, {opts.concurrency} requests in flight, each held "
        f"{opts.hold_ms} ms; median (min-max) of {opts.repetitions} interleaved repetitions, "
        f"{opts.seconds} s each; ratio to today's httpx client at the same pool size, same "
        "repetition.\n\n"
    )
    h.save(opts.name, data, header + table)
    print(header + table)


def summarise(rows: list[dict[str, Any]], variants: list[str], pools: list[int]) -> str:
    from bench import harness as h

    def cell(variant: str, pool: int) -> list[dict[str, Any]]:
        return [
            r
            for r in rows
            if r.get("label", r["variant"]) == variant and r["pool"] == pool and "failed" not in r
        ]

    lines = []
    for pool in pools:
        base = {r["repetition"]: r["cpu_us_per_request"] for r in cell("httpx", pool)}
        for variant in variants:
            runs = cell(variant, pool)
            if not runs:
                lines.append([pool, variant, "failed", "", "", "", "", ""])
                continue
            cpu = [r["cpu_us_per_request"] for r in runs]
            ratios = [
                r["cpu_us_per_request"] / base[r["repetition"]]
                for r in runs
                if r["repetition"] in base
            ]
            errors = sum(sum(r["errors"].values()) for r in runs)
            lines.append([
                pool, variant, h.spread(cpu), h.spread(ratios, "{:.2f}") if ratios else "",
                h.spread([r["per_second"] for r in runs], "{:.1f}"),
                h.spread([r["overhead_p50_ms"] or 0 for r in runs]),
                h.spread([r["overhead_p99_ms"] or 0 for r in runs]), errors,
            ])  # fmt: skip
    return h.markdown_table(
        [
            "pool", "client", "CPU us/request", "÷ httpx (same rep)", "requests/s",
            "wait p50 ms", "wait p99 ms", "errors",
        ],
        lines,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode")
    client = sub.add_parser("client", help="one measurement (run by the matrix)")
    client.add_argument("--variant", choices=VARIANTS, required=True)
    client.add_argument("--url", required=True)
    client.add_argument("--pool", type=int, required=True)
    for p in (client, parser):
        p.add_argument("--concurrency", type=int, default=150)
        p.add_argument("--hold-ms", type=int, default=2000)
        p.add_argument("--seconds", type=float, default=8.0)
        p.add_argument("--shard-size", type=int, default=16, help="0: one shard")
    parser.add_argument("--pools", default="20,150,300")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--repetitions", type=int, default=2)
    parser.add_argument(
        "--shard-sizes", default="16,0", help="connections per shard; 0: one shard (a semaphore)"
    )
    parser.add_argument("--alt-python", default=os.environ.get("BENCH_ALT_PYTHON", ""))
    parser.add_argument("--port", type=int, default=18431)
    parser.add_argument("--server-cores", default=os.environ.get("BENCH_SERVER_CORES", "0"))
    parser.add_argument("--load-cores", default=os.environ.get("BENCH_LOAD_CORES", "1"))
    parser.add_argument("--name", default="upstream_pool")
    args = parser.parse_args()
    if args.mode == "client":
        run_client(args)
    else:
        run_matrix(args)


if __name__ == "__main__":
    main()
