"""Where a checkout's CPU goes: a py-spy profile of the BFF under checkouts at a steady rate.

The stack is bench/checkout_capacity.py's (its `slow_creates` set-up: a fresh database, the
sandbox creating pickup orders in 2 s, one BFF with default settings on core 0). Customers
arrive on the clock at `--rate` (reserve, then place) for two windows of `--seconds`:
1. unprofiled: the BFF's CPU ms per checkout from /proc utime+stime, the figure to trust;
2. profiled: the same load with `py-spy record` attached (pinned to the load core), giving
   each bucket's share of the BFF's sampled stacks.
A bucket's ms per checkout is its share times the unprofiled CPU ms per checkout.

    .venv/bin/python -m bench.profile_checkout [--rate 50] [--seconds 20] [--name before]
        [--ref main]   # another commit's app/ instead of the working tree's

Writes bench/results/profile-<name>.speedscope.json (the raw profile: open it in
https://www.speedscope.app or `py-spy`'s viewer of choice), profile-<name>.json (the buckets,
the top functions and the run's figures) and profile-<name>.md (the tables), and prints the
Markdown. `BENCH_RESULTS=/tmp/x` keeps a trial run away from the committed results.

Buckets. A sample is charged to the first bucket found walking its stack from the innermost
frame out, so SQLAlchemy calling asyncpg is asyncpg, and our code calling SQLAlchemy is the ORM.
The standard library's frames are looked through (a sample in uuid or http.cookiejar goes to
whoever called it), except json (JSON/pydantic) and logging; so are the loop's and granian's:
"granian/asyncio" is a stack with nothing else on it. Each thread's share of the process's CPU
comes from /proc over the profiled window and is spread over its samples' buckets: py-spy
counts granian's Rust threads as busy whenever they run, though they use about 1 % of the CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench import harness as h
from bench.checkout_capacity import arrivals, slow_creates

# (bucket, path fragments); the first bucket whose fragment is in a frame's file wins. A
# fragment starting with "stdlib:" matches only the standard library's own modules.
BUCKETS: list[tuple[str, tuple[str, ...]]] = [
    ("asyncpg", ("/asyncpg/",)),
    ("ORM/SQLAlchemy", ("/sqlalchemy/",)),
    ("httpx/httpcore pool", ("/httpx/", "/httpcore/", "/h11/", "/anyio/", "/sniffio/")),
    ("Redis", ("/redis/",)),
    ("auth/JWT", ("/jwt/", "/app/auth/", "/cryptography/")),
    ("metrics", ("/prometheus_client/", "/app/platform/metrics.py")),
    ("logging", ("/structlog/", "stdlib:logging/", "/app/platform/logging.py")),
    (
        "JSON/pydantic",
        ("/pydantic/", "/pydantic_core/", "/orjson/", "stdlib:json/", "/fastapi/encoders.py"),
    ),
    ("FastAPI/Starlette", ("/fastapi/", "/starlette/")),
    ("upstream retries (stamina/tenacity)", ("/stamina/", "/tenacity/")),
    ("tracing (OpenTelemetry)", ("/opentelemetry/",)),
    ("our code", ("/app/",)),
]
LOOP = "granian/asyncio"
OTHER = "other"
# Past this share of failed customers in a window the report says it profiled no checkouts.
MAX_FAILED_SHARE = 0.05
# The loop's and the server's own frames: skipped when charging a sample, like the standard
# library's (`_generic`), so that it goes to the caller that did the work.
GENERIC = (
    "/uvloop/",
    "/granian/",
    "/app/serve.py",
    "/app/__main__.py",
    "<frozen runpy>",
)
BUCKET_ORDER = [name for name, _ in BUCKETS] + [LOOP, OTHER]


def _matches(file: str, fragment: str) -> bool:
    if fragment.startswith("stdlib:"):
        # /usr/local/lib/python3.11/asyncio/..., not .../site-packages/redis/asyncio/...
        return "site-packages" not in file and f"/python3.11/{fragment[7:]}" in file
    return fragment in file


def bucket_of(file: str) -> str | None:
    for name, fragments in BUCKETS:
        if any(_matches(file, f) for f in fragments):
            return name
    return None


def _generic(file: str) -> bool:
    """A frame to look through: the loop's, or a standard-library helper (uuid, urllib,
    contextlib, ...) that did its work for the caller (JSON and logging have their buckets)."""
    if any(_matches(file, g) for g in GENERIC):
        return True
    stdlib = file.startswith("<frozen ") or ("/python3.11/" in file and "site-packages" not in file)
    return stdlib and bucket_of(file) is None


def classify(stack: list[dict[str, Any]]) -> str:
    """The bucket of one sample; `stack` runs from the outermost frame to the innermost.

    A stack of loop frames only (or none: granian's own threads run Rust, not Python) is
    the server and the event loop at work."""
    for frame in reversed(stack):
        file = frame.get("file", "")
        if _generic(file):
            continue
        return bucket_of(file) or OTHER
    return LOOP


Samples = dict[int, Counter[str]]


def read_speedscope(path: Path) -> tuple[Samples, Counter[str]]:
    """A py-spy speedscope file: samples by thread id and bucket, and by innermost function."""
    data = json.loads(path.read_text())
    frames = data["shared"]["frames"]
    by_thread: Samples = {}
    leaves: Counter[str] = Counter()
    for profile in data["profiles"]:
        # py-spy names each profile 'Thread <OS thread id> "<name>"'.
        tid = int(profile["name"].split()[1])
        buckets = by_thread.setdefault(tid, Counter())
        for sample in profile["samples"]:  # weights are the seconds between samples: not used
            stack = [frames[i] for i in sample]
            buckets[classify(stack)] += 1
            if stack:  # granian's threads, idle by /proc, show up in py-spy with no frame
                leaves[f"{stack[-1]['name']} ({_short(stack[-1].get('file', ''))})"] += 1
    return by_thread, leaves


def cpu_by_bucket(by_thread: Samples, threads: dict[int, tuple[str, float]]) -> dict[str, float]:
    """Each bucket's share of the process's CPU: a thread's CPU share (from /proc) spread over
    its samples' buckets. A thread that used CPU with no sample (py-spy saw it idle) counts as
    the loop's and the server's: only the server's own threads run without Python frames."""
    shares: Counter[str] = Counter()
    for tid, (_, share) in threads.items():
        samples = by_thread.get(tid)
        if not samples:
            shares[LOOP] += share
            continue
        total = sum(samples.values())
        for bucket, n in samples.items():
            shares[bucket] += share * n / total
    return {name: shares[name] for name in BUCKET_ORDER}


def _short(file: str) -> str:
    """A frame's file from its package down (`sqlalchemy/orm/session.py`)."""
    for marker in ("site-packages/", "/wt-prof/", "/main/", "/lib/python3.11/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """Each thread of `pid`: (its name, its user + system CPU seconds so far), from /proc."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            name, fields = (task / "stat").read_text().rsplit(")", 1)
            values = fields.split()
            out[int(task.name)] = (
                name.split("(", 1)[1],
                (int(values[11]) + int(values[12])) / tick,
            )
    return out


def thread_shares(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
) -> dict[int, tuple[str, float]]:
    """Each thread's name and share of the process's CPU between two `thread_cpu` readings."""
    used = {
        tid: (name, cpu - before.get(tid, (name, 0.0))[1]) for tid, (name, cpu) in after.items()
    }
    total = sum(cpu for _, cpu in used.values()) or 1.0
    return {tid: (name, cpu / total) for tid, (name, cpu) in used.items() if cpu > 0}


def load(bff: h.Proc, tokens: list[str], slot_id: str, rate: float) -> dict[str, Any]:
    """Drive one window of checkouts; the BFF's CPU over it and the customers' failures."""
    cpu = bff.cpu_seconds()
    started = time.perf_counter()
    results = asyncio.run(arrivals(bff.url, tokens, slot_id, rate))
    wall = time.perf_counter() - started
    used = bff.cpu_seconds() - cpu
    failures = Counter(r["failure"] for r in results if "failure" in r)
    return {
        "customers": len(results),
        "failures": dict(failures),
        "wall_s": round(wall, 2),
        "cpu_s": round(used, 3),
        "cpu_ms_per_checkout": used * 1000 / len(results),
        "core_busy": used / wall,
    }


def profiled(bff: h.Proc, out: Path, seconds: float, sample_rate: int) -> subprocess.Popen[str]:
    """py-spy attached to the BFF for `seconds`, on the load cores, writing speedscope JSON."""
    assert bff.proc is not None
    argv = ["taskset", "-c", h.LOAD_CORES, str(h.ROOT / ".venv" / "bin" / "py-spy"), "record"]
    argv += ["--pid", str(bff.proc.pid), "--rate", str(sample_rate), "--format", "speedscope"]
    argv += ["--full-filenames", "--duration", f"{round(seconds)}", "--output", str(out)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def report(result: dict[str, Any]) -> str:
    ms = result["unprofiled"]["cpu_ms_per_checkout"]
    rows = [
        [name, f"{100 * share:.1f}%", f"{share * ms:.2f}"]
        for name, share in result["buckets"].items()
    ]
    rows.append(["**total**", "100%", f"**{ms:.1f}**"])
    table = h.markdown_table(["bucket", "share of the BFF's CPU", "CPU ms/checkout"], rows)
    threads = h.markdown_table(
        ["thread (name, id)", "share of the BFF's CPU", "py-spy samples"],
        [
            [f"{t['name']} ({t['tid']})", f"{100 * t['share']:.1f}%", t["samples"]]
            for t in result["threads"]
        ],
    )
    top = h.markdown_table(
        ["innermost function", "share of samples"],
        [[f"`{name}`", f"{100 * share:.1f}%"] for name, share in result["top_functions"]],
    )
    un, pr = result["unprofiled"], result["profiled"]
    failed = max(sum(w["failures"].values()) / w["customers"] for w in (un, pr))
    warning = (
        f"**Not a profile of checkouts: {100 * failed:.0f}% of a window's customers failed** "
        "(a failed checkout costs less and runs other code); run it again on a quieter "
        "machine.\n\n"
        if failed > MAX_FAILED_SHARE
        else ""
    )
    return (
        f"### Where a checkout's CPU goes ({result['name']}, `python -m bench.profile_checkout`)"
        f"\n\n{warning}{result['rate']:g} checkouts/s for {result['seconds']:g} s per window, "
        f"commit {result['commit']}. Unprofiled window: **{un['cpu_ms_per_checkout']:.1f} ms "
        f"CPU per checkout** (reserve + place), core {100 * un['core_busy']:.0f}% busy, "
        f"{sum(un['failures'].values())} failures of {un['customers']}"
        f"{_failures(un)}. Profiled window: {pr['cpu_ms_per_checkout']:.1f} ms "
        f"(py-spy pauses the process to sample), {sum(pr['failures'].values())} failures"
        f"{_failures(pr)}, {result['samples']} samples at {result['sample_rate']} Hz. "
        f"A bucket's share = each thread's share of the process's CPU in the profiled window "
        f"(/proc) x the bucket's share of that thread's samples; its ms = share x the "
        f"unprofiled ms.\n\n{table}\n\nBy thread:\n\n{threads}\n\n"
        "The innermost functions with the most samples (of the samples with Python "
        f"frames):\n\n{top}\n"
    )


def _failures(window: dict[str, Any]) -> str:
    if not window["failures"]:
        return ""
    return " (" + ", ".join(f"{n} {k}" for k, n in window["failures"].items()) + ")"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50, help="checkouts per second")
    parser.add_argument("--seconds", type=float, default=20, help="length of each window")
    parser.add_argument("--sample-rate", type=int, default=200, help="py-spy samples/s")
    parser.add_argument("--name", default="before", help="results: profile-<name>.*")
    parser.add_argument("--top", type=int, default=15, help="innermost functions listed")
    parser.add_argument(
        "--ref", help="profile the app/ of this git ref (e.g. main) instead of the working tree"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ref-") as folder:
        commit = h.git_commit()
        code = h.ROOT
        if args.ref:
            commit, code = h.export(args.ref, Path(folder)), Path(folder)
        profile(args, code, commit)


def profile(args: argparse.Namespace, code: Path, commit: str) -> None:
    """Warm up, the unprofiled and the profiled window, the report; the BFF runs `code`'s app/."""
    out = h.RESULTS / f"profile-{args.name}.speedscope.json"
    h.RESULTS.mkdir(parents=True, exist_ok=True)
    count = int(args.rate * args.seconds)
    with slow_creates("profile", {"default": {}}, {"default": code}) as rig:
        bff = rig.bffs["default"]
        assert bff.proc is not None
        warm = rig.stack.tokens(count // 4, f"{rig.run_id}-warm")
        load(bff, warm, rig.slot_id, args.rate)  # pools, caches and the code paths warm
        time.sleep(2)
        unprofiled = load(bff, rig.stack.tokens(count, f"{rig.run_id}-a"), rig.slot_id, args.rate)
        time.sleep(2)
        tokens = rig.stack.tokens(count, f"{rig.run_id}-b")
        before = thread_cpu(bff.proc.pid)
        spy = profiled(bff, out, args.seconds, args.sample_rate)
        time.sleep(0.5)  # py-spy attaching
        under_spy = load(bff, tokens, rig.slot_id, args.rate)
        threads = thread_shares(before, thread_cpu(bff.proc.pid))
        spy_output, _ = spy.communicate(timeout=args.seconds + 60)
    if spy.returncode != 0 or not out.exists():
        raise SystemExit(f"py-spy failed ({spy.returncode}):\n{spy_output}")
    by_thread, leaves = read_speedscope(out)
    total = sum(leaves.values()) or 1
    result = {
        "name": args.name,
        "commit": commit,
        "rate": args.rate,
        "seconds": args.seconds,
        "sample_rate": args.sample_rate,
        "samples": total,
        "unprofiled": unprofiled,
        "profiled": under_spy,
        "buckets": cpu_by_bucket(by_thread, threads),
        "threads": [
            {
                "tid": tid,
                "name": name,
                "share": share,
                "samples": sum(by_thread.get(tid, {}).values()),
            }
            for tid, (name, share) in sorted(threads.items(), key=lambda t: -t[1][1])
        ],
        "top_functions": [(name, n / total) for name, n in leaves.most_common(args.top)],
        "speedscope": out.name,
    }
    h.save(f"profile-{args.name}", result, report(result))


if __name__ == "__main__":
    main()
