"""A fleet for one scenario: the sandbox, BFF replicas, a private Redis, a database of its own.

`Fleet.settle_and_check()` ends a scenario: it clears the faults, reconciles until no
placement is unresolved, replays every completed key, reads the ground truth and runs the
checker, then writes the counts to tests/system/faults/.results/<scenario>.json.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from sqlalchemy.engine import make_url

from local_processes.checkout_stack import bff_env, sandbox_server
from local_processes.postgres import PrivatePostgres, create_database
from local_processes.redis_server import PrivateRedis
from local_processes.servers import REPO_ROOT, Server
from local_processes.waiting import WaitTimedOut, wait_until_async
from tests.support.ci import tools_required
from tests.system.faults import checker
from tests.system.faults.history import Checkout, Exchange, History, Storefront

RESULTS = Path(__file__).resolve().parent / ".results"
SETTLE_SECONDS = 45
CONVERGE_SECONDS = 30  # for every order's status to show what Instacart has


class Fleet:
    def __init__(
        self,
        name: str,
        log_dir: Path,
        pg: PrivatePostgres,
        database: str,
        redis: PrivateRedis,
        replicas: int,
        bff_settings: dict[str, str],
        callbacks: bool = False,
    ) -> None:
        self.name = name
        self.pg = pg
        self.database = database
        self.redis = redis
        self.client_id = f"faults-{uuid.uuid4().hex[:8]}"
        self.sandbox = sandbox_server(log_dir, self.client_id, slot_capacity=1000, seed=7)
        self.env = bff_env(self.sandbox.url, self.client_id, pg.url(database)) | {
            "BFF_REDIS_URL": redis.url,
            "BFF_ACCESS_LOG": "false",
            "BFF_LOG_LEVEL": "WARNING",
            "BFF_LOG_JSON": "true",
            "BFF_ENVIRONMENT": "test",
            # one checkout per user here; the limits are tested elsewhere
            "BFF_RATE_LIMIT_ORDERS_PER_MINUTE": "1000",
            "BFF_RATE_LIMIT_RESERVATIONS_PER_MINUTE": "1000",
            "BFF_RATE_LIMIT_SLOT_MISSES_PER_MINUTE": "100000",
            "BFF_INSTACART_BREAKER_COOLDOWN_SECONDS": "1",
            "BFF_IDEMPOTENCY_LOCK_SECONDS": "2",
            "BFF_IDEMPOTENCY_REPLAY_WAIT_SECONDS": "1",
            "BFF_INSTACART_CREATE_DEADLINE_SECONDS": "2",
            "BFF_RECONCILE_GRACE_SECONDS": "30",
            **bff_settings,
        }
        self.replicas = {
            f"r{i}": Server(f"bff-r{i}", ["app", "serve"], self.env, "/readyz", log_dir)
            for i in range(replicas)
        }
        if callbacks:
            # Instacart calls back one address (the ingress, in production); here the first
            # replica's, so a SIGKILL of r0 loses callbacks, as an outage of the receiver would.
            receiver = self.replicas["r0"].url + "/callbacks/instacart"
            self.sandbox.env |= {
                "SANDBOX_CALLBACK_URL": receiver,
                "SANDBOX_CALLBACK_TOKEN_URL": receiver + "/token",
            }
        self.history = History()
        self.storefront = Storefront(self.history, {n: s.url for n, s in self.replicas.items()})
        self.sandbox_http = httpx.AsyncClient(base_url=self.sandbox.url, timeout=30)
        self.faults: dict[str, int] = {}
        self.killed: set[str] = set()
        self.started = time.monotonic()

    # --- processes ----------------------------------------------------------------------

    def start(self) -> None:
        self.sandbox.launch()
        for replica in self.replicas.values():
            replica.launch()
        self.sandbox.wait_healthy()
        for replica in self.replicas.values():
            replica.wait_healthy()

    def kill(self, replica: str) -> None:
        self.replicas[replica].kill()
        self.killed.add(replica)
        self.count("replica_sigkill")

    def count(self, fault: str, n: int = 1) -> None:
        self.faults[fault] = self.faults.get(fault, 0) + n

    def live_replica(self) -> str:
        for name, server in self.replicas.items():
            if server.proc is not None and server.proc.poll() is None:
                return name
        raise AssertionError("no live replica")

    async def aclose(self) -> None:
        await self.storefront.aclose()
        await self.sandbox_http.aclose()
        for server in [*self.replicas.values(), self.sandbox]:
            server.stop()

    # --- the sandbox ------------------------------------------------------------------------

    async def set_faults(self, operations: dict[str, Any], **extra: Any) -> None:
        """PUT /sandbox/faults (replaces the whole set); `extra`: e.g. error_envelope."""
        body = {"operations": operations, **extra}
        response = await self.sandbox_http.put("/sandbox/faults", json=body)
        assert response.status_code == 200, response.text

    async def clear_faults(self) -> None:
        response = await self.sandbox_http.delete("/sandbox/faults")
        assert response.status_code == 200, response.text

    async def advance(self, order_id: str) -> int:
        """Move an order on at Instacart, as its shopper would; the sandbox's answer status."""
        response = await self.sandbox_http.post(f"/sandbox/orders/{order_id}/advance", json={})
        return response.status_code

    async def stats(self) -> dict[str, Any]:
        return (await self.sandbox_http.get("/sandbox/stats")).json()

    async def calls(self, *operations: str) -> int:
        calls = (await self.stats())["calls"]
        return sum(calls.get(op, 0) for op in operations)

    async def wait_for(self, what: str, condition: Any, timeout: float) -> None:
        """Poll an async condition with a deadline."""
        await wait_until_async(condition, what=f"{self.name}: {what}", timeout=timeout)

    async def upstream_orders(self) -> list[dict[str, Any]]:
        """The ground truth: every order the sandbox holds (GET /sandbox/orders)."""
        response = await self.sandbox_http.get("/sandbox/orders")
        assert response.status_code == 200, response.text
        return response.json()["orders"]

    # --- the BFF's rows ---------------------------------------------------------------------

    async def rows(self) -> list[dict[str, Any]]:
        conn = await asyncpg.connect(self.pg.dsn(self.database))
        try:
            records = await conn.fetch("SELECT * FROM orders ORDER BY created_at")
        finally:
            await conn.close()
        return [dict(r) for r in records]

    async def reconcile(self) -> str:
        """One round of ``python -m app reconcile``, as an operator would run it."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app",
            "reconcile",
            cwd=REPO_ROOT,
            env={**os.environ, **self.env, "BFF_RECONCILE_GRACE_SECONDS": "0"},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        text = out.decode(errors="replace")
        assert proc.returncode == 0, f"python -m app reconcile failed:\n{text[-3000:]}"
        return text

    async def reconcile_until_settled(self, timeout: float = SETTLE_SECONDS) -> None:
        """Reconcile until no placement is pending or unknown (a lease may hold one a while);
        what is still unresolved after `timeout` is left for the checker to report."""

        async def settled() -> bool:
            rows = await self.rows()
            if all(r["placement_state"] not in ("pending", "unknown") for r in rows):
                return True
            await self.reconcile()
            return False

        with contextlib.suppress(WaitTimedOut):
            await wait_until_async(settled, what="every placement settled", timeout=timeout)

    # --- the end of every scenario ------------------------------------------------------------

    async def settle_and_check(
        self,
        checkouts: list[Checkout],
        *,
        replay: bool = True,
        all_complete: bool = True,
        scenario_anomalies: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Settle, check, write the counts; the scenario's own findings join the checker's."""
        self.history.phase = "settle"
        await self.clear_faults()
        await self.reconcile_until_settled()
        report = checker.Report(list(scenario_anomalies or []))
        reader = self.live_replica()

        probes: list[tuple[Any, str]] = []
        if replay:
            self.history.phase = "probe"
            probes = await self._replay_completed(checkouts, reader)
            await self.reconcile_until_settled()

        self.history.phase = "check"
        rows = await self.rows()
        upstream = await self.upstream_orders()
        truth = checker.Truth(upstream, rows, {}, {})
        for c in checkouts:
            listed = await self.storefront.list_orders(reader, c.user)
            truth.listed[c.user] = listed.order_ids
        wanted = {(o["user_id"], o["id"]) for o in upstream}
        wanted |= {
            (e.user, e.order_id) for e in self.history.of("place") if e.status == 201 and e.order_id
        }
        upstream_status = {o["id"]: o["status"] for o in upstream}
        converged_by = time.monotonic() + CONVERGE_SECONDS
        for user, order_id in sorted(wanted, key=str):
            got = await self._read_until_converged(
                reader, user, order_id, upstream_status.get(order_id), converged_by
            )
            truth.readable[order_id] = got.status or 0
            truth.shown[order_id] = got.order_status

        exchanges = self.history.exchanges
        checker.check_answers(exchanges, self.killed, report)
        checker.check_orders(exchanges, checkouts, truth, report)
        checker.check_probes(probes, report)
        if all_complete:
            checker.check_completed(exchanges, checkouts, report)
        stats = await self.stats()
        injected = sum(
            n
            for op, by_status in stats["responses"].items()
            for status, n in by_status.items()
            if int(status) >= 500
        )
        faults = dict(self.faults)
        if injected:
            faults["upstream_5xx"] = injected
        summary = checker.summarize(
            self.name,
            exchanges,
            checkouts,
            truth,
            faults,
            report,
            time.monotonic() - self.started,
        )
        self._write(summary, report)
        return {"summary": summary, "anomalies": report.anomalies}

    async def _read_until_converged(
        self, reader: str, user: str, order_id: str, upstream: str | None, by: float
    ) -> Exchange:
        """The owner's read of an order, again until it shows Instacart's status (or is not
        200) or `by` has passed; what it showed last is the checker's to judge."""
        reads: list[Exchange] = []

        async def converged() -> bool:
            got = await self.storefront.get_order(reader, user, order_id)
            reads.append(got)
            return got.status != 200 or got.order_status == (upstream or got.order_status)

        # A read refreshes a status older than BFF_ORDER_REFRESH_SECONDS from Instacart: the
        # owner's view converges, soon but not at once, after a lost callback.
        what = f"{order_id} to show Instacart's status"
        with contextlib.suppress(WaitTimedOut):
            timeout = max(0.0, by - time.monotonic())
            await wait_until_async(converged, what=what, timeout=timeout, interval=0.2)
        return reads[-1]

    async def _replay_completed(
        self, checkouts: list[Checkout], replica: str
    ) -> list[tuple[Any, str]]:
        """Replay each key that got a 201 or whose user has an upstream order."""
        upstream = await self.upstream_orders()
        upstream_of = {o["user_id"]: o["id"] for o in upstream}
        probes = []
        for c in checkouts:
            first = next(
                (
                    e
                    for e in self.history.of("place")
                    if e.user == c.user and e.key == c.key and e.status == 201
                ),
                None,
            )
            expected = first.order_id if first else upstream_of.get(c.user)
            if expected is None or c.reservation is None:
                continue
            e = await self.storefront.place(replica, c, first.body_tag if first else "a")
            probes.append((e, expected))
        return probes

    def _write(self, summary: dict[str, Any], report: checker.Report) -> None:
        RESULTS.mkdir(exist_ok=True)
        line = orjson.dumps(summary).decode()
        (RESULTS / f"{self.name}.json").write_text(line + "\n")
        self.history.dump(RESULTS / f"{self.name}.history.jsonl")
        (RESULTS / f"{self.name}.anomalies.jsonl").write_bytes(
            b"".join(orjson.dumps(a) + b"\n" for a in report.anomalies)
        )
        print(line)


@contextlib.asynccontextmanager
async def open_fleet(
    name: str,
    log_dir: Path,
    pg: PrivatePostgres,
    template_url: str,
    *,
    replicas: int = 2,
    callbacks: bool = False,
    **bff_settings: str,
) -> AsyncIterator[Fleet]:
    """A running fleet on its own database (a copy of the migrated template) and own Redis."""
    template = make_url(template_url).database
    database = make_url(
        await create_database(pg.url(), prefix=f"faults_{name}", template=template)
    ).database
    assert database is not None
    with tools_required():
        redis = PrivateRedis(log_dir)
    redis.start()
    fleet = Fleet(name, log_dir, pg, database, redis, replicas, bff_settings, callbacks)
    try:
        await asyncio.to_thread(fleet.start)
        yield fleet
    finally:
        await fleet.aclose()
        redis.stop()
        # the processes' logs beside the history, for the post-mortem of a failed scenario
        logs = RESULTS / f"{name}.logs"
        logs.mkdir(parents=True, exist_ok=True)
        for log in log_dir.glob("*.log"):
            shutil.copyfile(log, logs / log.name)
