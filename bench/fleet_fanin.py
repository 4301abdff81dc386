"""Fleet fan-in: 3 replicas sharing Redis, cold slot keys, upstream calls counted by the sandbox.

Per round: the sandbox is reset (its counters at zero, previews answering in 200 ms as a real
upstream would rather than in the sandbox's microseconds), three fresh BFF replicas start on
core 0 with a new cache namespace (no token, no preview cached), then from core 1:
1. 1,000 concurrent cold requests for one slot key, each its own user and connection, spread
   round-robin over the replicas;
2. 10,000 requests over 100 new keys, 1,000 at a time (keep-alive connections, 10 each).
The sandbox counts previewDeliveryTimeSlots and generateAccessToken calls. The baseline,
measured in the same run and interleaved round by round, is the same fleet with its cache off
(slot TTL tiny, no stale window, no in-process tier: single-flight only); a client with neither
would make one preview per request (1,000 and 10,000) and, naively, a token request per call.

    .venv/bin/python -m bench.fleet_fanin [--repetitions 3]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections import Counter
from typing import Any
from urllib.parse import quote

import httpx

from bench import harness as h
from local_processes.waiting import wait_until_async

REPLICAS = 3
PREVIEW_MS = 200
MODES = {
    "service": {},
    "cache off": {
        "slot_cache_ttl_seconds": "0.000001",
        "slot_cache_stale_seconds": "0",
        "slot_cache_local_seconds": "0",
    },
}
PREVIEWS = "previewDeliveryTimeSlots"
TOKENS = "generateAccessToken"


class AnswerTimeout(Exception):
    """Connected, but no answer within 60 s."""


def slot_path(address: str) -> str:
    return (
        f"/v1/stores/{h.STORE_ID}/slots?fulfillment=delivery&postal_code=94105"
        f"&address_line_1={quote(address)}"
    )


async def burst_one_key(urls: list[str], tokens: list[str], address: str) -> dict[str, Any]:
    """Every request at once, each on its own connection, for one cold key."""
    path = slot_path(address)
    gate = asyncio.Event()
    conns: list[h.Conn] = []

    async def one(url: str, token: str) -> tuple[int, float]:
        # Connect first, then wait for the gate: the requests leave together. A server that
        # stops accepting leaves a connect hanging in SYN retries, hence the bound.
        async with asyncio.timeout(10):
            conn = await h.Conn.open(url)
        conns.append(conn)
        await gate.wait()
        start = time.perf_counter()
        try:
            async with asyncio.timeout(60):
                headers = {"Authorization": f"Bearer {token}"}
                status, _, _ = await conn.request("GET", path, headers)
        except TimeoutError:
            raise AnswerTimeout from None
        return status, time.perf_counter() - start

    tasks = [asyncio.create_task(one(urls[i % len(urls)], t)) for i, t in enumerate(tokens)]
    # every connection made (a task waiting at the gate) or given up on (a task ended)
    await wait_until_async(
        lambda: len(conns) + sum(t.done() for t in tasks) == len(tasks),
        what="every connection made or given up on",
        timeout=15,
    )
    started = time.perf_counter()
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    wall = time.perf_counter() - started
    await asyncio.gather(*(c.close() for c in conns))
    return summarise(results, wall)


async def spread_keys(
    urls: list[str], tokens: list[str], addresses: list[str], total: int, concurrency: int
) -> dict[str, Any]:
    """`total` requests over the keys, `concurrency` keep-alive connections at a time."""
    per_worker = total // concurrency
    results: list[Any] = []

    async def worker(w: int) -> None:
        try:
            async with asyncio.timeout(10):
                conn = await h.Conn.open(urls[w % len(urls)])
        except (OSError, TimeoutError) as exc:
            results.extend([exc] * per_worker)
            return
        try:
            for j in range(per_worker):
                i = w * per_worker + j
                path = slot_path(addresses[i % len(addresses)])
                token = tokens[i % len(tokens)]
                start = time.perf_counter()
                try:
                    status, _, _ = await conn.request(
                        "GET", path, {"Authorization": f"Bearer {token}"}
                    )
                except (OSError, asyncio.IncompleteReadError) as exc:
                    results.append(exc)
                    return
                results.append((status, time.perf_counter() - start))
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return summarise(results, time.perf_counter() - started)


def summarise(results: list[Any], wall: float) -> dict[str, Any]:
    ok = [r for r in results if isinstance(r, tuple)]
    statuses = Counter(str(s) for s, _ in ok)
    statuses.update(
        "connect timeout (10 s)"
        if isinstance(r, TimeoutError)
        else "no answer in 60 s"
        if isinstance(r, AnswerTimeout)
        else type(r).__name__
        for r in results
        if not isinstance(r, tuple)
    )
    latencies = [t * 1000 for _, t in ok]
    return {
        "requests": len(results),
        "statuses": dict(statuses),
        "wall_s": wall,
        "p50_ms": h.percentile(latencies, 0.5),
        "p99_ms": h.percentile(latencies, 0.99),
    }


def one_round(stack: h.Stack, logs: Any, mode: str, rep: int, tokens: list[str]) -> dict[str, Any]:
    httpx.post(f"{stack.sandbox_url}/sandbox/reset").raise_for_status()
    h.set_faults(stack.sandbox_url, {PREVIEWS: {"latency_ms": PREVIEW_MS}})
    namespace = f"bench-fan-{uuid.uuid4().hex[:8]}"
    replicas = [
        stack.bff(f"{mode.replace(' ', '-')}-{rep}-{i}", logs, namespace, **MODES[mode])
        for i in range(REPLICAS)
    ]
    tag = uuid.uuid4().hex[:6]
    with h.running(*replicas):
        urls = [r.url for r in replicas]
        after_start = h.sandbox_calls(stack.sandbox_url)["calls"]
        one = asyncio.run(burst_one_key(urls, tokens, f"{tag} One Key St"))
        mid = h.sandbox_calls(stack.sandbox_url)["calls"]
        addresses = [f"{tag} {n} Market St" for n in range(100)]
        many = asyncio.run(spread_keys(urls, tokens, addresses, 10_000, 1_000))
        end = h.sandbox_calls(stack.sandbox_url)["calls"]
    one |= {
        "previews": mid.get(PREVIEWS, 0) - after_start.get(PREVIEWS, 0),
        "tokens": mid.get(TOKENS, 0),  # from zero: the fleet's start-up included
    }
    many |= {
        "previews": end.get(PREVIEWS, 0) - mid.get(PREVIEWS, 0),
        "tokens": end.get(TOKENS, 0) - mid.get(TOKENS, 0),
    }
    print(
        f"rep {rep} {mode:9s}: 1,000 on one key -> {one['previews']} previews, "
        f"{one['tokens']} tokens, {one['statuses']}, p99 {one['p99_ms']:.0f} ms | 10,000 over "
        f"100 keys -> {many['previews']} previews, {many['tokens']} tokens, {many['statuses']}, "
        f"p99 {many['p99_ms']:.0f} ms",
        flush=True,
    )
    return {"mode": mode, "repetition": rep, "one_key": one, "hundred_keys": many}


def report(runs: list[dict[str, Any]], reps: int) -> str:
    rows = []
    for phase, label, naive in (
        ("one_key", "1,000 concurrent, 1 cold key", 1000),
        ("hundred_keys", "10,000 over 100 cold keys", 10000),
    ):
        for mode in MODES:
            cell = [r[phase] for r in runs if r["mode"] == mode]
            failed = sum(n for r in cell for s, n in r["statuses"].items() if s != "200")
            rows.append(
                [
                    label,
                    mode,
                    h.spread([r["previews"] for r in cell]),
                    h.spread([naive / max(r["previews"], 1) for r in cell], "{:.0f}x"),
                    h.spread([r["tokens"] for r in cell]),
                    failed,
                    h.spread([r["p50_ms"] for r in cell]),
                    h.spread([r["p99_ms"] for r in cell]),
                    h.spread([r["wall_s"] for r in cell], "{:.2f}"),
                ]
            )
    table = h.markdown_table(
        [
            "load",
            "fleet",
            "upstream previews",
            "requests per upstream preview",
            "token requests",
            "non-200",
            "p50 ms",
            "p99 ms",
            "wall s",
        ],
        rows,
    )
    return (
        "### Fleet fan-in (`python -m bench.fleet_fanin`)\n\n"
        f"{REPLICAS} replicas on core 0 sharing Redis, started cold for each of {reps} "
        f"interleaved rounds per fleet; the sandbox (core 1) answers previews in {PREVIEW_MS} ms "
        "and counts calls. Token requests of the one-key phase include the fleet's start-up; "
        "cells are the median (min-max) of the rounds.\n\n"
        f"{table}\n"
    )


def chart(runs: list[dict[str, Any]]) -> Any:
    plt = h.pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    labels = ["1,000 on 1 key", "10,000 on 100 keys"]
    naive = [1000, 10000]
    width = 0.27
    ax.bar([x - width for x in range(2)], naive, width, label="one per request", color="grey")
    for i, mode in enumerate(MODES):
        values = [
            h.median([r[phase]["previews"] for r in runs if r["mode"] == mode])
            for phase in ("one_key", "hundred_keys")
        ]
        ax.bar([x + i * width for x in range(2)], values, width, label=f"fleet, {mode}")
        for x, v in zip(range(2), values, strict=True):
            ax.annotate(f"{v:.0f}", (x + i * width, v), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(2), labels)
    ax.set_yscale("log")
    ax.set_ylabel("upstream preview calls (log)")
    ax.set_title(f"{REPLICAS} replicas, cold keys: previews Instacart sees")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args()
    logs, sb, stack = h.scenario("fleet-fanin")
    tokens = stack.tokens(1000, f"fan-{uuid.uuid4().hex[:6]}")
    runs = []
    try:
        with h.running(sb):
            for rep in range(1, args.repetitions + 1):
                for mode in MODES:
                    runs.append(one_round(stack, logs, mode, rep, tokens))
    finally:
        h.drop_database(stack.database_url)
    h.save(
        "fleet_fanin",
        {
            "settings": {
                "replicas": REPLICAS,
                "preview_latency_ms": PREVIEW_MS,
                "repetitions": args.repetitions,
                "modes": MODES,
            },
            "runs": runs,
        },
        report(runs, args.repetitions),
        chart(runs),
    )


if __name__ == "__main__":
    main()
