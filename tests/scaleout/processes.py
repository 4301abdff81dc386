"""Real servers for the scale-out tests: a Redis Cluster, a Redis Sentinel and a PgBouncer.

Each is a context manager that starts real processes on free loopback ports in a temporary
directory, waits (with a deadline, never a fixed sleep) until they answer, and stops them.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import skip_or_fail
from tests.servers import free_port

START_DEADLINE_SECONDS = 20.0


def require(binary: str, package: str) -> str:
    """The binary's path; missing, the test is skipped locally and fails under CI."""
    path = shutil.which(binary) or next(
        (p for p in (f"/usr/sbin/{binary}", f"/usr/bin/{binary}") if os.access(p, os.X_OK)),
        None,
    )
    if path is None:
        skip_or_fail(f"{binary} is not installed (Debian package {package})")
    return path  # type: ignore[return-value]


def wait_until(check: Callable[[], bool], what: str, logs: Path) -> None:
    deadline = time.monotonic() + START_DEADLINE_SECONDS
    while not check():
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in logs.glob("*.log"))
            raise RuntimeError(f"{what} did not come up in {START_DEADLINE_SECONDS}s\n{tails}")
        time.sleep(0.05)


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
    server = require("redis-server", "redis-server")
    require("redis-cli", "redis-tools")
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
            wait_until(lambda p=port: "PONG" in redis_cli(p, "ping"), f"redis {port}", workdir)
        created = subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert created.returncode == 0, created.stdout + created.stderr
        wait_until(
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
    server = require("redis-server", "redis-server")
    with tempfile.TemporaryDirectory(prefix="bff-sentinel-") as tmp, _processes(Path(tmp)) as procs:
        workdir = Path(tmp)
        master, sentinel = free_port(), free_port()
        _spawn(procs, workdir, "master", [
            server, "--port", str(master), "--bind", "127.0.0.1", "--requirepass", password,
            "--save", "", "--appendonly", "no", "--dir", str(workdir),
        ])  # fmt: skip
        wait_until(
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
        wait_until(
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
    binary = require("pgbouncer", "pgbouncer")
    # PgBouncer refuses to run as root; as root it runs as postgres, which must read its files.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
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
        wait_until(lambda: _accepts(port), "pgbouncer", workdir)
        yield PgBouncer(port, workdir)


def _accepts(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0
