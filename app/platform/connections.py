"""The long-lived clients of a process: Redis and the database engine.

``build_redis`` reads ``BFF_REDIS_URL`` (and ``BFF_REDIS_CLUSTER``) and returns one client the
rest of the app uses the same way, whether Redis is one server, a Sentinel-managed master or a
Redis Cluster. The app keeps to what works on all three: single-key commands, Lua and
transactions on one key or on keys sharing a hash tag (``{...}``), and classic pub/sub.
``build_engine`` turns prepared-statement caching off for PgBouncer in transaction mode, and
pings a pooled connection before use only when it has been idle.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from functools import cache
from typing import Any, TypeAlias, cast

import redis.asyncio as redis
from redis.asyncio.cluster import ClusterPubSub, RedisCluster
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.driver_info import DriverInfo
from redis.exceptions import ClusterDownError, RedisClusterException, SlotNotCoveredError
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.platform.pool_gauges import WaitCountingQueuePool
from app.platform.redis_urls import (
    SentinelTarget,
    check_redis_url,
    is_sentinel_url,
    parse_sentinel_url,
    scheme_of,
)
from app.settings import Settings

# What build_redis returns; the app's modules annotate it as redis.asyncio.Redis.
RedisClient: TypeAlias = "redis.Redis | ClusterClient"


def build_redis(
    settings: Settings, *, max_connections: int | None = None, blocking: bool = True
) -> RedisClient:
    """A Redis client with a sized pool and timeouts on every step.

    ``blocking``: callers wait up to the pool timeout for a connection instead of failing
    when a burst exceeds the pool. A Redis Cluster client holds a pool per node, which never
    blocks: past ``max_connections`` on a node a command fails as if Redis were down.
    Raises ValueError for a URL it cannot use (the message never quotes the URL).
    No URL is a ValueError: development mode (app/dev/) brings its own in-process Redis.
    """
    size = max_connections or settings.redis_max_connections
    if settings.redis_url is None:
        raise ValueError("no BFF_REDIS_URL: development mode embeds Redis (app/dev/embedded.py)")
    timeouts: dict[str, Any] = {
        "socket_timeout": settings.redis_socket_timeout_seconds,
        "socket_connect_timeout": settings.redis_socket_timeout_seconds,
        "driver_info": driver_info(),
    }
    check_redis_url(settings.redis_url)
    if settings.redis_cluster:
        if scheme_of(settings.redis_url) not in ("redis", "rediss"):
            raise ValueError(
                "with BFF_REDIS_CLUSTER, BFF_REDIS_URL is a redis:// or rediss:// seed"
            )
        # from_url is inherited from RedisCluster, typed as returning one; it builds this class.
        return cast(
            ClusterClient,
            ClusterClient.from_url(settings.redis_url, max_connections=size, **timeouts),
        )
    pool_kwargs = {"timeout": settings.redis_pool_timeout_seconds} if blocking else {}
    if is_sentinel_url(settings.redis_url):
        target = parse_sentinel_url(settings.redis_url)
        return _sentinel_master(target, settings, size, blocking, timeouts | pool_kwargs)
    pool_class = redis.BlockingConnectionPool if blocking else redis.ConnectionPool
    pool = pool_class.from_url(settings.redis_url, max_connections=size, **timeouts, **pool_kwargs)
    return redis.Redis.from_pool(pool)


@cache
def driver_info() -> DriverInfo:
    """What each connection tells Redis about its client (CLIENT SETINFO), built once: given
    none, redis-py 8 looks its own version up in the installed packages' metadata for every
    new connection, 0.5 ms of CPU each (docs/performance.md, "Per-request overhead")."""
    return DriverInfo()


async def ping_redis(client: RedisClient) -> None:
    """Readiness: one round trip. On a cluster, to one fixed node rather than every node, so a
    replica that is down does not take every pod of the fleet out of rotation at once."""
    if isinstance(client, RedisCluster):
        await client.ping(target_nodes=RedisCluster.DEFAULT_NODE)
    else:
        await client.ping()


class ClusterClient(RedisCluster):
    """redis-py's RedisCluster, with the gaps that the app would trip over filled."""

    async def initialize(self, *args: Any, **kwargs: Any) -> ClusterClient:
        try:
            await super().initialize(*args, **kwargs)
        except RedisClusterException as exc:
            # "Cannot connect to any node" is no RedisError, and every caller here steps
            # aside on RedisError/OSError when Redis is down.
            raise RedisConnectionError(f"Redis Cluster unavailable: {exc}") from exc
        return self

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().execute_command(*args, **kwargs)
        except (ClusterDownError, SlotNotCoveredError) as exc:
            # Slots without a primary (one lost, its replica not promoted yet) are Redis being
            # down for those keys: callers step aside as they do for a lost connection.
            raise RedisConnectionError(f"Redis Cluster cannot serve the key: {exc}") from exc

    def pubsub(self, **kwargs: Any) -> ClusterPubSub:  # type: ignore[override]  # narrower kwargs
        return _ClusterPubSub(self, **kwargs)


