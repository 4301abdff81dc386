"""Hot path: slot previews with 1,000 distinct users' tokens, against two baselines, and how
many slot requests wait on Instacart once refresh-ahead keeps the cache warm.

Four servers on core 0, loaded one at a time by wrk on core 1 (one thread, a Lua script
rotating 1,000 tokens, bench/rotate_tokens.lua):
- raw: a raw ASGI callable answering constant bytes of a preview's size, served as the BFF is
  (granian embedded, bench/raw_asgi.py): the ceiling for Python on this core;
- bare: a bare Starlette route answering one Redis GET of a body of the same size
  (bench/bare_route.py);
- bff: the service as configured (warm cache);
- bff, cache off: slot_cache_ttl tiny, no stale window, no in-process tier, so every request
  goes to Redis and the sandbox (which runs on core 1 beside wrk) behind single-flight.
At 64 and 256 connections, repetitions interleaved (raw, bare, bff, cache off, then again).

Then the refresh phase: one BFF per configuration, with a short TTL so that a run spans several,
and 40 keys (addresses) each asked for once every 0.9 TTL from random phases. After one
warm-up round, the BFF's own counters say how many slot requests waited on Instacart
(`bff_slot_preview_upstream_waits_total`) and how many were answered past their TTL (stale).

    .venv/bin/python -m bench.hot_slots [--seconds 8] [--repetitions 3] [--refresh-ttls 5]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

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
TARGETS = ("raw", "bare", "bff", "bff, cache off")
BASELINES = ("raw", "bare")
CONNECTIONS = (64, 256)

# The refresh phase: a TTL short enough that a run spans several of them.
REFRESH_TTL = 3.0
REFRESH_KEYS = 40
REFRESH_PERIOD = 0.9  # of the TTL: each key at least once per TTL, despite scheduling jitter
REFRESH_CONFIGS = {
    "refresh-ahead at 75 %, stale window 1.5 TTL (the service's defaults, scaled)": {
        "slot_cache_stale_seconds": REFRESH_TTL * 1.5,
        "slot_cache_refresh_at": 0.75,
    },
    "refresh-ahead at 75 %, no stale window": {
        "slot_cache_stale_seconds": 0,
        "slot_cache_refresh_at": 0.75,
    },
    "no refresh-ahead, stale window 1.5 TTL (before)": {
        "slot_cache_stale_seconds": REFRESH_TTL * 1.5,
        "slot_cache_refresh_at": 1.0,
    },
    "no refresh-ahead, no stale window": {
        "slot_cache_stale_seconds": 0,
        "slot_cache_refresh_at": 1.0,
    },
}


def same_rep(runs: list[dict[str, Any]], run: dict[str, Any], target: str) -> dict[str, Any]:
    return next(
        b
        for b in runs
        if b["target"] == target
        and b["connections"] == run["connections"]
        and b["repetition"] == run["repetition"]
    )


def cell(runs: list[dict[str, Any]], target: str, conns: int) -> list[dict[str, Any]]:
    return [r for r in runs if r["target"] == target and r["connections"] == conns]


def throughput_table(runs: list[dict[str, Any]]) -> str:
    rows = []
    for conns in CONNECTIONS:
        for target in TARGETS:
            runs_here = cell(runs, target, conns)
            ratios = [
                "1.00"
                if target == base
                else h.spread(
                    [r["rps"] / same_rep(runs, r, base)["rps"] for r in runs_here], "{:.2f}"
                )
                for base in BASELINES
            ]
            rows.append(
                [
                    conns,
                    target,
                    h.spread([r["rps"] for r in runs_here]),
                    *ratios,
                    h.spread([r["p50_ms"] for r in runs_here], "{:.1f}"),
                    h.spread([r["p99_ms"] for r in runs_here], "{:.1f}"),
                    h.spread([r["server_cpu_us_per_request"] for r in runs_here]),
                    sum(sum(r["errors"].values()) for r in runs_here),
                ]
            )
    return h.markdown_table(
        [
            "conns",
            "server",
            "requests/s",
            "rps / raw (same rep)",
            "rps / bare (same rep)",
            "p50 ms",
            "p99 ms",
            "server CPU us/request",
            "errors+timeouts+non-2xx",
        ],
        rows,
    )


def refresh_table(refresh: list[dict[str, Any]]) -> str:
    rows = [
        [
            r["config"],
            f"{r['requests']:,}",
            f"{r['waited']:,}",
            f"{r['waited'] / max(r['requests'], 1):.1%}",
            f"{r['stale']:,}",
            f"{r['stale'] / max(r['requests'], 1):.1%}",
            f"{r['upstream_previews']:,}",
            r["non_2xx"],
        ]
        for r in refresh
    ]
    return h.markdown_table(
        [
            "configuration",
            "slot requests",
            "waited on Instacart",
            "share",
            "answered stale",
            "share",
            "upstream previews",
            "non-2xx",
        ],
        rows,
    )


def report(
    runs: list[dict[str, Any]],
    refresh: list[dict[str, Any]],
    args: argparse.Namespace,
    previews: int,
) -> str:
    def ratios(target: str, base: str, conns: int) -> list[float]:
        return [r["rps"] / same_rep(runs, r, base)["rps"] for r in cell(runs, target, conns)]

    to_raw, to_bare = ratios("bff", "raw", 64), ratios("bff", "bare", 64)
    p99_64 = [(r["p99_ms"], same_rep(runs, r, "bare")["p99_ms"]) for r in cell(runs, "bff", 64)]
    worst256 = max(r["p99_ms"] for r in cell(runs, "bff", 256))
    off = sum(r["requests"] for r in runs if r["target"] == "bff, cache off")
    service = refresh[0] if refresh else None

    def listed(values: list[float]) -> str:
        return ", ".join(f"{x:.2f}" for x in values)

    checks = [
        f"hot preview at 64 connections >= 0.7x raw ASGI: "
        f"{'met' if min(to_raw) >= 0.7 else 'not met'} (ratios {listed(to_raw)})",
        f"hot preview at 64 connections >= 2.0x bare: "
        f"{'met' if min(to_bare) >= 2 else 'not met'} (ratios {listed(to_bare)})",
        "p99 at 64 connections no worse than bare: "
        + ("met" if all(b <= a for b, a in p99_64) else "not met")
        + " ("
        + ", ".join(f"{b:.1f} vs {a:.1f} ms" for b, a in p99_64)
        + ")",
        f"p99 at 256 connections <= 250 ms in every run: "
        f"{'met' if worst256 <= 250 else 'not met'} (worst {worst256:.1f} ms)",
    ]
    if service is not None:
        checks.append(
            "slot requests waiting on Instacart after warm-up, keys hit once per TTL, the "
            f"service's configuration: {service['waited']} of {service['requests']:,} "
            f"({'met' if service['waited'] == 0 else 'not met'})"
        )
    return (
        "### Hot slots (`python -m bench.hot_slots`)\n\n"
        f"wrk -t1 for {args.seconds:g} s per run, 1,000 distinct users' tokens rotated per "
        f"request, {args.repetitions} interleaved repetitions; cells are the median (min-max) of "
        "the repetitions; ratios are taken against the baseline's run of the same repetition.\n\n"
        f"{throughput_table(runs)}\n\nWith its cache off the BFF made at most {previews:,} "
        f"upstream previews for {off:,} requests (the count includes the cached BFF's few "
        "refreshes; single-flight coalesces concurrent identical previews).\n\n"
        f"Refresh phase: TTL {REFRESH_TTL:g} s, {REFRESH_KEYS} keys each asked for every "
        f"{REFRESH_PERIOD:g} TTL for {args.refresh_ttls} TTLs after a warm-up round, counted "
        "by the BFF's own metrics:\n\n"
        f"{refresh_table(refresh)}\n\n"
        "Issue 18's hot-path targets (and issue 11's), from this run:\n\n"
        + "\n".join(f"- {c}" for c in checks)
        + "\n"
    )


def chart(runs: list[dict[str, Any]]) -> Any:
    plt = h.pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    width = 0.2
    for i, target in enumerate(TARGETS):
        xs = [j + (i - 1.5) * width for j in range(len(CONNECTIONS))]
        rps = [h.median([r["rps"] for r in cell(runs, target, c)]) for c in CONNECTIONS]
        p99 = [h.median([r["p99_ms"] for r in cell(runs, target, c)]) for c in CONNECTIONS]
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


async def slot_counters(client: httpx.AsyncClient) -> dict[str, float]:
    """The BFF's slot counters (delivery previews) from its /metrics."""
    text = (await client.get("/metrics")).text
    wanted = {
        ("bff_slot_previews", "delivery"): "requests",
        ("bff_slot_preview_upstream_waits", "delivery"): "waited",
        ("bff_cache_requests", "slots/stale"): "stale",
    }
    out = dict.fromkeys(wanted.values(), 0.0)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue
            label = sample.labels.get("fulfillment") or (
                f"{sample.labels.get('cache')}/{sample.labels.get('result')}"
            )
            name = wanted.get((family.name, label))
            if name is not None:
                out[name] = sample.value
    return out


