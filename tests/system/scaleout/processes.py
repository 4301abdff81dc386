"""Real servers for the scale-out tests: a Redis Cluster, a Redis Sentinel and a PgBouncer.

Each is a context manager that starts real processes on free loopback ports in a temporary
directory, waits (with a deadline, never a fixed sleep) until they answer, and stops them.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from local_processes.ports import accepts, free_port
from local_processes.postgres import as_postgres
from local_processes.waiting import wait_until
from tests.support.ci import require_tool

START_DEADLINE_SECONDS = 20.0


def wait_showing_logs(check: Callable[[], object], what: str, workdir: Path) -> None:
    """Wait for what the processes in `workdir` do; failing, show each of their logs."""

    def tails() -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in workdir.glob("*.log"))

    wait_until(check, what=what, timeout=START_DEADLINE_SECONDS, interval=0.05, explain=tails)


def redis_cli(port: int, *args: str, password: str | None = None) -> str:
    auth = ["--no-auth-warning", "-a", password] if password else []
    result = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", str(port), *auth, *args],
        capture_output=True,
        text=True,
        timeout=10,
    )
    return result.stdout


@contextlib.contextmanager
def _processes(workdir: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield procs
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _spawn(
    procs: list[subprocess.Popen[bytes]], workdir: Path, name: str, argv: list[str]
) -> subprocess.Popen[bytes]:
    with (workdir / f"{name}.log").open("wb") as log:
        proc = subprocess.Popen(argv, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    procs.append(proc)
    return proc


@dataclass(frozen=True)
class RedisCluster:
    ports: list[int]
    workdir: Path
    processes: dict[int, subprocess.Popen[bytes]]

    def stop(self, port: int) -> None:
        """Kill one node, as a crash would."""
        self.processes[port].kill()
        self.processes[port].wait()

    @property
    def url(self) -> str:
        """A seed URL: the client discovers the other nodes from it."""
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def slot_of(self, key: str) -> int:
        return int(redis_cli(self.ports[0], "cluster", "keyslot", key).strip())


@contextlib.contextmanager
def redis_cluster(masters: int = 3) -> Iterator[RedisCluster]:
    """``masters`` primaries (no replicas) sharing the 16384 slots, created by redis-cli."""
    server = require_tool("redis-server", install="Debian package redis-server")
    require_tool("redis-cli", install="Debian package redis-tools")
    with tempfile.TemporaryDirectory(prefix="bff-cluster-") as tmp, _processes(Path(tmp)) as procs:
        workdir = Path(tmp)
        ports = [free_port() for _ in range(masters)]
        nodes = {}
        for port in ports:
            # An explicit bus port: the default (port + 10000) may be taken or past 65535.
            nodes[port] = _spawn(procs, workdir, f"redis-{port}", [
                server, "--port", str(port), "--bind", "127.0.0.1",
                "--cluster-enabled", "yes", "--cluster-port", str(free_port()),
                "--cluster-config-file", f"nodes-{port}.conf",
                "--cluster-node-timeout", "2000",
                "--save", "", "--appendonly", "no", "--dir", str(workdir),
            ])  # fmt: skip
        for port in ports:
            wait_showing_logs(
                lambda p=port: "PONG" in redis_cli(p, "ping"), f"redis {port}", workdir
            )
        created = subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert created.returncode == 0, created.stdout + created.stderr
        wait_showing_logs(
            lambda: all("cluster_state:ok" in redis_cli(p, "cluster", "info") for p in ports),
            "the cluster",
            workdir,
        )
        yield RedisCluster(ports, workdir, nodes)


@dataclass(frozen=True)
class RedisSentinel:
    master_port: int
    sentinel_port: int
    service: str
    password: str

    @property
    def url(self) -> str:
        return f"redis+sentinel://:{self.password}@127.0.0.1:{self.sentinel_port}/{self.service}/0"


@contextlib.contextmanager
def redis_sentinel(service: str = "bffmaster") -> Iterator[RedisSentinel]:
    """One password-protected master and one ``redis-server --sentinel`` monitoring it."""
    password = secrets.token_hex(8)
    server = require_tool("redis-server", install="Debian package redis-server")
    with tempfile.TemporaryDirectory(prefix="bff-sentinel-") as tmp, _processes(Path(tmp)) as procs:
        workdir = Path(tmp)
        master, sentinel = free_port(), free_port()
        _spawn(procs, workdir, "master", [
            server, "--port", str(master), "--bind", "127.0.0.1", "--requirepass", password,
            "--save", "", "--appendonly", "no", "--dir", str(workdir),
        ])  # fmt: skip
        wait_showing_logs(
            lambda: "PONG" in redis_cli(master, "ping", password=password), "master", workdir
        )
        # Sentinel rewrites its configuration file, so it gets one of its own.
        conf = workdir / "sentinel.conf"
        conf.write_text(
            f"port {sentinel}\nbind 127.0.0.1\ndir {workdir}\n"
            f"sentinel monitor {service} 127.0.0.1 {master} 1\n"
            f"sentinel auth-pass {service} {password}\n"
            f"sentinel down-after-milliseconds {service} 5000\n"
        )
        _spawn(procs, workdir, "sentinel", [server, str(conf), "--sentinel"])
        wait_showing_logs(
            lambda: (
                str(master) in redis_cli(sentinel, "sentinel", "get-master-addr-by-name", service)
            ),
            "sentinel",
            workdir,
        )
        yield RedisSentinel(master, sentinel, service, password)


@dataclass(frozen=True)
class PgBouncer:
    port: int
    workdir: Path

    def url_for(self, database_url: str) -> str:
        """``database_url`` with its host and port replaced by the bouncer's."""
        from sqlalchemy.engine import make_url

        url = make_url(database_url).set(host="127.0.0.1", port=self.port)
        return url.render_as_string(hide_password=False)


@contextlib.contextmanager
def pgbouncer(
    *, upstream_port: int = 5432, pool_mode: str = "transaction", pool_size: int = 4
) -> Iterator[PgBouncer]:
    """PgBouncer in front of this machine's Postgres, every database passed through."""
    binary = require_tool("pgbouncer", install="Debian package pgbouncer")
    # PgBouncer refuses to run as root; as root it runs as postgres, which must read its files.
    as_user = as_postgres()
    with (
        tempfile.TemporaryDirectory(prefix="bff-pgbouncer-") as tmp,
        _processes(Path(tmp)) as procs,
    ):
        workdir = Path(tmp)
        port = free_port()
        (workdir / "userlist.txt").write_text('"postgres" ""\n')
        (workdir / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host=127.0.0.1 port={upstream_port}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {workdir / 'userlist.txt'}\n"
            f"pool_mode = {pool_mode}\ndefault_pool_size = {pool_size}\n"
            "max_client_conn = 500\nserver_reset_query =\n"
        )
        if as_user:
            uid = pwd.getpwnam("postgres").pw_uid
            for path in (workdir, *workdir.iterdir()):
                os.chown(path, uid, -1)
        _spawn(procs, workdir, "pgbouncer", [*as_user, binary, str(workdir / "pgbouncer.ini")])
        wait_showing_logs(lambda: accepts(port), "pgbouncer", workdir)
        yield PgBouncer(port, workdir)
