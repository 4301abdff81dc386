"""Hot path: slot previews with 1,000 distinct users' tokens, against two baselines.

Three servers on core 0, loaded one at a time by wrk on core 1 (one thread, a Lua script
rotating 1,000 tokens, bench/rotate_tokens.lua):
- bare: a bare Starlette route answering one Redis GET of a body of the same size
  (bench/bare_route.py), the ceiling to compare against;
- bff: the service as configured (warm cache);
- bff, cache off: slot_cache_ttl tiny, no stale window, no in-process tier, so every request
  goes to Redis and the sandbox (which runs on core 1 beside wrk) behind single-flight.
At 64 and 256 connections, repetitions interleaved (bare, bff, cache off, then again).

    .venv/bin/python -m bench.hot_slots [--seconds 8] [--repetitions 3]
"""

from __future__ import annotations

import argparse
import time
import uuid
from typing import Any

import httpx

from bench import harness as h

SLOTS = (
    f"/v1/stores/{h.STORE_ID}/slots?fulfillment=delivery&postal_code=94105"
    "&address_line_1=101%20Spear%20St"
)
CACHE_OFF = {
    "slot_cache_ttl_seconds": "0.000001",
    "slot_cache_stale_seconds": "0",
    "slot_cache_local_seconds": "0",
}
TARGETS = ("bare", "bff", "bff, cache off")
CONNECTIONS = (64, 256)


def report(runs: list[dict[str, Any]], seconds: float, reps: int, previews: int) -> str:
    rows = []
    for conns in CONNECTIONS:
        for target in TARGETS:
            cell = [r for r in runs if r["connections"] == conns and r["target"] == target]
            ratio = []
            for r in cell:
                bare = next(
                    b
                    for b in runs
                    if b["target"] == "bare"
                    and b["connections"] == conns
                    and b["repetition"] == r["repetition"]
                )
                ratio.append(r["rps"] / bare["rps"])
            errors = sum(sum(r["errors"].values()) for r in cell)
            rows.append(
                [
                    conns,
                    target,
                    h.spread([r["rps"] for r in cell]),
                    "1.00" if target == "bare" else h.spread(ratio, "{:.2f}"),
                    h.spread([r["p50_ms"] for r in cell], "{:.1f}"),
                    h.spread([r["p99_ms"] for r in cell], "{:.1f}"),
                    h.spread([r["server_cpu_us_per_request"] for r in cell]),
                    errors,
                ]
            )
    table = h.markdown_table(
        [
            "conns",
            "server",
            "requests/s",
            "rps / bare (same rep)",
            "p50 ms",
            "p99 ms",
            "server CPU us/request",
            "errors+timeouts+non-2xx",
        ],
        rows,
    )

    def cell(target: str, conns: int) -> list[dict[str, Any]]:
        return [r for r in runs if r["target"] == target and r["connections"] == conns]

    ratios64 = [b["rps"] / a["rps"] for a, b in zip(cell("bare", 64), cell("bff", 64), strict=True)]
    p99_64 = [
        (b["p99_ms"], a["p99_ms"]) for a, b in zip(cell("bare", 64), cell("bff", 64), strict=True)
    ]
    worst256 = max(r["p99_ms"] for r in cell("bff", 256))
    off = sum(r["requests"] for r in runs if r["target"] == "bff, cache off")
    checks = [
        f"throughput at 64 connections >= 2.0x bare: {'met' if min(ratios64) >= 2 else 'not met'}"
        f" (ratios {', '.join(f'{x:.2f}' for x in ratios64)})",
        "p99 at 64 connections no worse than bare: "
        + ("met" if all(b <= a for b, a in p99_64) else "not met")
        + " ("
        + ", ".join(f"{b:.1f} vs {a:.1f} ms" for b, a in p99_64)
        + ")",
        f"p99 at 256 connections <= 250 ms in every run: "
        f"{'met' if worst256 <= 250 else 'not met'} (worst {worst256:.1f} ms)",
    ]
    return (
        "### Hot slots (`python -m bench.hot_slots`)\n\n"
        f"wrk -t1 for {seconds:g} s per run, 1,000 distinct users' tokens rotated per request, "
        f"{reps} interleaved repetitions; cells are the median (min-max) of the repetitions; "
        "the ratio is taken against the bare route's run of the same repetition.\n\n"
        f"{table}\n\nWith its cache off the BFF made at most {previews:,} upstream previews for "
        f"{off:,} requests (the count includes the cached BFF's few refreshes; single-flight "
        "coalesces concurrent identical previews).\n\n"
        "Issue 11's hot-path targets, from this run:\n\n"
        + "\n".join(f"- {c}" for c in checks)
        + "\n"
    )