async def keys_once_per_ttl(url: str, tokens: list[str], ttls: int) -> dict[str, float]:
    """Asks for each of REFRESH_KEYS previews every REFRESH_PERIOD TTL, each from its own phase,
    for a warm-up round and then ``ttls`` TTLs: the BFF's counters over those TTLs."""
    period = REFRESH_PERIOD * REFRESH_TTL
    non_2xx = 0
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        start = asyncio.get_running_loop().time()
        # The first request of each key (its miss) within the first 0.8 period: the warm-up.
        warmed_at, end = start + period, start + period + ttls * REFRESH_TTL

        async def key(n: int) -> None:
            nonlocal non_2xx
            path = SLOTS.replace("101%20Spear%20St", f"{n + 1}%20Mission%20St")
            loop = asyncio.get_running_loop()
            due = start + random.uniform(0, 0.8 * period)
            while due < end:
                await asyncio.sleep(max(0.0, due - loop.time()))
                token = random.choice(tokens)
                response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
                non_2xx += response.status_code >= 300
                due += period

        keys = asyncio.gather(*(key(n) for n in range(REFRESH_KEYS)))
        await asyncio.sleep(warmed_at - asyncio.get_running_loop().time())
        before = await slot_counters(client)
        await keys
        after = await slot_counters(client)
    return {k: after[k] - before[k] for k in after} | {"non_2xx": non_2xx}


