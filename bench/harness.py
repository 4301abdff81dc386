"""What every benchmark scenario shares: processes pinned to cores, a fresh database, tokens,
a small HTTP/1.1 load client, wrk, statistics, and results written as JSON, Markdown and PNG.

The machine is shared and noisy, so a scenario measures its baseline in the same run,
interleaves repetitions (ABAB, not AABB) and reports ratios. The server under test runs on
core 0 (``SERVER_CORES``), the load generator on core 1 (``LOAD_CORES``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from local_processes import checkout_stack
from local_processes.postgres import create_database, upgrade
from local_processes.postgres import drop_database as drop
from local_processes.servers import Server

ROOT = Path(__file__).resolve().parents[1]
# BENCH_RESULTS: somewhere else, for a trial run that must not replace the committed results.
RESULTS = Path(os.environ.get("BENCH_RESULTS", ROOT / "bench" / "results"))
SERVER_CORES = os.environ.get("BENCH_SERVER_CORES", "0")
LOAD_CORES = os.environ.get("BENCH_LOAD_CORES", "1")
POSTGRES_URL = os.environ.get(
    "BENCH_DATABASE_SERVER", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
# The storefront's sample store and a pickup/delivery query the sandbox answers.
STORE_ID = "store-sf-001"
UPC = "0001111041700"


def pin_self(cores: str = LOAD_CORES) -> None:
    """Pin this process (the load generator) to the load cores."""
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {int(c) for c in cores.split(",")})


# --- processes ---


class Proc(Server):
    """A local server process, pinned with taskset, with its CPU time."""

    def __init__(
        self,
        name: str,
        module_argv: Sequence[str],
        *,
        env: dict[str, str],
        health: str,
        cores: str,
        log_dir: Path,
        cwd: Path = ROOT,
    ) -> None:
        super().__init__(name, module_argv, env, health, log_dir, cwd=cwd)
        self.argv = ["taskset", "-c", cores, *self.argv]

    def wait_healthy(self, timeout: float = 60) -> None:
        super().wait_healthy(timeout)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (the child of taskset's exec)."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def core_jiffies(cores: str = SERVER_CORES) -> tuple[int, int]:
    """(busy, total) clock ticks of the given cores since boot, from /proc/stat."""
    wanted = {f"cpu{c}" for c in cores.split(",")}
    busy = total = 0
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name in wanted:
            ticks = [int(v) for v in values[:8]]
            total += sum(ticks)
            busy += sum(ticks) - ticks[3] - ticks[4]  # minus idle and iowait
    return busy, total


def others_share(before: tuple[int, int], servers_cpu_seconds: float) -> float:
    """The share of the server cores that processes other than ours used since `before`."""
    busy, total = (a - b for a, b in zip(core_jiffies(), before, strict=True))
    tick = os.sysconf("SC_CLK_TCK")
    return max(0.0, (busy - servers_cpu_seconds * tick) / total) if total else 0.0


@contextlib.contextmanager
def running(*procs: Proc) -> Iterator[None]:
    """Start all (booting together), wait for each, stop all at the end in reverse order."""
    try:
        for p in procs:
            p.launch()
        for p in procs:
            p.wait_healthy()
        yield
    finally:
        for p in reversed(procs):
            p.stop()


def log_dir(scenario: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"bench-{scenario}-"))


def sandbox(logs: Path, client_id: str, *, cores: str = LOAD_CORES, **extra: str) -> Proc:
    argv = ["sandbox", "--log-level", "warning", "--slot-capacity", "1000000"]
    for key, value in extra.items():
        argv += [f"--{key.replace('_', '-')}", value]
    return Proc(
        "sandbox",
        argv,
        env={"SANDBOX_CLIENT_ID": client_id},
        health="/sandbox/stats",
        cores=cores,
        log_dir=logs,
    )


@dataclass
class Stack:
    """What BFF replicas of one run share: the sandbox, a database, a secret, a namespace."""

    sandbox_url: str
    client_id: str
    database_url: str
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    def bff_env(self, namespace: str, **settings: Any) -> dict[str, str]:
        env = checkout_stack.bff_env(self.sandbox_url, self.client_id, self.database_url) | {
            "BFF_ENVIRONMENT": "development",
            "BFF_REDIS_URL": REDIS_URL,
            "BFF_AUTH_JWT_SECRET": self.jwt_secret,
            "BFF_CACHE_NAMESPACE": namespace,
            "BFF_ACCESS_LOG": "false",
            "BFF_LOG_LEVEL": "WARNING",
            "BFF_LOG_JSON": "true",
            # Thousands of distinct benchmark users: no per-user limit may be the bottleneck.
            "BFF_RATE_LIMIT_RESERVATIONS_PER_MINUTE": "1000",
            "BFF_RATE_LIMIT_SLOT_MISSES_PER_MINUTE": "100000",
            # Throughput is what the other benchmarks measure: no shedding (bench/admission.py
            # measures it, with the service's defaults).
            "BFF_ADMISSION_MAX_IN_FLIGHT": "1000000",
            "BFF_ADMISSION_LAG_BUDGET_MS": "1000000000",
            "BFF_ADMISSION_LOOP_BUSY_PERCENT": "100",
            "BFF_RATE_LIMIT_ORDERS_PER_MINUTE": "1000",
        }
        env.update({f"BFF_{k.upper()}": str(v) for k, v in settings.items()})
        return env

    def bff(
        self, name: str, logs: Path, namespace: str, *, code: Path = ROOT, **settings: Any
    ) -> Proc:
        """A BFF replica; `code` is the checkout whose app/ it runs (this one by default)."""
        return Proc(
            name,
            ["app", "serve"],
            env=self.bff_env(namespace, **settings),
            health="/readyz",
            cores=SERVER_CORES,
            log_dir=logs,
            cwd=code,
        )

    def tokens(self, count: int, prefix: str) -> list[str]:
        from app.auth.tokens import mint_token
        from app.settings import Settings

        # The BFFs' own environment (bff_env): production's would refuse the sandbox's secrets.
        settings = Settings(
            _env_file=None, environment="development", auth_jwt_secret=self.jwt_secret
        )
        return [mint_token(settings, f"{prefix}-{i}", ttl_seconds=4 * 3600) for i in range(count)]


def scenario(name: str) -> tuple[Path, Proc, Stack]:
    """How every scenario begins: this process on the load cores, a log folder, a fresh
    database, the sandbox (not started yet: the scenario starts it with its servers) and the
    Stack its BFFs share. The scenario drops the database (`stack.database_url`) at its end."""
    pin_self()
    logs = log_dir(name)
    client_id = f"bench-{uuid.uuid4().hex[:8]}"
    database_url = fresh_database()
    sb = sandbox(logs, client_id)
    return logs, sb, Stack(sb.url, client_id, database_url)


def fresh_database() -> str:
    """A new database on the local server, migrated to head; its SQLAlchemy URL."""
    url = asyncio.run(create_database(POSTGRES_URL, prefix="bff_bench"))
    upgrade(url)
    return url


def drop_database(url: str) -> None:
    asyncio.run(drop(url))


def set_faults(sandbox_url: str, operations: dict[str, dict[str, Any]]) -> None:
    httpx.put(f"{sandbox_url}/sandbox/faults", json={"operations": operations}).raise_for_status()


def sandbox_calls(sandbox_url: str) -> dict[str, Any]:
    return httpx.get(f"{sandbox_url}/sandbox/stats").json()


# --- a small HTTP/1.1 client (httpx's pool costs more CPU than the servers it measures) ---


class Conn:
    """One keep-alive HTTP/1.1 connection; requests with Content-Length or chunked answers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str):
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, base_url: str) -> Conn:
        hostport = base_url.removeprefix("http://")
        host, port = hostport.split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        return cls(reader, writer, hostport)

    async def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> tuple[int, dict[str, str], bytes]:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body or method in ("POST", "PUT"):
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        answer: dict[str, str] = {}
        for line in header_lines:
            if line:
                k, _, v = line.partition(":")
                answer[k.strip().lower()] = v.strip()
        if "content-length" in answer:
            data = await self.reader.readexactly(int(answer["content-length"]))
        elif answer.get("transfer-encoding") == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                parts.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            data = b"".join(p[:-2] for p in parts)
        else:
            data = b""
        return status, answer, data

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


