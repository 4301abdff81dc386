"""The gauges of the process's own connection pools, Postgres and Redis, read at scrape time.

A pool keeps its counts in memory, so reading them costs a few attribute reads and no I/O:
the gauges read them when Prometheus scrapes, exact at that moment, rather than being kept up
to date on every checkout of the hot paths. Neither library offers all of the counts publicly:
SQLAlchemy keeps a pool's overflow limit and its queue private and has no event for a wait,
redis-py keeps its set of connections in use private; both have kept those names through their
major versions.

A process normally runs one app. Tests run several side by side (replicas in one process), so
the gauges add up the pools of every app watching, each app taking its pools out at shutdown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry, QueuePool
from sqlalchemy.util.queue import AsyncAdaptedQueue, Empty

from app.platform.metrics import (
    DATABASE_POOL_CONNECTIONS,
    DATABASE_POOL_IN_USE,
    DATABASE_POOL_OPEN,
    DATABASE_POOL_TIMEOUTS,
    DATABASE_POOL_WAITING,
    REDIS_POOL_CONNECTIONS,
    REDIS_POOL_IN_USE,
    REDIS_POOL_OPEN,
)


class PoolUsage(NamedTuple):
    connections: int  # the most the pool opens
    open: int  # idle or in use
    in_use: int
    waiting: int = 0  # for one to come free (counted by the Postgres pool only)


NO_POOL = PoolUsage(0, 0, 0)


class _WaitCountingQueue(AsyncAdaptedQueue[ConnectionPoolEntry]):
    """The queue of a pool's idle connections, counting who waits on it and whose wait runs
    out: SQLAlchemy has no event for either. A caller that finds a connection never suspends,
    so a scrape (on the same event loop) only ever sees those really waiting."""

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        super().__init__(maxsize, use_lifo)
        self.waiting = 0

    def get(self, block: bool = True, timeout: float | None = None) -> ConnectionPoolEntry:
        if not block:
            return super().get(block, timeout)
        self.waiting += 1
        try:
            return super().get(block, timeout)
        except Empty:
            # The pool then raises its TimeoutError (unless an overflow place came free).
            DATABASE_POOL_TIMEOUTS.inc()
            raise
        finally:
            self.waiting -= 1


class WaitCountingQueuePool(AsyncAdaptedQueuePool):
    """The async engine's usual pool, with its waits counted (`build_engine` uses it)."""

    _queue_class = _WaitCountingQueue


def database_pool_usage(engine: AsyncEngine) -> PoolUsage:
    """The engine's queue pool's counts; nothing for the pools that do not bound (SQLite's
    in development mode opens one connection per use)."""
    pool = engine.pool
    if not isinstance(pool, QueuePool):
        return NO_POOL
    in_use = pool.checkedout()
    queue = pool._pool
    waiting = queue.waiting if isinstance(queue, _WaitCountingQueue) else 0
    return PoolUsage(pool.size() + pool._max_overflow, pool.checkedin() + in_use, in_use, waiting)


def redis_pool_usage(client: object) -> PoolUsage:
    """The client's pool's counts. A Redis Cluster client has a pool per node, each with the
    limit: its busiest node is the one that runs dry first."""
    if isinstance(client, RedisCluster):
        nodes = [
            PoolUsage(
                node.max_connections,
                len(node._connections),
                len(node._connections) - len(node._free),
            )
            for node in client.nodes_manager.nodes_cache.values()
        ]
        return max(nodes, key=lambda usage: (usage.in_use, usage.open), default=NO_POOL)
    if isinstance(client, redis.Redis) and isinstance(client.connection_pool, redis.ConnectionPool):
        pool = client.connection_pool
        in_use = len(pool._in_use_connections)
        return PoolUsage(pool.max_connections, len(pool._available_connections) + in_use, in_use)
    return NO_POOL


class _Watched:
    """The pools the gauges read: those of every app running in this process."""

    def __init__(self) -> None:
        self.engines: list[AsyncEngine] = []
        self.redis_clients: list[object] = []

    def database(self, field: Callable[[PoolUsage], int]) -> float:
        return float(sum(field(database_pool_usage(engine)) for engine in self.engines))

    def redis(self, field: Callable[[PoolUsage], int]) -> float:
        return float(sum(field(redis_pool_usage(client)) for client in self.redis_clients))


_WATCHED = _Watched()

DATABASE_POOL_CONNECTIONS.set_function(lambda: _WATCHED.database(lambda u: u.connections))
DATABASE_POOL_OPEN.set_function(lambda: _WATCHED.database(lambda u: u.open))
DATABASE_POOL_IN_USE.set_function(lambda: _WATCHED.database(lambda u: u.in_use))
DATABASE_POOL_WAITING.set_function(lambda: _WATCHED.database(lambda u: u.waiting))
REDIS_POOL_CONNECTIONS.set_function(lambda: _WATCHED.redis(lambda u: u.connections))
REDIS_POOL_OPEN.set_function(lambda: _WATCHED.redis(lambda u: u.open))
REDIS_POOL_IN_USE.set_function(lambda: _WATCHED.redis(lambda u: u.in_use))


@contextmanager
def pools_watched(engine: AsyncEngine, redis_client: object) -> Iterator[None]:
    """While inside, the pool gauges count this engine's and this Redis client's pools."""
    _WATCHED.engines.append(engine)
    _WATCHED.redis_clients.append(redis_client)
    try:
        yield
    finally:
        _WATCHED.engines.remove(engine)
        _WATCHED.redis_clients.remove(redis_client)
