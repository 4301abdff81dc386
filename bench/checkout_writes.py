"""CPU per call of a checkout's writes and store reads, this tree against another ref.

Like bench/request_overhead.py (same method, same reason: the checkout benchmarks cannot
resolve a few hundred microseconds on a shared machine), for the pieces a checkout calls once
each, measured as the process's own CPU time (`time.process_time`) per call:

- `confirm`: `OrderStateMachine.confirm` of a pending order with its status and items, in its
  own session and transaction (as a placement's confirmation), on a fresh migrated database;
- `reservation insert`: `ReservationsRepository.insert` in its own transaction;
- `empty transaction`: a session, a `SELECT now()` and the commit, the floor of the two above;
- `store directory`: `StoreDirectory.check_remembered` then `.time_zone` of one store, as each
  reservation asks them (no store list; nothing remembered in Redis);
- `slot invalidation`: `SharedCache.invalidate_group` of a group holding one preview, as each
  reservation's hold does (the preview is stored again between calls, not counted).

Each side runs in its own process pinned to the server core, importing `app` from its own
checkout (`--base`, exported with `git archive`, or this tree); sides alternate.

    .venv/bin/python -m bench.checkout_writes --base main [--repetitions 5]

Writes bench/results/checkout-writes-<name>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.request_overhead import run_side

CALLS = 300
PIECES = [
    "confirm",
    "reservation insert",
    "empty transaction",
    "store directory",
    "slot invalidation",
]
ITEMS = [{"upc": "1", "product_id": "p1", "name": "Milk", "quantity": 2, "status": "ok"}]


async def _database_us(database_url: str) -> dict[str, float]:
    from sqlalchemy import func, select
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from app.orders.state_machine import Actor, OrderStateMachine
    from app.orders.tables import OrderRow
    from app.reservations.repository import ReservationsRepository

    engine = create_async_engine(database_url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    user = f"bench-{uuid.uuid4().hex[:8]}"

    async def orders(n: int) -> list[str]:
        ids = [f"ord_{uuid.uuid4().hex}" for _ in range(n)]
        async with sessions() as session, session.begin():
            session.add_all(
                OrderRow(
                    id=order_id,
                    user_id=user,
                    fulfillment="pickup",
                    store_id="store-1",
                    slot={"id": "slot-1"},
                    items=[],
                    placement_state="pending",
                    attempt=1,
                )
                for order_id in ids
            )
        return ids

    async def confirm(order_id: str) -> None:
        async with sessions() as session, session.begin():
            machine = OrderStateMachine(session)
            assert await machine.confirm(order_id, Actor.REQUEST, "brand_new", items=ITEMS)

    async def insert(_: str) -> None:
        async with sessions() as session, session.begin():
            await ReservationsRepository(session).insert(
                {
                    "id": f"res_{uuid.uuid4().hex}",
                    "user_id": user,
                    "fulfillment": "pickup",
                    "store_id": "store-1",
                    "hold_id": "hold-1",
                    "slot": {"id": "slot-1"},
                    "expires_at": None,
                    "retain_until": datetime.now(UTC) + timedelta(hours=1),
                }
            )

    async def empty(_: str) -> None:
        async with sessions() as session, session.begin():
            await session.execute(select(func.now()))

    result = {}
    try:
        for name, call in (
            ("confirm", confirm),
            ("reservation insert", insert),
            ("empty transaction", empty),
        ):
            for order_id in await orders(30):  # warm: connections, statement caches
                await call(order_id)
            ids = await orders(CALLS)
            started = time.process_time()
            for order_id in ids:
                await call(order_id)
            result[name] = (time.process_time() - started) * 1e6 / CALLS
    finally:
        await engine.dispose()
    return result


async def _redis_us(redis_url: str) -> dict[str, float]:
    from redis.asyncio import Redis

    from app.platform.shared_cache import SharedCache
    from app.stores.directory import StoreDirectory

    client = Redis.from_url(redis_url)
    namespace = f"bench-writes-{uuid.uuid4().hex[:8]}"
    directory = StoreDirectory(client, namespace=namespace, listed=None, unknown_store_seconds=60)
    cache = SharedCache(client, "slots", ttl_seconds=20, namespace=namespace)

    async def preview() -> bytes:
        return b"x" * 2000

    result = {}
    try:
        for _ in range(30):  # warm
            await directory.check_remembered("store-1", "pickup")
            await directory.time_zone("store-1")
        started = time.process_time()
        for _ in range(CALLS):
            await directory.check_remembered("store-1", "pickup")
            await directory.time_zone("store-1")
        result["store directory"] = (time.process_time() - started) * 1e6 / CALLS
        spent = 0.0
        for i in range(30 + CALLS):
            await cache.get_or_load("pickup:store-1:k", preview, group="pickup:store-1")
            started = time.process_time()
            await cache.invalidate_group("pickup:store-1")
            if i >= 30:
                spent += time.process_time() - started
        result["slot invalidation"] = spent * 1e6 / CALLS
    finally:
        keys = [k async for k in client.scan_iter(match=f"{namespace}:*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()
    return result


def child(redis_url: str, database_url: str) -> None:
    """One side's measurements, as one JSON line."""
    import uvloop

    async def all_of_them() -> dict[str, float]:
        return {**await _database_us(database_url), **await _redis_us(redis_url)}

    print(json.dumps(uvloop.run(all_of_them())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="main", help="git ref the head is compared with")
    parser.add_argument("--repetitions", type=int, default=5, help="runs per side")
    parser.add_argument("--name", default="head", help="results: checkout-writes-<name>.*")
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.redis_url, args.database_url)
        return
    from bench import harness as h

    redis_url = args.redis_url or h.REDIS_URL
    database_url = h.fresh_database()
    h.pin_self()
    runs: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-base-") as folder:
            base_commit = h.export(args.base, Path(folder))
            code = {"base": Path(folder), "head": h.ROOT}
            extra = ["--database-url", database_url]
            for rep in range(1, args.repetitions + 1):
                for side in ["base", "head"] if rep % 2 else ["head", "base"]:
                    measured = run_side(
                        code[side], redis_url, h.SERVER_CORES, script=Path(__file__), extra=extra
                    )
                    runs.append({"repetition": rep, "code": side, **measured})
                    print(f"rep {rep} {side}: {measured}", flush=True)
    finally:
        h.drop_database(database_url)
    rows = []
    for piece in PIECES:
        spread = {s: [r[piece] for r in runs if r["code"] == s] for s in ("base", "head")}
        base, head = h.median(spread["base"]), h.median(spread["head"])
        rows.append(
            [
                piece,
                f"{base:.0f} ({min(spread['base']):.0f}-{max(spread['base']):.0f})",
                f"{head:.0f} ({min(spread['head']):.0f}-{max(spread['head']):.0f})",
                f"{head - base:+.0f}",
            ]
        )
    table = h.markdown_table(
        ["per call", "base CPU µs, median (min-max)", "head CPU µs", "head - base µs"], rows
    )
    markdown = (
        f"### A checkout's writes and store reads, {args.base} ({base_commit}) against "
        f"{h.git_commit()} (`python -m bench.checkout_writes`)\n\n{args.repetitions} "
        f"alternating runs per side, each in its own process on core {h.SERVER_CORES}, "
        f"{CALLS} calls of each piece, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}."
        f"\n\n{table}\n"
    )
    h.save(
        f"checkout-writes-{args.name}",
        {"base": args.base, "base_commit": base_commit, "runs": runs},
        markdown,
    )


if __name__ == "__main__":
    main()
