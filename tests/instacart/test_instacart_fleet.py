"""Token sharing across real processes: three workers, one Redis, one sandbox subprocess."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
import redis

from local_processes.waiting import wait_until
from tests.support.paths import REPO_ROOT
from tests.support.settings import suite_redis_url

WORKERS = 3


@pytest.fixture
def fleet(sandbox_process: tuple[str, str]) -> Iterator[dict[str, Any]]:
    base_url, client_id = sandbox_process
    with httpx.Client(base_url=base_url) as control:
        control.post("/sandbox/reset").raise_for_status()
        fleet_state = {
            "base_url": base_url,
            "client_id": client_id,
            "control": control,
            "key_prefix": f"test:instacart:fleet:{uuid.uuid4().hex}",
        }
        yield fleet_state
    r = redis.Redis.from_url(suite_redis_url())
    keys = list(r.scan_iter(match=f"{fleet_state['key_prefix']}*"))
    if keys:
        r.delete(*keys)
    r.close()


def start_workers(fleet: dict[str, Any], *extra: str) -> list[subprocess.Popen]:
    """Start the workers and let them go together once every one has connected."""
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.instacart.fleet_worker",
                "--base-url",
                fleet["base_url"],
                "--redis-url",
                suite_redis_url(),
                "--client-id",
                fleet["client_id"],
                "--key-prefix",
                fleet["key_prefix"],
                *extra,
            ],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(WORKERS)
    ]
    prefix = fleet["key_prefix"]
    r = redis.Redis.from_url(suite_redis_url())
    try:
        until_the_workers(
            lambda: int(r.get(f"{prefix}:ready") or 0) == WORKERS, "every worker counted in", procs
        )
        r.set(f"{prefix}:go", 1)
    finally:
        r.close()
    return procs


def until_the_workers(check: Callable[[], bool], what: str, procs: list[subprocess.Popen]) -> None:
    """Wait for the workers to reach a point, failing at once if one of them died."""

    def reached() -> bool:
        if dead := [p for p in procs if p.poll() is not None]:
            raise AssertionError(dead[0].stderr.read().decode()[-2000:])  # type: ignore[union-attr]
        return check()

    wait_until(reached, what=what, timeout=30)


def results(procs: list[subprocess.Popen]) -> list[dict[str, Any]]:
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, stderr.decode()[-2000:]
        out.append(orjson.loads(stdout.splitlines()[-1]))
    return out


def stats(fleet: dict[str, Any]) -> dict[str, Any]:
    return fleet["control"].get("/sandbox/stats").json()


def store_calls(s: dict[str, Any]) -> int:
    ops = ("findDeliveryStores", "findPickupStores", "findLastMileStores")
    return sum(s["calls"].get(op, 0) for op in ops)


def test_three_processes_making_300_calls_share_one_token(fleet: dict[str, Any]) -> None:
    procs = start_workers(fleet, "--calls", "100")
    done = results(procs)
    s = stats(fleet)
    assert [r["failed"] for r in done] == [0, 0, 0]
    assert sum(r["ok"] for r in done) == 300 == store_calls(s)
    assert s["tokens_issued"] == 1
    assert sum(r["refreshes"] for r in done) == 1


def test_short_lived_tokens_are_refreshed_once_per_lifetime_for_the_whole_fleet(
    fleet: dict[str, Any],
) -> None:
    ttl, duration = 4, 10.0
    fleet["control"].put("/sandbox/faults", json={"token_ttl_seconds": ttl}).raise_for_status()
    procs = start_workers(fleet, "--duration", str(duration))
    done = results(procs)
    s = stats(fleet)

    assert [r["failed"] for r in done] == [0, 0, 0]
    assert sum(r["ok"] for r in done) == store_calls(s) > 300
    # No call ever met an expired token: refreshes happen ahead of expiry.
    assert all("401" not in codes for codes in s["responses"].values())
    # Each token is replaced 1 to 1.25 s before its 4 s end (the floor of the margin plus
    # jitter), so one token per ~2.9 s: 1 + floor(10 / 2.9) = 4 tokens for the fleet, where
    # three processes with their own tokens would need 12.
    period = ttl - 1.1
    expected = 1 + int(duration // period)
    assert expected - 1 <= s["tokens_issued"] <= expected + 1, (s["tokens_issued"], expected)
    assert s["tokens_issued"] < WORKERS * expected
    assert sum(r["refreshes"] for r in done) == s["tokens_issued"]


def test_revoked_token_costs_the_fleet_one_refresh_and_no_failed_call(
    fleet: dict[str, Any],
) -> None:
    procs = start_workers(fleet, "--duration", "4")
    # Revoke once the fleet is well into its run on the first token.
    until_the_workers(lambda: store_calls(stats(fleet)) >= 100, "100 store searches", procs)
    revoked = fleet["control"].post("/sandbox/tokens/revoke").json()["revoked"]
    done = results(procs)
    s = stats(fleet)

    assert revoked == 1
    assert [r["failed"] for r in done] == [0, 0, 0]
    assert s["tokens_issued"] == 2
    assert sum(r["refreshes"] for r in done) == 2
    assert sum(r["ok"] for r in done) > 100
