"""The issue's check, as a bare machine would run it: in a network namespace where this
machine's Postgres and Redis cannot be reached, `scripts/run` alone serves a whole checkout
over HTTP on loopback. The virtual environment is already built (that needs the registries)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

from tests.support.ci import skip_or_fail
from tests.support.paths import REPO_ROOT
from tests.system.embedded.bare_environment import bare_environment

PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
CLIENT = Path(__file__).with_name("bare_machine_client.py")


def test_scripts_run_serves_a_checkout_with_no_postgres_redis_or_network(tmp_path: Path) -> None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        skip_or_fail("unshare and ip (util-linux, iproute2) are needed")
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        skip_or_fail("unshare -n is not permitted here (needs root or user namespaces)")
    data, log = tmp_path / "data", tmp_path / "run.log"
    python, client = shlex.quote(str(PYTHON)), shlex.quote(str(CLIENT))
    script = f"""
set -euo pipefail
ip link set lo up
{python} {client} probe
{shlex.quote(str(REPO_ROOT / "scripts" / "run"))} >{shlex.quote(str(log))} 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server || true' EXIT
{python} {client} checkout http://127.0.0.1:8080
"""
    # Nothing configured but where development mode keeps its files and how fast orders move.
    env = bare_environment(BFF_DATA_DIR=str(data), BFF_SANDBOX_AUTO_ADVANCE_SECONDS="3")
    done = subprocess.run(
        ["unshare", "-n", "bash", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    served = log.read_text() if log.exists() else ""
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n--- scripts/run:\n{served}"
    assert "probe: 127.0.0.1:5432 unreachable" in done.stdout
    assert "probe: 127.0.0.1:6379 unreachable" in done.stdout
    assert "checkout: ok" in done.stdout
    # One line at start-up says what is embedded; nothing was started beside the server.
    assert served.count("app.single_process_mode") == 1
    assert "starting PostgreSQL" not in served and "sandbox on" not in served
    assert (data / "bff.sqlite3").is_file() and (data / "jwt-secret").is_file()
