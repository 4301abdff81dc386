"""Finding 10: a container with missing settings died with a traceback (and an unreachable JWKS
left a process that started and refused every request).

Each start-up failure ends with one readable line and status 1: settings missing altogether,
and a JWKS URL whose keys cannot be fetched within BFF_AUTH_JWKS_STARTUP_DEADLINE_SECONDS. A
blip at the identity provider shorter than that deadline does not stop a start. (The image is
held to the same in tests/system/image/test_image.py, an unwritable data folder in
tests/ops/test_production_rules.py.)
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx

from local_processes.ports import free_port
from local_processes.waiting import wait_until
from tests.support.paths import REPO_ROOT
from tests.system.hostile.identity_provider import IdentityProvider
from tests.system.hostile.target import Target, production_environment, start_up

JWKS_PATH = "/.well-known/jwks.json"


def _beside(target: Target, **variables: str) -> dict[str, str]:
    """The target's settings with `variables`, and no metrics port (the target holds it)."""
    environment = production_environment(**target.environment) | variables
    del environment["BFF_METRICS_PORT"]
    return environment


def _jwks_elsewhere(target: Target, port: int, **variables: str) -> dict[str, str]:
    """The target's settings, with its keys at https://127.0.0.1:`port`."""
    return _beside(target, BFF_AUTH_JWKS_URL=f"https://127.0.0.1:{port}{JWKS_PATH}", **variables)


def test_missing_settings_end_in_one_line_and_status_1() -> None:
    result = start_up(production_environment(), free_port())
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("python -m app serve: invalid settings")
    for variable in ("BFF_DATABASE_URL", "BFF_REDIS_URL", "BFF_AUTH_JWKS_URL"):
        assert variable in line


def test_keys_no_allowed_algorithm_can_use_end_in_one_line_and_status_1(target: Target) -> None:
    # JWKS keys are RS256/ES256; allowing HS256 alone leaves no token that could be checked.
    result = start_up(_beside(target, BFF_AUTH_ALGORITHMS="HS256"), free_port())
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert "no usable token verification" in line and "BFF_AUTH_ALGORITHMS" in line


def test_an_unreachable_jwks_ends_in_one_line_and_status_1_after_its_deadline(
    target: Target,
) -> None:
    nobody = free_port()  # nothing listens there
    environment = _jwks_elsewhere(target, nobody, BFF_AUTH_JWKS_STARTUP_DEADLINE_SECONDS="2")
    started = time.monotonic()
    result = start_up(environment, free_port())
    assert result.returncode == 1
    assert time.monotonic() - started >= 2  # it kept trying for its deadline
    *attempts, line = result.stderr.strip().splitlines()
    assert line.startswith("python -m app serve: the signing keys at 127.0.0.1 could not be")
    assert "in 2 s" in line and "ConnectError" in line and "BFF_AUTH_JWKS_URL" in line
    assert len(attempts) >= 2  # tried again, each attempt one structured warning
    for attempt in attempts:
        assert json.loads(attempt)["event"] == "auth.jwks.fetch_failed"
    assert "Traceback" not in result.stderr


def test_a_jwks_blip_shorter_than_the_deadline_does_not_stop_a_start(
    target: Target, tmp_path: Path
) -> None:
    late = IdentityProvider(tmp_path)  # its keys appear only after the first attempt failed
    jwks_port, port = free_port(), free_port()
    environment = _jwks_elsewhere(target, jwks_port, SSL_CERT_FILE=str(late.ca_file))
    log = tmp_path / "bff.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO_ROOT / "tests",
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(
            lambda: b"auth.jwks.fetch_failed" in log.read_bytes(),
            what="a failed attempt",
            timeout=15,
        )
        assert process.poll() is None
        late.listen(jwks_port)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _ready(url), what="readiness once the keys could be fetched", timeout=40)
        orders = httpx.get(f"{url}/v1/orders", headers=late.bearer("patient-user"), timeout=10)
        assert orders.status_code == 200, orders.text
    finally:
        process.terminate()
        process.wait(timeout=30)
        late.close()


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False
