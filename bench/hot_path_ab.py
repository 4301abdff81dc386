"""Hot path A/B: slot previews of server variants against the bare route, in one run.

The working tool behind the README's "Hot path" subsection (the documented scenario is
bench/hot_slots.py). Every variant and the bare route run on core 0, one at a time, loaded by
wrk on core 1 with 1,000 distinct users' tokens rotated per request (bench/rotate_tokens.lua);
repetitions are interleaved (bare, A, B, bare, A, B, ...) and each variant's throughput is
reported as a ratio to the bare route's run of the same repetition.

    .venv/bin/python -m bench.hot_path_ab [--variants uvicorn,granian] [--seconds 8]
        [--repetitions 3] [--connections 64,256] [--profile serve]

Variants: ``serve`` is ``python -m app serve`` (granian since the hot-path work); ``granian``
serves the app factory with granian's own command line; ``bare-granian`` is the bare route
served by granian instead of uvicorn; ``git:REF`` is ``python -m app serve`` from a
worktree of REF (the code before a change); ``script:PATH`` runs ``python PATH serve``, a local
wrapper of ``python -m app`` (a probe). ``--profile NAME`` records that variant with py-spy
during one extra 64-connection run and prints where the time went.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench import harness as h

SLOTS = (
    f"/v1/stores/{h.STORE_ID}/slots?fulfillment=delivery&postal_code=94105"
    "&address_line_1=101%20Spear%20St"
)


def variant(name: str, stack: h.Stack, logs: Path, namespace: str) -> h.Proc:
    if name == "bare-granian":  # the baseline itself served by granian, for a fair comparison
        proc = h.Proc(name, ["bench.bare_route"], env={}, health="/slots",
                      cores=h.SERVER_CORES, log_dir=logs)  # fmt: skip
        proc.argv = [
            "taskset", "-c", h.SERVER_CORES, sys.executable, "-m", "granian",
            "--interface", "asgi", "--host", "127.0.0.1", "--port", str(proc.port),
            "--workers", "1", "--loop", "uvloop", "--log-level", "warning",
            "--no-access-log", "bench.bare_route:app",
        ]  # fmt: skip
        return proc
    proc = stack.bff(name.replace(":", "-").replace("/", "_"), logs, namespace)
    if name == "granian":
        proc.argv = [
            "taskset", "-c", h.SERVER_CORES, sys.executable, "-m", "granian",
            "--interface", "asgi", "--factory", "--host", "127.0.0.1",
            "--port", str(proc.port), "--workers", "1", "--loop", "uvloop",
            "--log-level", "warning", "--no-access-log", "bench.hot_path_ab:granian_app",
        ]  # fmt: skip
    elif name.startswith("script:"):  # a local wrapper of ``python -m app`` (a probe)
        i = proc.argv.index("-m")
        proc.argv[i : i + 2] = [name[7:]]
    elif name.startswith("git:"):
        tree = Path(tempfile.mkdtemp(prefix="bench-hot-path-")) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(tree), name[4:]],
            cwd=h.ROOT, check=True, capture_output=True,
        )  # fmt: skip
        proc.argv[proc.argv.index("-m") - 1 :] = [sys.executable, "-m", "app", "serve"]
        proc.argv += ["--port", str(proc.port)]
        proc.env["PYTHONPATH"] = str(tree)
        proc.cwd = tree  # type: ignore[attr-defined]
    return proc


def granian_app() -> Any:
    """The app for granian, frozen out of the collector after start-up as app.serve does."""
    from app.main import create_app
    from app.serve import freeze_startup_objects

    app = create_app()

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return

        async def frozen_send(message: Any) -> None:
            if message["type"] == "lifespan.startup.complete":
                freeze_startup_objects()
            await send(message)

        await app(scope, receive, frozen_send)

    return asgi


def launch_in(proc: h.Proc) -> None:
    cwd = getattr(proc, "cwd", h.ROOT)
    with proc.log_path.open("ab") as log:
        proc.proc = subprocess.Popen(
            proc.argv, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **proc.env}
        )


def profile(proc: h.Proc, url: str, tokens: Path, seconds: float, logs: Path) -> None:
    assert proc.proc is not None
    out = logs / "profile.txt"
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    recorder = subprocess.Popen(
        [spy, "record", "--pid", str(proc.proc.pid), "--format", "raw", "--rate", "250",
         "--duration", str(int(seconds)), "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    h.wrk(url, connections=64, seconds=seconds, tokens_file=tokens)
    recorder.wait(timeout=seconds + 30)
    summarise_profile(out)


def summarise_profile(path: Path) -> None:
    """Inclusive share of samples per function (file:function), the top 45."""
    total = 0
    inclusive: dict[str, int] = {}
    leaf: dict[str, int] = {}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = [
            f.split(" (")[0] + " " + f.split(" (")[-1].split(":")[0] for f in stack.split(";")
        ]
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + n
        leaf[frames[-1]] = leaf.get(frames[-1], 0) + n
    print(f"profile: {total} samples -> {path}")
    for title, table in (("inclusive", inclusive), ("self", leaf)):
        print(f"--- {title}")
        for frame, n in sorted(table.items(), key=lambda kv: -kv[1])[:45]:
            print(f"{100 * n / total:6.1f}%  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="serve")
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--connections", default="64,256")
    parser.add_argument("--profile", default="")
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    logs, sb, stack = h.scenario("hot-path-ab")
    run_id = uuid.uuid4().hex[:6]
    names = args.variants.split(",")
    servers = {"bare": h.Proc("bare", ["bench.bare_route"], env={}, health="/slots",
                              cores=h.SERVER_CORES, log_dir=logs)}  # fmt: skip
    for i, name in enumerate(names):
        servers[name] = variant(name, stack, logs, f"bench-{run_id}-{i}")
    tokens = h.write_tokens(stack.tokens(1000, f"hot-{run_id}"), logs / "tokens.txt")
    urls = {n: p.url + ("/slots" if n.startswith("bare") else SLOTS) for n, p in servers.items()}
    connections = [int(c) for c in args.connections.split(",")]
    runs: list[dict[str, Any]] = []
    try:
        sb.launch()
        for p in servers.values():
            launch_in(p)
        for p in (sb, *servers.values()):
            p.wait_healthy()
        first = tokens.read_text().split()[0]
        for name, url in urls.items():
            response = httpx.get(url, headers={"Authorization": f"Bearer {first}"})
            response.raise_for_status()
            shown = {k: v for k, v in response.headers.items() if k != "x-request-id"}
            print(f"{name}: {len(response.content)} bytes, {shown}", flush=True)
            h.wrk(url, connections=64, seconds=3, tokens_file=tokens)  # every token verified once
        if args.profile:
            profile(servers[args.profile], urls[args.profile], tokens, args.seconds, logs)
        for rep in range(1, args.repetitions + 1):
            for conns in connections:
                for name, url in urls.items():
                    result = h.wrk(url, connections=conns, seconds=args.seconds, tokens_file=tokens)
                    result |= {"target": name, "connections": conns, "repetition": rep}
                    runs.append(result)
                    errors = sum(result["errors"].values())
                    print(
                        f"rep {rep} {conns:3d} conns {name:12s} {result['rps']:8.0f} req/s"
                        f"  p50 {result['p50_ms']:7.1f}  p99 {result['p99_ms']:7.1f} ms"
                        f"  errors {errors}",
                        flush=True,
                    )
                    time.sleep(1)  # a pause: the last run's connections close first
    finally:
        for p in reversed((sb, *servers.values())):
            p.stop()
        h.drop_database(stack.database_url)
        for name in names:
            if name.startswith("git:"):
                tree = servers[name].cwd  # type: ignore[attr-defined]
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=h.ROOT)
    print("\nper variant: ratio to bare (same rep), p99 ms; median (min-max)")
    for conns in connections:
        for name in names:
            cell = [r for r in runs if r["target"] == name and r["connections"] == conns]
            bare = {
                r["repetition"]: r
                for r in runs
                if r["target"] == "bare" and r["connections"] == conns
            }
            ratios = [r["rps"] / bare[r["repetition"]]["rps"] for r in cell]
            p99 = [r["p99_ms"] for r in cell]
            bare_p99 = [bare[r["repetition"]]["p99_ms"] for r in cell]
            print(
                f"{conns:3d} conns {name:12s} ratio {statistics.median(ratios):.2f} "
                f"({min(ratios):.2f}-{max(ratios):.2f})  p99 "
                + " ".join(f"{a:.1f}/{b:.1f}" for a, b in zip(p99, bare_p99, strict=True))
                + " (variant/bare)"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1))


if __name__ == "__main__":
    main()
