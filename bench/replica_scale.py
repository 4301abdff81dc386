"""Replica scale curve: 1, 2 and 4 BFF replicas sharing Redis, warm slot previews.

Four replicas start on core 0 (one cache namespace, so one shared cache); a run of N replicas
loads the first N with N wrk processes on core 1 (one per replica, 128/N connections each,
the 1,000-token rotation of bench/rotate_tokens.lua), so the total offered concurrency is the
same at every N. Requests/s are summed over the replicas; p50 is the median of the replicas',
p99 the worst replica's. Repetitions interleaved (1, 2, 4, then again).

What 2 cores allow: every replica shares the one server core, so this cannot show throughput
growing with replicas. It shows what adding replicas costs on a fixed CPU budget (total
requests/s and server CPU per request at each N): if both stay flat, replicas share nothing
that serialises them and N replicas on N cores would serve about N times one replica, up to
Redis and the load generator. Fleet-wide upstream effects are in bench.fleet_fanin.

    .venv/bin/python -m bench.replica_scale [--seconds 8] [--repetitions 3]
"""

from __future__ import annotations

import argparse
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from bench import harness as h
from bench.hot_slots import SLOTS

COUNTS = (1, 2, 4)
TOTAL_CONNECTIONS = 128


def report(runs: list[dict[str, Any]], seconds: float, reps: int) -> str:
    rows = []
    base = {r["repetition"]: r["rps"] for r in runs if r["replicas"] == 1}
    for n in COUNTS:
        cell = [r for r in runs if r["replicas"] == n]
        rows.append(
            [
                n,
                h.spread([r["rps"] for r in cell]),
                h.spread([r["rps"] / base[r["repetition"]] for r in cell], "{:.2f}"),
                h.spread([r["rps"] / n for r in cell]),
                h.spread([r["p50_ms"] for r in cell], "{:.1f}"),
                h.spread([r["p99_ms"] for r in cell], "{:.1f}"),
                h.spread([r["server_cpu_us_per_request"] for r in cell]),
                sum(r["errors"] for r in cell),
            ]
        )
    table = h.markdown_table(
        [
            "replicas",
            "requests/s (sum)",
            "vs 1 replica (same rep)",
            "per replica",
            "p50 ms",
            "p99 ms (worst replica)",
            "server CPU us/request",
            "errors",
        ],
        rows,
    )
    return (
        "### Replica scale (`python -m bench.replica_scale`)\n\n"
        f"Warm slot previews, {TOTAL_CONNECTIONS} connections in all split over the replicas, "
        f"{seconds:g} s per run, {reps} interleaved repetitions. All replicas share core 0 "
        "and all wrk processes core 1: on this 2-core machine the curve can only show the "
        "cost of more replicas on a fixed CPU budget, not scale-out. Flat total requests/s and "
        "flat CPU per request mean the replicas do not serialise on anything shared (Redis, "
        "the token, the cache); the throughput of N replicas on N cores is then about N times "
        "one replica's, which this machine cannot demonstrate.\n\n"
        f"{table}\n"
    )


def chart(runs: list[dict[str, Any]]) -> Any:
    plt = h.pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    one = h.median([r["rps"] for r in runs if r["replicas"] == 1])
    total = [h.median([r["rps"] for r in runs if r["replicas"] == n]) for n in COUNTS]
    left.plot(COUNTS, total, marker="o", label="measured, all replicas on 1 core")
    left.plot(COUNTS, [one * n for n in COUNTS], ls="--", color="grey", label="linear (N cores)")
    left.set(xlabel="replicas", ylabel="requests/s", xticks=COUNTS)
    left.set_title("warm slot previews, total")
    left.legend(fontsize=7)
    cpu = [
        h.median([r["server_cpu_us_per_request"] for r in runs if r["replicas"] == n])
        for n in COUNTS
    ]
    right.plot(COUNTS, cpu, marker="o")
    right.set(xlabel="replicas", ylabel="server CPU us per request", xticks=COUNTS, ylim=(0, None))
    right.set_title("CPU per request")
    fig.tight_layout()
    return fig


def load(urls: list[str], seconds: float, tokens: Any) -> dict[str, Any]:
    per = TOTAL_CONNECTIONS // len(urls)
    with ThreadPoolExecutor(len(urls)) as pool:
        results = list(
            pool.map(
                lambda u: h.wrk(u + SLOTS, connections=per, seconds=seconds, tokens_file=tokens),
                urls,
            )
        )
    return {
        "rps": sum(r["rps"] for r in results),
        "requests": sum(r["requests"] for r in results),
        "p50_ms": h.median([r["p50_ms"] for r in results]),
        "p99_ms": max(r["p99_ms"] for r in results),
        "errors": sum(sum(r["errors"].values()) for r in results),
        "per_replica": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args()
    logs, sb, stack = h.scenario("replica-scale")
    namespace = f"bench-scale-{uuid.uuid4().hex[:6]}"
    replicas = [stack.bff(f"bff-{i}", logs, namespace) for i in range(max(COUNTS))]
    tokens = h.write_tokens(stack.tokens(1000, "scale"), logs / "tokens.txt")
    runs: list[dict[str, Any]] = []
    try:
        with h.running(sb, *replicas):
            first = tokens.read_text().split()[0]
            for r in replicas:
                url = r.url + SLOTS
                httpx.get(url, headers={"Authorization": f"Bearer {first}"}).raise_for_status()
            load([r.url for r in replicas], 3, tokens)  # warm-up: tokens verified everywhere
            for rep in range(1, args.repetitions + 1):
                for n in COUNTS:
                    used = replicas[:n]
                    cpu = sum(r.cpu_seconds() for r in used)
                    result = load([r.url for r in used], args.seconds, tokens)
                    spent = sum(r.cpu_seconds() for r in used) - cpu
                    result |= {
                        "replicas": n,
                        "repetition": rep,
                        "server_cpu_us_per_request": spent * 1e6 / max(result["requests"], 1),
                    }
                    runs.append(result)
                    print(
                        f"rep {rep} {n} replicas: {result['rps']:8.0f} req/s  p50 "
                        f"{result['p50_ms']:.1f} ms  p99 {result['p99_ms']:.1f} ms  "
                        f"CPU {result['server_cpu_us_per_request']:.0f} us/request",
                        flush=True,
                    )
                    time.sleep(1)  # a pause: the last run's connections close first
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"wrk failed: {exc.stderr}") from exc
    finally:
        h.drop_database(stack.database_url)
    h.save(
        "replica_scale",
        {
            "settings": {
                "counts": COUNTS,
                "total_connections": TOTAL_CONNECTIONS,
                "seconds_per_run": args.seconds,
                "repetitions": args.repetitions,
            },
            "runs": runs,
        },
        report(runs, args.seconds, args.repetitions),
        chart(runs),
    )


if __name__ == "__main__":
    main()
