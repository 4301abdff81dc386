"""Before and after on the hot slot preview: this tree's service against another commit's, with
the raw-ASGI ceiling (bench/raw_asgi.py), in one run.

The three servers on core 0, wrk -t1 on core 1 with 1,000 distinct users' tokens, at 64 and 256
connections, repetitions interleaved (raw, the other commit, this tree); printed per run:
requests/s, p99 and the server's CPU microseconds per request (the figure noise moves least).

    .venv/bin/python -m bench.hot_slots_ab [--ref main] [--seconds 6] [--repetitions 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from bench import harness as h
from bench.hot_slots import SLOTS


def other_commit(stack: h.Stack, logs: Path, namespace: str, tree: Path) -> h.Proc:
    """``python -m app serve`` run from ``tree`` (its own code first on the path)."""
    proc = stack.bff("bff-ref", logs, namespace)
    command = f"cd {tree} && exec {sys.executable} -m app serve --port {proc.port}"
    proc.argv = ["taskset", "-c", h.SERVER_CORES, "sh", "-c", command]
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="main")
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args()
    logs, sb, stack = h.scenario("hot-slots-ab")
    run_id = uuid.uuid4().hex[:6]
    tree = Path(tempfile.mkdtemp(prefix="bench-hot-slots-ab-")) / "tree"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(tree), args.ref],
        cwd=h.ROOT, check=True, capture_output=True,
    )  # fmt: skip
    servers = {
        "raw": h.Proc(
            "raw", ["bench.raw_asgi"], env={}, health="/slots", cores=h.SERVER_CORES, log_dir=logs
        ),
        args.ref: other_commit(stack, logs, f"bench-{run_id}-o", tree),
        "this tree": stack.bff("bff", logs, f"bench-{run_id}-n"),
    }
    urls = {
        name: proc.url + ("/slots" if name == "raw" else SLOTS) for name, proc in servers.items()
    }
    tokens = h.write_tokens(stack.tokens(1000, f"ab-{run_id}"), logs / "tokens.txt")
    try:
        with h.running(sb, *servers.values()):
            for url in urls.values():
                h.wrk(url, connections=64, seconds=3, tokens_file=tokens)  # warm-up
            for rep in range(1, args.repetitions + 1):
                for conns in (64, 256):
                    for name, proc in servers.items():
                        cpu = proc.cpu_seconds()
                        result = h.wrk(
                            urls[name], connections=conns, seconds=args.seconds, tokens_file=tokens
                        )
                        us = (proc.cpu_seconds() - cpu) * 1e6 / max(result["requests"], 1)
                        print(
                            f"rep {rep} {conns:3d} conns {name:10s} {result['rps']:8.0f} req/s"
                            f"  p99 {result['p99_ms']:7.1f} ms  {us:6.1f} us CPU/request",
                            flush=True,
                        )
    finally:
        h.drop_database(stack.database_url)
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(tree)], cwd=h.ROOT, capture_output=True
        )


if __name__ == "__main__":
    main()
