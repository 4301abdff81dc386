"""The reconciler: settles what a crash, an ambiguous answer or a lost callback left open.

Each round, bounded in size and run by one replica at a time:
1. placements left pending or unknown (below);
2. callbacks stored but never applied (a crash, or getOrder failing when one came in);
3. follow-up: placed orders not yet ended that Instacart has told us nothing about for a
   while are looked up, since callbacks can be lost;
4. Idempotency-Keys and reservations past their retention are deleted.

A ``pending`` or ``unknown`` order that nobody holds a lease on and nobody touched for the
grace period is taken over with a new attempt and a lease (so no request re-sends its create
meanwhile), then looked up at Instacart by its retailer order id, outside any transaction.
Found: it is recorded as created and its Idempotency-Key gets the answer, so the storefront's
retry with the same key returns the order. Not found: the create never reached Instacart (no
lease was live, so no create was in flight), so the placement failed and the key is given back.
One row's failure costs that row only.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import structlog
from redis.asyncio import Redis
from redis.exceptions import LockError, RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.instacart.client import InstacartClient
from app.instacart.errors import InstacartError, InstacartNotFound
from app.orders.events import OrderEvents
from app.orders.idempotency import IdempotencyRepository
from app.orders.outcomes import PlacementOutcomes
from app.orders.repository import AbandonedPlacement, OrdersRepository
from app.orders.state_machine import Actor, OrderStateMachine
from app.platform.metrics import (
    FOLLOW_UPS,
    ORDERS_PLACED,
    PLACEMENTS_UNRESOLVED_OLDEST_AGE,
    RECONCILE_BACKLOG,
    RECONCILE_GRACE,
)
from app.reservations.repository import ReservationsRepository

log = structlog.get_logger("app.orders.reconciler")


class WaitingCallbacks(Protocol):
    """Callbacks stored but not applied yet (app/callbacks/inbox.py keeps them). A protocol, so
    that orders, which callbacks build on, does not import them back."""

    async def count_waiting(self, older_than: timedelta) -> int: ...

    async def reapply_waiting(self, older_than: timedelta, limit: int) -> int: ...


@dataclass
class ReconcileSummary:
    examined: int = 0
    created: int = 0
    failed: int = 0
    left: int = 0
    skipped: int = 0  # another actor took the row first
    callbacks_applied: int = 0
    followed_up: int = 0
    follow_ups_changed: int = 0
    purged_keys: int = 0
    purged_reservations: int = 0


class Reconciler:
    def __init__(
        self,
        client: InstacartClient,
        sessions: async_sessionmaker[AsyncSession],
        *,
        grace_seconds: float,
        lease_seconds: float,
        events: OrderEvents,
        callbacks: WaitingCallbacks | None = None,
        batch_size: int = 50,
        follow_up_after_seconds: float = 300,
        follow_up_batch_size: int = 20,
        callback_retry_after_seconds: float = 10,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        self.events = events
        self.callbacks = callbacks
        self.follow_up_after = timedelta(seconds=follow_up_after_seconds)
        self.follow_up_batch = follow_up_batch_size
        self.callback_retry_after = timedelta(seconds=callback_retry_after_seconds)
        self.client = client
        self.sessions = sessions
        self.grace = timedelta(seconds=grace_seconds)
        self.lease_seconds = lease_seconds
        self.batch_size = batch_size

    async def run_once(self) -> ReconcileSummary:
        summary = ReconcileSummary()
        async with self.sessions() as session:
            orders = OrdersRepository(session)
            candidates = await orders.abandoned_placements(self.grace, self.batch_size)
        for candidate in candidates:
            summary.examined += 1
            try:
                outcome = await self._settle(candidate)
            except Exception as exc:  # one bad row must not cost the others
                log.error("reconcile.row_failed", order_id=candidate.id, error=type(exc).__name__)
                outcome = "left"
            setattr(summary, outcome, getattr(summary, outcome) + 1)
        if self.callbacks is not None:
            summary.callbacks_applied = await self.callbacks.reapply_waiting(
                self.callback_retry_after, self.batch_size
            )
        await self._follow_up(summary)
        async with self.sessions() as session, session.begin():
            now = datetime.now(UTC)
            summary.purged_keys = await IdempotencyRepository(session).purge_expired(now)
            summary.purged_reservations = await ReservationsRepository(session).purge_expired(now)
        if any(summary.__dict__.values()):
            log.info("reconcile.done", **summary.__dict__)
        return summary

    async def measure_unresolved(self) -> float:
        """Sets (and returns) the age of the oldest placement still pending or unknown, 0 if
        none, beside the grace it is compared with, and the backlogs a round would work on.

        Every replica calls it, whoever wins the round: a backlog only the winner set would
        stand still on the others, and the alerts take the fleet's max."""
        async with self.sessions() as session:
            orders = OrdersRepository(session)
            oldest = await orders.oldest_unresolved_created_at()
            RECONCILE_BACKLOG.labels("placements").set(
                await orders.count_abandoned_placements(self.grace)
            )
        if self.callbacks is not None:
            RECONCILE_BACKLOG.labels("callbacks").set(
                await self.callbacks.count_waiting(self.callback_retry_after)
            )
        age = 0.0 if oldest is None else max(0.0, self.clock() - oldest.timestamp())
        PLACEMENTS_UNRESOLVED_OLDEST_AGE.set(age)
        RECONCILE_GRACE.set(self.grace.total_seconds())
        return age

    async def _follow_up(self, summary: ReconcileSummary) -> None:
        if self.follow_up_batch == 0:
            return
        async with self.sessions() as session:
            quiet = await OrdersRepository(session).quiet_orders(
                self.follow_up_after, self.follow_up_batch
            )
        for row in quiet:
            summary.followed_up += 1
            asked_at = datetime.now(UTC)
            try:
                upstream = await self.client.get_order(row.user_id, row.id)
                async with self.sessions() as session, session.begin():
                    machine = OrderStateMachine(session)
                    await machine.record_lookup(row.id, Actor.RECONCILER, upstream.status, asked_at)
                    fresh = await machine.record_checked(row.id, Actor.RECONCILER)
            except Exception as exc:  # one order costs one order
                FOLLOW_UPS.labels("failed").inc()
                log.warning("reconcile.follow_up_failed", order_id=row.id, error=type(exc).__name__)
                # Asked, no answer: its turn comes again after the same quiet time, so one
                # order Instacart cannot find never holds the others' places in the batch.
                with contextlib.suppress(Exception):
                    async with self.sessions() as session, session.begin():
                        await OrderStateMachine(session).record_checked(row.id, Actor.RECONCILER)
                continue
            changed = fresh is not None and fresh.version != row.version
            FOLLOW_UPS.labels("changed" if changed else "unchanged").inc()
            if changed and fresh is not None:
                summary.follow_ups_changed += 1
                await self.events.publish(fresh)

    async def _settle(self, candidate: AbandonedPlacement) -> str:
        async with self.sessions() as session, session.begin():
            taken = await PlacementOutcomes(
                session, lease_seconds=self.lease_seconds
            ).begin_attempt(candidate.id, candidate.attempt, Actor.RECONCILER)
        if taken is None:
            return "skipped"
        attempt = taken.attempt
        try:
            upstream = await self.client.get_order(candidate.user_id, candidate.id)
        except InstacartNotFound:
            async with self.sessions() as session, session.begin():
                recorded = await PlacementOutcomes(
                    session, lease_seconds=self.lease_seconds
                ).failed(
                    candidate.id,
                    attempt,
                    Actor.RECONCILER,
                    "not_placed",
                    "Instacart has no such order",
                )
            if not recorded:
                return "skipped"
            ORDERS_PLACED.labels("failed").inc()
            return "failed"
        except InstacartError as exc:
            log.warning("reconcile.lookup_failed", order_id=candidate.id, error=exc.operation)
            async with self.sessions() as session, session.begin():
                await PlacementOutcomes(session, lease_seconds=self.lease_seconds).unknown(
                    candidate.id, attempt, Actor.RECONCILER
                )
            return "left"
        async with self.sessions() as session, session.begin():
            row, _ = await PlacementOutcomes(session, lease_seconds=self.lease_seconds).confirm(
                candidate.id, Actor.RECONCILER, upstream
            )
        await self.events.publish(row)
        ORDERS_PLACED.labels("reconciled").inc()
        return "created"


