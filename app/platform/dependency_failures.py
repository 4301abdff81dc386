"""Which exceptions mean "Postgres or Redis is unreachable", wherever they surface.

A dependency that is down is a 503 with Retry-After, never a 500; this is the one list of the
errors that say so, walked through the exception's causes (SQLAlchemy wraps asyncpg's errors,
and asyncpg lets the socket's OSError through when it cannot connect at all).
"""

from __future__ import annotations

import asyncpg
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import InterfaceError as SAInterfaceError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

DEPENDENCY_FAILURES: tuple[type[Exception], ...] = (
    OSError,  # connection refused or reset, before any protocol
    TimeoutError,  # a connect that did not finish in time (an OSError too, said for clarity)
    PoolTimeoutError,  # every pooled connection busy for the pool's timeout
    SAInterfaceError,
    asyncpg.PostgresConnectionError,  # e.g. "the database system is shutting down"
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    RedisConnectionError,
    RedisTimeoutError,
)


def is_dependency_failure(exc: BaseException) -> bool:
    """True when `exc`, or an exception that caused it, says a dependency is unreachable."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DEPENDENCY_FAILURES):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        current = current.__cause__ or current.__context__
    return False
