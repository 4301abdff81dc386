"""The README's quick tour, run as a newcomer runs it: `scripts/run` started the way the tour
says, on a fresh data folder and a free port, then the section's other shell blocks pasted into
one bash, twice in a row.

Every request of the tour goes through `curl --fail-with-body` under `set -euo pipefail`, so a
stale id, a reused key, a cancel that comes too late, any 4xx or 5xx, fails the run here as it
would fail a reader.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from local_processes.ports import free_port
from local_processes.waiting import wait_until
from tests.docs import markdown
from tests.docs.markdown import README, REPO_ROOT

START_DEADLINE_SECONDS = 60  # a fresh clone's scripts/run builds .venv first; here it exists


def tour_blocks() -> tuple[str, str]:
    """(the command that starts the service, the tour's commands), from the README."""
    tour = markdown.section(README.read_text(), "Quick tour")
    blocks = [block.body for block in markdown.code_blocks(tour) if block.language == "sh"]
    assert len(blocks) >= 2, "the tour: one block that starts scripts/run, then its commands"
    return blocks[0], "".join(blocks[1:])


def start_environment(command: str) -> dict[str, str]:
    """The variables of `NAME=value ... scripts/run`, the tour's way of starting the service."""
    *assignments, program = shlex.split(command)
    assert program == "scripts/run", f"the tour starts the service with scripts/run: {command}"
    return dict(assignment.split("=", 1) for assignment in assignments)


@pytest.fixture
def tour_environment(tmp_path: Path) -> Iterator[dict[str, str]]:
    """`scripts/run` serving as the tour starts it; yields the environment of the reader's shell."""
    # A reader's shell has none of the suite's BFF_* settings (tests/conftest.py pins real
    # Postgres and Redis): scripts/run must serve with nothing configured.
    shell = {k: v for k, v in os.environ.items() if not k.startswith(("BFF_", "SANDBOX_"))}
    shell |= {"BFF_PORT": str(free_port()), "BFF_DATA_DIR": str(tmp_path / "data")}
    start, _ = tour_blocks()
    log_path = tmp_path / "scripts-run.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [str(REPO_ROOT / "scripts" / "run")],
            cwd=REPO_ROOT,
            env=shell | start_environment(start),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as one below
        )
    try:
        _wait_until_live(f"http://127.0.0.1:{shell['BFF_PORT']}/livez", server, log_path)
        yield shell
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _wait_until_live(url: str, server: subprocess.Popen[bytes], log_path: Path) -> None:
    def live() -> bool:
        assert server.poll() is None, f"scripts/run exited:\n{log_path.read_text()}"
        return httpx.get(url, timeout=1).status_code == 200

    wait_until(
        live,
        what=f"scripts/run serving {url}",
        timeout=START_DEADLINE_SECONDS,
        interval=0.1,
        ignoring=(httpx.TransportError,),  # not listening yet
        explain=log_path.read_text,
    )


def run_tour(commands: str, shell: dict[str, str]) -> str:
    done = subprocess.run(
        ["bash", "-e", "-u", "-o", "pipefail", "-c", commands],
        cwd=REPO_ROOT,  # the tour says: in the repository's root
        env=shell,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"the tour failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_quick_tour_runs_twice_in_a_row_against_scripts_run(
    tour_environment: dict[str, str],
) -> None:
    _, commands = tour_blocks()
    runs = [run_tour(commands, tour_environment) for _ in range(2)]
    orders = []
    for output in runs:
        lines = output.splitlines()
        for shown in ("store-sf-001", "idempotent-replayed: true", "brand_new", "canceled"):
            assert shown in lines, f"the tour's output lacks {shown!r}:\n{output}"
        assert lines[-1] == "order_not_cancelable", output
        assert "event: status" in lines and '"status":"canceled"' in output, output
        # the order placed is the one read back and listed first
        placed, listed = re.findall(r"^ord_\S+$", output, re.MULTILINE)
        assert placed == listed, output
        orders.append(placed)
    assert orders[0] != orders[1], "each run places an order of its own"