def refresh_phase(
    stack: h.Stack, sb: h.Proc, logs: Path, run_id: str, tokens: list[str], ttls: int
) -> list[dict[str, Any]]:
    results = []
    for i, (config, settings) in enumerate(REFRESH_CONFIGS.items()):
        bff = stack.bff(
            f"bff-refresh-{i}",
            logs,
            f"bench-{run_id}-r{i}",
            slot_cache_ttl_seconds=REFRESH_TTL,
            **settings,
        )
        with h.running(bff):
            calls = h.sandbox_calls(sb.url)["calls"].get("previewDeliveryTimeSlots", 0)
            counts = asyncio.run(keys_once_per_ttl(bff.url, tokens, ttls))
            # upstream previews include the warm-up round's misses (one per key)
            upstream = h.sandbox_calls(sb.url)["calls"].get("previewDeliveryTimeSlots", 0) - calls
        result = {
            "config": config,
            "settings": settings,
            **{k: int(v) for k, v in counts.items()},
            "upstream_previews": upstream,
        }
        results.append(result)
        print(f"refresh {config}: {result}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--refresh-ttls", type=int, default=5, help="refresh phase, in TTLs")
    args = parser.parse_args()
    logs, sb, stack = h.scenario("hot-slots")
    run_id = uuid.uuid4().hex[:6]

    def baseline(name: str, module: str) -> h.Proc:
        return h.Proc(name, [module], env={}, health="/slots", cores=h.SERVER_CORES, log_dir=logs)

    servers = {
        "raw": baseline("raw", "bench.raw_asgi"),
        "bare": baseline("bare", "bench.bare_route"),
        "bff": stack.bff("bff", logs, f"bench-{run_id}-a"),
        "bff, cache off": stack.bff("bff-nocache", logs, f"bench-{run_id}-b", **CACHE_OFF),
    }
    token_list = stack.tokens(1000, f"hot-{run_id}")
    tokens = h.write_tokens(token_list, logs / "tokens.txt")
    urls = {
        "raw": servers["raw"].url + "/slots",
        "bare": servers["bare"].url + "/slots",
        "bff": servers["bff"].url + SLOTS,
        "bff, cache off": servers["bff, cache off"].url + SLOTS,
    }
    runs: list[dict[str, Any]] = []
    try:
        with h.running(sb, *servers.values()):
            first = token_list[0]
            sizes = {}
            for target in TARGETS:
                response = httpx.get(urls[target], headers={"Authorization": f"Bearer {first}"})
                response.raise_for_status()
                sizes[target] = len(response.content)
                # Warm-up: every token verified once, connections and caches made.
                h.wrk(urls[target], connections=64, seconds=3, tokens_file=tokens)
            print(f"body sizes: {sizes}", flush=True)
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
            for server in servers.values():
                server.stop()  # the refresh phase has the server core to itself
            refresh = refresh_phase(stack, sb, logs, run_id, token_list, args.refresh_ttls)
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
                "body_bytes": sizes,
                "refresh_phase": {
                    "ttl_seconds": REFRESH_TTL,
                    "keys": REFRESH_KEYS,
                    "period_of_ttl": REFRESH_PERIOD,
                    "ttls": args.refresh_ttls,
                },
            },
            "runs": runs,
            "refresh": refresh,
            "sandbox_stats": calls,
        },
        report(
            runs,
            refresh,
            args,
            calls["calls"].get("previewDeliveryTimeSlots", 0) - warm,
        ),
        chart(runs),
    )


if __name__ == "__main__":
    main()