def chart(runs: list[dict[str, Any]]) -> Any:
    plt = h.pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    width = 0.25
    for i, target in enumerate(TARGETS):
        xs = [j + (i - 1) * width for j in range(len(CONNECTIONS))]
        rps = [
            h.median([r["rps"] for r in runs if r["target"] == target and r["connections"] == c])
            for c in CONNECTIONS
        ]
        p99 = [
            h.median([r["p99_ms"] for r in runs if r["target"] == target and r["connections"] == c])
            for c in CONNECTIONS
        ]
        left.bar(xs, rps, width, label=target)
        right.bar(xs, p99, width, label=target)
    for ax, title, unit in ((left, "requests/s", "req/s"), (right, "p99 latency", "ms (log)")):
        ax.set_xticks(range(len(CONNECTIONS)), [f"{c} conns" for c in CONNECTIONS])
        ax.set_title(f"slot previews: {title}")
        ax.set_ylabel(unit)
        ax.legend(fontsize=7)
    right.set_yscale("log")
    fig.tight_layout()
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args()
    logs, sb, stack = h.scenario("hot-slots")
    run_id = uuid.uuid4().hex[:6]
    servers = {
        "bare": h.Proc(
            "bare",
            ["bench.bare_route"],
            env={},
            health="/slots",
            cores=h.SERVER_CORES,
            log_dir=logs,
        ),
        "bff": stack.bff("bff", logs, f"bench-{run_id}-a"),
        "bff, cache off": stack.bff("bff-nocache", logs, f"bench-{run_id}-b", **CACHE_OFF),
    }
    tokens = h.write_tokens(stack.tokens(1000, f"hot-{run_id}"), logs / "tokens.txt")
    urls = {
        "bare": servers["bare"].url + "/slots",
        "bff": servers["bff"].url + SLOTS,
        "bff, cache off": servers["bff, cache off"].url + SLOTS,
    }
    runs: list[dict[str, Any]] = []
    try:
        with h.running(sb, *servers.values()):
            first = tokens.read_text().split()[0]
            for target in TARGETS:
                response = httpx.get(urls[target], headers={"Authorization": f"Bearer {first}"})
                response.raise_for_status()
                # Warm-up: every token verified once, connections and caches made.
                h.wrk(urls[target], connections=64, seconds=3, tokens_file=tokens)
            warm = h.sandbox_calls(sb.url)["calls"].get("previewDeliveryTimeSlots", 0)
            for rep in range(1, args.repetitions + 1):
                for conns in CONNECTIONS:
                    for target in TARGETS:
                        server = servers[target]
                        cpu = server.cpu_seconds()
                        result = h.wrk(
                            urls[target],
                            connections=conns,
                            seconds=args.seconds,
                            tokens_file=tokens,
                        )
                        used = server.cpu_seconds() - cpu
                        result |= {
                            "target": target,
                            "connections": conns,
                            "repetition": rep,
                            "server_cpu_us_per_request": used * 1e6 / max(result["requests"], 1),
                        }
                        runs.append(result)
                        print(
                            f"rep {rep} {conns:3d} conns {target:15s} {result['rps']:8.0f} req/s"
                            f"  p50 {result['p50_ms']:7.1f} ms  p99 {result['p99_ms']:7.1f} ms"
                            f"  errors {result['errors']}",
                            flush=True,
                        )
                        time.sleep(1)  # a pause: the last run's connections close first
            calls = h.sandbox_calls(sb.url)
    finally:
        h.drop_database(stack.database_url)
    h.save(
        "hot_slots",
        {
            "settings": {
                "seconds_per_run": args.seconds,
                "repetitions": args.repetitions,
                "tokens": 1000,
                "wrk_threads": 1,
                "cache_off": CACHE_OFF,
                "sandbox": "own process on the load core",
            },
            "runs": runs,
            "sandbox_stats": calls,
        },
        report(
            runs,
            args.seconds,
            args.repetitions,
            calls["calls"].get("previewDeliveryTimeSlots", 0) - warm,
        ),
        chart(runs),
    )


if __name__ == "__main__":
    main()
