"""Every benchmark scenario in sequence, then bench/results/summary.md (about 23 minutes).

    .venv/bin/python -m bench.run_all [scenario ...]
    .venv/bin/python -m bench.run_all --summary    # summary.md again, from the results there

Each scenario is its own process (``python -m bench.<name>``) and writes its JSON, Markdown
and PNG to bench/results/; the summary puts the machine and their tables on one page.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from bench import harness as h

SCENARIOS = ("checkout_capacity", "hot_slots", "fleet_fanin", "replica_scale")


def summary(names: tuple[str, ...] | list[str]) -> str:
    first = json.loads((h.RESULTS / f"{names[0]}.json").read_text())
    m = first["machine"]
    parts = [
        "# Benchmark results\n",
        f"Commit {first['commit']}, {m['started_at']}. Machine: {m['cpus']} cores "
        f"({m['cpu_model']}, a shared KVM guest), {m['memory_gb']} GB, Linux {m['kernel']}, "
        f"Python {m['python']}; servers pinned to core {m['server_cores']}, load generators "
        f"(and the sandbox) to core {m['load_cores']}. Other engineers' tests ran on the same "
        "cores during the run (load average at the start of each scenario below), which is why "
        "each scenario measures its baseline in the same run and reports ratios.\n",
    ]
    for name in names:
        data = json.loads((h.RESULTS / f"{name}.json").read_text())
        load = data["machine"]["load_average_at_start"]
        parts.append((h.RESULTS / f"{name}.md").read_text().strip())
        parts.append(f"Load average at start: {load[0]}. Chart: `bench/results/{name}.png`.\n")
    return "\n\n".join(parts) + "\n"


def main() -> None:
    args = sys.argv[1:]
    if args == ["--summary"]:  # only rewrite summary.md from the results there
        names: list[str] = []
    else:
        names = args or list(SCENARIOS)
    for name in names:
        started = time.monotonic()
        print(f"==> bench.{name}", flush=True)
        subprocess.run([sys.executable, "-m", f"bench.{name}"], cwd=h.ROOT, check=True)
        print(f"==> bench.{name}: {time.monotonic() - started:.0f} s", flush=True)
    (h.RESULTS / "summary.md").write_text(summary(list(SCENARIOS)))
    print("written: bench/results/summary.md")


if __name__ == "__main__":
    main()
