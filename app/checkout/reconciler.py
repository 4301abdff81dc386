"""The reconciler: settles placements that a crash or an ambiguous answer left unresolved.

Each round also deletes Idempotency-Keys past their retention.

A ``pending`` or ``unknown`` order older than the grace period is looked up at Instacart by its
retailer order id. Found: it is recorded as created and its Idempotency-Key gets the answer, so
the storefront's retry with the same key returns the order. Not found: the create never reached
Instacart (the grace period is longer than any create deadline), so the placement failed and the
key is given back.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.checkout.orders import CREATED, order_view
from app.db.idempotency import IdempotencyRepository
from app.db.orders import OrdersRepository
from app.db.session import build_sessionmaker
from app.instacart.client import InstacartClient
from app.instacart.errors import InstacartError, InstacartNotFound
from app.metrics import ORDERS_PLACED
from app.resources import build_engine, build_redis
from app.settings import Settings

log = structlog.get_logger("app.checkout.reconciler")

_LOCK_KEY = "bff:reconciler:lock"
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


@dataclass
class ReconcileSummary:
    examined: int = 0
    created: int = 0
    failed: int = 0
    left: int = 0
    purged_keys: int = 0


class Reconciler:
    def __init__(
        self,
        client: InstacartClient,
        sessions: async_sessionmaker[AsyncSession],
        *,
        grace_seconds: float,
        batch_size: int = 50,
    ) -> None:
        self.client = client
        self.sessions = sessions
        self.grace = timedelta(seconds=grace_seconds)
        self.batch_size = batch_size

    async def run_once(self) -> ReconcileSummary:
        summary = ReconcileSummary()
        older_than = datetime.now(UTC) - self.grace
        # Rows stay locked (SKIP LOCKED for everyone else) while we ask Instacart about them.
        async with self.sessions() as session, session.begin():
            orders = OrdersRepository(session)
            keys = IdempotencyRepository(session)
            for row in await orders.stale_placements(older_than, self.batch_size):
                summary.examined += 1
                try:
                    upstream = await self.client.get_order(row.user_id, row.id)
                except InstacartNotFound:
                    await orders.mark_failed(row.id, "not_placed", "Instacart has no such order")
                    await keys.release_for_order(row.id)
                    summary.failed += 1
                    ORDERS_PLACED.labels("failed").inc()
                    continue
                except InstacartError as exc:
                    log.warning("reconcile.lookup_failed", order_id=row.id, error=exc.operation)
                    summary.left += 1
                    continue
                created = await orders.mark_created(
                    row.id,
                    upstream.status,
                    items=[item.model_dump(mode="json") for item in upstream.items],
                )
                if created is not None:
                    body = order_view(created).model_dump(mode="json")
                    await keys.complete_for_order(row.id, CREATED, body)
                    summary.created += 1
                    ORDERS_PLACED.labels("reconciled").inc()
            # Keys past their retention go in the same round; nothing else would remove them.
            summary.purged_keys = await keys.purge_expired(datetime.now(UTC))
        if summary.examined or summary.purged_keys:
            log.info("reconcile.done", **summary.__dict__)
        return summary


async def run_periodically(reconciler: Reconciler, redis: Redis, interval_seconds: float) -> None:
    """Runs the reconciler every interval on one replica at a time (a Redis lock)."""
    while True:
        await asyncio.sleep(interval_seconds)
        token = secrets.token_hex(8)
        try:
            if not await redis.set(_LOCK_KEY, token, nx=True, px=int(interval_seconds * 2000)):
                continue
        except (RedisError, OSError):
            # Without Redis every replica may run it: SKIP LOCKED keeps them off each other's rows.
            token = None
        try:
            await reconciler.run_once()
        except Exception as exc:  # a bad round must not end the loop
            log.error("reconcile.failed", error=type(exc).__name__)
        finally:
            if token is not None:
                with contextlib.suppress(RedisError, OSError):
                    await redis.eval(_RELEASE, 1, _LOCK_KEY, token)


async def reconcile_once_from_settings() -> ReconcileSummary:
    """``python -m app reconcile``: one round with the configured resources, then exit."""
    settings = Settings()
    redis = build_redis(settings)
    engine = build_engine(settings)
    client = InstacartClient.from_settings(settings, redis=redis)
    try:
        reconciler = Reconciler(
            client, build_sessionmaker(engine), grace_seconds=settings.reconcile_grace_seconds
        )
        return await reconciler.run_once()
    finally:
        await client.aclose()
        await engine.dispose()
        await redis.aclose()