async def run_periodically(
    reconciler: Reconciler, redis: Redis, *, lock_key: str, interval_seconds: float
) -> None:
    """Runs the reconciler every interval on one replica at a time (redis-py's Lock).

    The lock only saves duplicate work: leases keep reconcilers off each other's rows, so
    without Redis every replica may run it.
    """
    # The lock outlives a round, which is bounded by the same time (a round that is cut
    # short leaves its rows to the next one, their leases lapsing on their own).
    round_seconds = max(interval_seconds, 1.0)
    while True:
        await asyncio.sleep(interval_seconds)
        # Every replica measures, lock or not: a gauge only the round's winner set would stand
        # still on the others, and an alert on the fleet's max would keep reading it.
        try:
            async with asyncio.timeout(round_seconds):
                await reconciler.measure_unresolved()
        except Exception as exc:  # Postgres down: the dependency alert says so; keep going
            log.warning("reconcile.measure_failed", error=type(exc).__name__)
        lock = redis.lock(lock_key, timeout=round_seconds * 2, blocking=False)
        try:
            held = await lock.acquire()
        except (RedisError, OSError):
            held = None
        if held is False:
            continue  # another replica runs this round
        try:
            async with asyncio.timeout(round_seconds):
                await reconciler.run_once()
        except Exception as exc:  # a bad round must not end the loop
            log.error("reconcile.failed", error=type(exc).__name__)
        finally:
            if held:
                with contextlib.suppress(LockError, RedisError, OSError):
                    await lock.release()
