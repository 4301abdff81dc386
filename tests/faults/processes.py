"""Real processes a fault test can kill, stop and start again: servers, Redis, PostgreSQL.

Each one keeps its port across restarts, so the clients configured with it reconnect by
themselves, as they would after a real outage.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
import redis

from tests.conftest import skip_or_fail
from tests.servers import REPO_ROOT, free_port


def poll(what: str, ready: Callable[[], bool], timeout: float, interval: float = 0.05) -> None:
    """Wait until `ready()` is true; raise after `timeout` seconds, never a bare sleep."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            if ready():
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout:.0f}s")
        time.sleep(interval)


def find_tool(name: str) -> str:
    """A server binary from PATH or /usr/lib/postgresql/*/bin; skips locally, fails under CI."""
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        skip_or_fail(f"the fault suite needs {name} (redis-server, initdb and pg_ctl)")
    return found  # type: ignore[return-value]


class Server:
    """``python -m <module> ...`` on a fixed port; SIGKILL it, or start it again."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: dict[str, str],
        health_path: str,
        log_dir: Path,
        port: int | None = None,
    ) -> None:
        self.name = name
        self.port = port or free_port()
        self.argv = [sys.executable, "-m", *argv, "--port", str(self.port)]
        self.env = env
        self.health_path = health_path
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(self) -> None:
        """Start without waiting; `wait_healthy` waits (so several can boot together)."""
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
            )

    def wait_healthy(self, timeout: float = 30) -> None:
        def healthy() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log_path.read_text()[-4000:]}")
            return httpx.get(self.url + self.health_path, timeout=1).status_code == 200

        try:
            poll(f"{self.name} healthy", healthy, timeout)
        except TimeoutError as exc:
            raise RuntimeError(f"{exc}:\n{self.log_path.read_text()[-4000:]}") from None

    def start(self) -> None:
        self.launch()
        self.wait_healthy()

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, no answer to requests in flight."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.kills += 1

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class PrivateRedis:
    """A redis-server of our own on its own port, without persistence: stop it, start it again."""

    def __init__(self, log_dir: Path) -> None:
        self.binary = find_tool("redis-server")
        self.port = free_port()
        self.log_path = log_dir / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.stops = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=2)

    def start(self) -> None:
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no"]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        poll("redis up", lambda: self.client().ping(), 10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.stops += 1

    def flushall(self) -> None:
        self.client().flushall()


class PrivatePostgres:
    """A PostgreSQL cluster of our own (initdb, pg_ctl) on its own port; stop and start it.

    Postgres refuses to run as root, so as root every command runs as the ``postgres`` user
    on a data directory that user owns.
    """

    def __init__(self) -> None:
        self.initdb = find_tool("initdb")
        self.pg_ctl = find_tool("pg_ctl")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="bff-faults-pg-"))
        self.data = self.dir / "data"
        self.log_path = self.dir / "postgres.log"
        self.stops = 0
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")

    def _run(self, *argv: str, timeout: float = 60) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        result = subprocess.run(
            [*prefix, *argv], capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            log = self.log_path.read_text() if self.log_path.exists() else ""
            raise RuntimeError(f"{argv[:2]} failed:\n{result.stdout}{result.stderr}{log[-3000:]}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        self._run(self.initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self._run(
            self.pg_ctl, "-D", str(self.data), "-l", str(self.log_path), "-o", options,
            "-w", "-t", "30", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """``fast`` disconnects every client (a failover); ``immediate`` is a crash."""
        self._run(self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop")
        self.stops += 1

    def is_running(self) -> bool:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        result = subprocess.run(
            [*prefix, self.pg_ctl, "-D", str(self.data), "status"],
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    def ensure_running(self) -> None:
        if not self.is_running():
            self.start()

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            if self.is_running():
                self._run(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)