def problem_code(status: int, body: bytes) -> str:
    """``503 upstream_unavailable``: the status and the problem's code, for failure tables."""
    try:
        code = json.loads(body).get("code", "")
    except (ValueError, AttributeError):
        code = ""
    return f"{status} {code}".strip()


# --- wrk ---

WRK_SCRIPT = ROOT / "bench" / "rotate_tokens.lua"


def wrk(
    url: str,
    *,
    connections: int,
    seconds: float,
    tokens_file: Path | None = None,
    threads: int = 1,
) -> dict[str, Any]:
    """Run wrk on the load cores; its Lua script prints one JSON line of results."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    env = dict(os.environ)
    if tokens_file is not None:
        env["BENCH_TOKENS_FILE"] = str(tokens_file)
    argv = ["taskset", "-c", LOAD_CORES, "wrk", f"-t{threads}", f"-c{connections}"]
    argv += [f"-d{seconds:g}s", "--timeout", "5s", "-s", str(WRK_SCRIPT), url]
    out = subprocess.run(argv, capture_output=True, text=True, env=env, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCH_JSON "))
    return json.loads(line.removeprefix("BENCH_JSON "))


def write_tokens(tokens: list[str], path: Path) -> Path:
    path.write_text("\n".join(tokens) + "\n")
    return path


# --- statistics ---


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: Sequence[float], fmt: str = "{:.0f}") -> str:
    """``median (min-max)`` of repetitions; a repetition with nothing to measure is left out."""
    values = [v for v in values if v == v]  # NaN: e.g. a run in which no order was placed
    if not values:
        return "-"
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


# --- the machine and the results ---


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_gb = 0.0
    with contextlib.suppress(OSError, ValueError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem_gb = round(kb / 1024 / 1024, 1)
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": mem_gb,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "server_cores": SERVER_CORES,
        "load_cores": LOAD_CORES,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def git_commit() -> str:
    """HEAD, and whether app/ or sandbox/ had uncommitted changes (the code measured)."""
    with contextlib.suppress(Exception):
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "app", "sandbox"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return head + (" + uncommitted changes in app/ or sandbox/" if dirty else "")
    return ""


def export(ref: str, into: Path) -> str:
    """The repository at git `ref`, without its history, in `into` (to run another version of
    the code beside this one); the commit `ref` names."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", ref], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return commit


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def save(name: str, data: dict[str, Any], markdown: str, figure: Any | None = None) -> None:
    """bench/results/<name>.json, .md and .png (the figure, if any)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {
        "scenario": name,
        "commit": _AT_START["commit"],
        "machine": _AT_START["machine"],
        **data,
    }
    data["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    data["machine"]["ended_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown.rstrip() + "\n")
    if figure is not None:
        figure.savefig(RESULTS / f"{name}.png", dpi=110, bbox_inches="tight")
    print(markdown)
    print(f"\nwritten: bench/results/{name}.json, .md" + (", .png" if figure else ""))


def rerender(name: str, markdown: str, figure: Any | None = None) -> None:
    """Write the Markdown and PNG again from a run's saved JSON (the JSON stays as it was)."""
    (RESULTS / f"{name}.md").write_text(markdown.rstrip() + "\n")
    if figure is not None:
        figure.savefig(RESULTS / f"{name}.png", dpi=110, bbox_inches="tight")
    print(markdown)


def saved(name: str) -> dict[str, Any]:
    return json.loads((RESULTS / f"{name}.json").read_text())


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# Taken when a scenario starts (it imports this module first), not when it saves.
_AT_START = {"machine": machine(), "commit": git_commit()}
