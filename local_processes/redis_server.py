"""A redis-server of one's own on its own port, without persistence: stop it (an outage) and
start it again on the same port."""

from __future__ import annotations

import subprocess
from pathlib import Path

import redis

from local_processes.ports import free_port
from local_processes.tools import find_tool
from local_processes.waiting import wait_until


class PrivateRedis:
    def __init__(self, log_dir: Path) -> None:
        self.binary = find_tool("redis-server", install="Debian package redis-server")
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
        wait_until(
            self.client().ping,
            what=f"redis on {self.port} to answer PING",
            ignoring=(redis.RedisError,),
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.stops += 1

    def flushall(self) -> None:
        self.client().flushall()