class _ClusterPubSub(ClusterPubSub):
    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        # redis-py looks the channel's node up in the slot table, which the client only fills
        # on its first command: a client that has only ever subscribed fails with a KeyError.
        await self.cluster.initialize()  # a no-op once initialized
        return await super().execute_command(*args, **kwargs)


class _BlockingSentinelConnectionPool(SentinelConnectionPool, redis.BlockingConnectionPool):
    """The master's pool waits for a free connection, like the single-server pool."""


class _SentinelMaster(redis.Redis):
    """The master's client; closing it also closes its connections to the sentinels."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        # A sentinel pool has a manager; redis-py types the attribute on the base pool.
        for sentinel in self.connection_pool.sentinel_manager.sentinels:  # type: ignore[attr-defined]
            await sentinel.aclose()


def _sentinel_master(
    target: SentinelTarget,
    settings: Settings,
    size: int,
    blocking: bool,
    kwargs: dict[str, Any],
) -> redis.Redis:
    password = settings.redis_sentinel_password
    sentinel_kwargs: dict[str, Any] = {
        "socket_timeout": settings.redis_socket_timeout_seconds,
        "socket_connect_timeout": settings.redis_socket_timeout_seconds,
        "ssl": target.ssl,
    }
    if password is not None:
        sentinel_kwargs["password"] = password.get_secret_value()
    sentinel = Sentinel(  # type: ignore[no-untyped-call]  # unannotated in redis-py
        list(target.sentinels), sentinel_kwargs=sentinel_kwargs
    )
    master: redis.Redis = sentinel.master_for(
        target.service_name,
        redis_class=_SentinelMaster,
        connection_pool_class=(
            _BlockingSentinelConnectionPool if blocking else SentinelConnectionPool
        ),
        max_connections=size,
        db=target.db,
        username=target.username,
        password=target.password,
        ssl=target.ssl,
        **kwargs,
    )
    return master


# A connection back in the pool for less than this is taken as alive. pool_pre_ping checked
# every one before use with three round trips (BEGIN, a statement, ROLLBACK), nearly half of a
# checkout's round trips to Postgres; a connection idle longer is still pinged before use.
PING_AFTER_IDLE_SECONDS = 1.0
_IDLE_SINCE = "bff_idle_since"  # in each pooled connection's info: when it was last returned


def build_engine(
    settings: Settings,
    *,
    ping_after_idle_seconds: float = PING_AFTER_IDLE_SECONDS,
    monotonic: Callable[[], float] = time.monotonic,
) -> AsyncEngine:
    if settings.database_url is None:
        raise ValueError(
            "no BFF_DATABASE_URL: resolve the embedded parts first (app/dev/embedded.py)"
        )
    connect_args: dict[str, Any] = {}
    if settings.database_pgbouncer:
        # PgBouncer in transaction mode hands each transaction whichever server connection is
        # free, so a statement prepared in one transaction is missing (or, by its per-connection
        # numbered name, already taken) in the next. asyncpg's and SQLAlchemy's statement caches
        # go; SQLAlchemy still prepares each statement inside its transaction, under a name no
        # other client can be using.
        connect_args = {
            "statement_cache_size": 0,
            "prepared_statement_cache_size": 0,
            "prepared_statement_name_func": _unique_statement_name,
        }
    engine = create_async_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size,
        poolclass=WaitCountingQueuePool,
        pool_timeout=5,
        connect_args=connect_args,
    )
    _ping_when_idle(engine, ping_after_idle_seconds, monotonic)
    return engine


def _ping_when_idle(
    engine: AsyncEngine, idle_seconds: float, monotonic: Callable[[], float]
) -> None:
    """Ping a pooled connection before use only when it sat idle for `idle_seconds`.

    One used a moment ago that has died since (Postgres restarted) fails its statement; the
    engine then treats it as a disconnect and replaces every older pooled connection, so only
    requests already on their way find the old ones.
    """
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    def fresh(_dbapi: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = monotonic()

    def check(dbapi: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is not None and monotonic() - since < idle_seconds:
            return
        try:
            dialect.do_ping(dbapi)
        except Exception as exc:
            # The pool replaces the connection and tries again (a new one is not pinged).
            raise DisconnectionError("pooled connection failed its ping") from exc

    event.listen(pool, "connect", fresh)
    event.listen(pool, "checkin", fresh)
    event.listen(pool, "checkout", check)


def _unique_statement_name() -> str:
    return f"__asyncpg_{uuid.uuid4().hex}__"
