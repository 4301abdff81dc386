"""CPU per checkout of this checkout's code against another commit's, side by side.

Two BFFs on core 0 in one stack (bench/checkout_capacity.py's `slow_creates`): "base" runs
`--base` (a git ref, exported with `git archive` to a temporary folder) and "head" runs the
working tree. Windows of `--seconds` at `--rate` checkouts/s alternate between them (base,
head, head, base, ... so that neither always goes first), and each reports the BFF's CPU ms per
checkout (reserve + place) from /proc utime+stime. The figure to quote is the ratio of the
medians, measured in the same run on the same machine.

    .venv/bin/python -m bench.cpu_ab --base main [--rate 50] [--seconds 10] [--repetitions 3]

Prints the windows and the ratio, and writes bench/results/cpu-ab-<name>.json and .md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import harness as h
from bench.checkout_capacity import slow_creates
from bench.profile_checkout import MAX_FAILED_SHARE, load


def report(result: dict[str, Any]) -> str:
    rows = [
        [w["repetition"], w["code"], f"{w['cpu_ms_per_checkout']:.2f}", _failed(w)]
        for w in result["windows"]
    ]
    table = h.markdown_table(["repetition", "code", "CPU ms/checkout", "failures"], rows)
    base, head = result["base_ms"], result["head_ms"]
    failed = max(sum(w["failures"].values()) / w["customers"] for w in result["windows"])
    warning = (
        f"**Not a comparison of checkouts: {100 * failed:.0f}% of a window's customers "
        "failed** (a failed checkout costs less); run it again on a quieter machine.\n\n"
        if failed > MAX_FAILED_SHARE
        else ""
    )
    return (
        f"### CPU per checkout, {result['base']} ({result['base_commit']}) against "
        f"{result['head_commit']} (`python -m bench.cpu_ab`)\n\n{warning}"
        f"{result['rate']:g} checkouts/s, {result['seconds']:g} s windows, alternating. Median "
        f"base {base:.2f} ms, head {head:.2f} ms: **head/base {head / base:.3f}** "
        f"({head - base:+.2f} ms per checkout).\n\n{table}\n"
    )


def _failed(window: dict[str, Any]) -> str:
    return ", ".join(f"{n} {k}" for k, n in window["failures"].items()) or "0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="main", help="git ref the head is compared with")
    parser.add_argument("--rate", type=float, default=50, help="checkouts per second")
    parser.add_argument("--seconds", type=float, default=10, help="length of each window")
    parser.add_argument("--repetitions", type=int, default=3, help="windows per side")
    parser.add_argument("--name", default="head", help="results: cpu-ab-<name>.*")
    args = parser.parse_args()
    count = int(args.rate * args.seconds)
    windows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-base-") as folder:
        base_commit = h.export(args.base, Path(folder))
        code = {"base": Path(folder), "head": h.ROOT}
        with slow_creates("cpu-ab", {"base": {}, "head": {}}, code) as rig:
            for name, bff in rig.bffs.items():  # pools, caches and code paths warm
                load(
                    bff,
                    rig.stack.tokens(count // 2, f"{rig.run_id}-warm-{name}"),
                    rig.slot_id,
                    args.rate,
                )
            for rep in range(1, args.repetitions + 1):
                order = ["base", "head"] if rep % 2 else ["head", "base"]
                for name in order:
                    time.sleep(2)  # the last connections close, the loop settles
                    tokens = rig.stack.tokens(count, f"{rig.run_id}-{rep}-{name}")
                    window = load(rig.bffs[name], tokens, rig.slot_id, args.rate)
                    window |= {"repetition": rep, "code": name}
                    windows.append(window)
                    print(
                        f"rep {rep} {name}: {window['cpu_ms_per_checkout']:.2f} ms/checkout, "
                        f"failures {window['failures'] or 0}",
                        flush=True,
                    )
    result = {
        "base": args.base,
        "base_commit": base_commit,
        "head_commit": h.git_commit(),
        "rate": args.rate,
        "seconds": args.seconds,
        "windows": windows,
        "base_ms": h.median([w["cpu_ms_per_checkout"] for w in windows if w["code"] == "base"]),
        "head_ms": h.median([w["cpu_ms_per_checkout"] for w in windows if w["code"] == "head"]),
    }
    h.save(f"cpu-ab-{args.name}", result, report(result))


if __name__ == "__main__":
    main()
