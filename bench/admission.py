"""Admission control past capacity: what admitted checkouts and refused customers see.

The checkout of bench/checkout_capacity.py (reserve a pickup slot, place the order, Instacart
taking 2 s to create it), customers arriving on the clock at 50/s (about the capacity of one
core) and 100/s (twice it). Two BFF processes on core 0, loaded one at a time, repetitions
interleaved: default settings (admission control on) and the baseline with it off (limits no
request reaches). The sandbox and this load generator run on core 1.

Reported per cell: checkouts placed, overhead p50/p99 of the admitted ones (placement time
minus the 2 s Instacart waits), how many customers were refused 503 over_capacity and how long
a refusal took (p50/p99), and other failures.

    .venv/bin/python -m bench.admission [--seconds 10] [--repetitions 2] [--rates 50,100]
"""

from __future__ import annotations

import argparse
import asyncio
import math
from collections import Counter
from typing import Any

from bench import harness as h
from bench.checkout_capacity import CREATE_SECONDS, arrivals, interleaved_runs, slow_creates

CONFIGS = {
    # the service's defaults (the harness turns admission off for the other benchmarks)
    "admission on": {
        "admission_max_in_flight": 120,
        "admission_lag_budget_ms": 25,
        "admission_loop_busy_percent": 80,
    },
    "admission off": {
        "admission_max_in_flight": 1_000_000,
        "admission_lag_budget_ms": 1e9,
        "admission_loop_busy_percent": 100,
    },
}


def summarise(config: str, rate: int, rep: int, results: list[dict[str, Any]]) -> dict[str, Any]:
    placed = [r["place_s"] for r in results if "place_s" in r and "failure" not in r]
    overhead_ms = [(s - CREATE_SECONDS) * 1000 for s in placed]
    refusals_ms = [
        1000 * r["place_s" if r["failure"].startswith("place") else "reserve_s"]
        for r in results
        if r.get("failure", "").endswith("over_capacity")
    ]
    return {
        "config": config,
        "rate": rate,
        "repetition": rep,
        "customers": len(results),
        "orders": len(placed),
        "refused": len(refusals_ms),
        "other_failures": dict(
            Counter(
                r["failure"]
                for r in results
                if "failure" in r and not r["failure"].endswith("over_capacity")
            )
        ),
        "overhead_p50_ms": h.percentile(overhead_ms, 0.50),
        "overhead_p99_ms": h.percentile(overhead_ms, 0.99),
        "refusal_p50_ms": h.percentile(refusals_ms, 0.50),
        "refusal_p99_ms": h.percentile(refusals_ms, 0.99),
    }


def report(runs: list[dict[str, Any]], rates: list[int], seconds: float, reps: int) -> str:
    lines = [
        f"One BFF on one core, Instacart creating in {CREATE_SECONDS:.0f} s, {seconds:.0f} s of "
        f"arrivals per cell, {reps} interleaved repetitions (each cell: the median of them, "
        "then the worst repetition).",
        "",
        "| arrival rate | config | placed / customers | overhead p50 | overhead p99 | "
        "refused | refusal p50 | refusal p99 | other failures |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for rate in rates:
        for config in CONFIGS:
            cell = [r for r in runs if r["rate"] == rate and r["config"] == config]
            if not cell:
                continue

            def both(key: str, cell: list[dict[str, Any]] = cell) -> str:
                # a repetition without refusals has no refusal times: it does not count
                values = [r[key] for r in cell if not math.isnan(r[key])]
                if not values:
                    return "-"
                return f"{h.median(values):.0f} ms (worst {max(values):.0f})"

            lines.append(
                f"| {rate}/s | {config} | "
                f"{sum(r['orders'] for r in cell)} / {sum(r['customers'] for r in cell)} | "
                f"{both('overhead_p50_ms')} | {both('overhead_p99_ms')} | "
                f"{sum(r['refused'] for r in cell)} | {both('refusal_p50_ms')} | "
                f"{both('refusal_p99_ms')} | "
                f"{sum(sum(r['other_failures'].values()) for r in cell)} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--repetitions", type=int, default=2)
    parser.add_argument("--rates", default="50,100")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    runs: list[dict[str, Any]] = []
    with slow_creates("admission", CONFIGS) as rig:
        schedule = interleaved_runs(rig, rates, args.seconds, args.repetitions, settle=3)
        for rep, rate, config, bff, tokens in schedule:
            count = len(tokens)
            results = asyncio.run(arrivals(bff.url, tokens, rig.slot_id, rate))
            row = summarise(config, rate, rep, results)
            runs.append(row)
            print(
                f"rep {rep} {rate}/s {config:13s}: {row['orders']}/{count} placed, "
                f"overhead p50 {row['overhead_p50_ms']:.0f} ms p99 "
                f"{row['overhead_p99_ms']:.0f} ms, refused {row['refused']} "
                f"(p99 {row['refusal_p99_ms']:.0f} ms), other failures "
                f"{row['other_failures']}",
                flush=True,
            )
    markdown = report(runs, rates, args.seconds, args.repetitions)
    print(markdown)
    h.save(
        "admission",
        {
            "settings": {
                "create_seconds": CREATE_SECONDS,
                "seconds_per_run": args.seconds,
                "repetitions": args.repetitions,
                "configs": CONFIGS,
            },
            "runs": runs,
        },
        markdown,
    )


if __name__ == "__main__":
    main()
