"""The repository's servers (`python -m sandbox`, `python -m app serve`) as processes of their
own on a fixed loopback port: started, waited for until healthy, killed, started again.

The port stays the same across restarts, so clients configured with it reconnect by
themselves, as they would after a real crash.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import httpx

from local_processes.ports import free_port
from local_processes.waiting import wait_until

REPO_ROOT = Path(__file__).resolve().parents[1]


class ServerExited(RuntimeError):
    """The server's process ended while it was awaited."""


class Server:
    """``python -m <argv...> --port N``, its output in ``<log_dir>/<name>.log``.

    As a context manager it is started (and awaited) on entry and stopped on exit.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: dict[str, str],
        health_path: str,
        log_dir: Path,
        port: int | None = None,
        cwd: Path = REPO_ROOT,
    ) -> None:
        """``cwd``: the checkout whose code runs (``python -m`` imports from it); this one's by
        default, another to compare two versions of the code side by side."""
        self.name = name
        self.port = port or free_port()
        self.argv = [sys.executable, "-m", *argv, "--port", str(self.port)]
        self.env = env
        self.health_path = health_path
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0
        self.cwd = cwd

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(self) -> None:
        """Start without waiting; `wait_healthy` waits (so that several can boot together)."""
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
            )

    def wait_healthy(self, timeout: float = 30) -> None:
        def healthy() -> bool:
            assert self.proc is not None, "launch() first"
            if self.proc.poll() is not None:
                raise ServerExited(
                    f"{self.name} exited ({self.proc.returncode}):\n{self.log_tail()}"
                )
            return httpx.get(self.url + self.health_path, timeout=1).status_code == 200

        wait_until(
            healthy,
            what=f"{self.name} to answer {self.health_path} with 200",
            timeout=timeout,
            interval=0.05,
            ignoring=(httpx.TransportError,),
            explain=self.log_tail,
        )

    def start(self) -> None:
        self.launch()
        self.wait_healthy()

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, no request in flight is answered."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.kills += 1

    def stop(self) -> None:
        """SIGTERM, as an orchestrator stops a server; SIGKILL after 10 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, chars: int = 4000) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return f"--- {self.log_path.name}\n{text[-chars:]}"

    def __enter__(self) -> Server:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
