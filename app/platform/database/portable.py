"""SQL that means the same on Postgres (production, the tests) and on SQLite (the embedded,
single-process development mode): the database's clock, timestamps, JSON, "insert unless it
exists", the latest of several times.

Postgres is the record and the reference; SQLite only has to behave the same for one process.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import JSON, DateTime, Float, case, func, literal
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import CursorResult, Dialect, Result
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import functions
from sqlalchemy.sql.expression import ColumnElement, FunctionElement
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """`timestamptz` on Postgres; on SQLite, UTC text read back as an aware datetime."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and dialect.name == "sqlite":
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def json_document(*, none_as_null: bool = False) -> Any:
    """JSONB on Postgres, JSON text elsewhere."""
    return JSON(none_as_null=none_as_null).with_variant(
        JSONB(none_as_null=none_as_null), "postgresql"
    )


class _DbNow(FunctionElement[datetime]):
    type = UtcDateTime()
    name = "db_now"
    inherit_cache = True


def db_now(offset: timedelta | ColumnElement[float] | None = None) -> ColumnElement[datetime]:
    """The database's wall clock (plus `offset`), not now(): one clock for every replica's
    leases, and a long transaction must not see a lease as fresher than it is.

    `offset` may be a bound parameter (seconds), for a statement built once and reused."""
    if isinstance(offset, ColumnElement):
        return _DbNow(offset)
    seconds = offset.total_seconds() if offset is not None else 0.0
    return _DbNow(literal(seconds, Float))


@compiles(_DbNow, "postgresql")
def _db_now_postgres(element: _DbNow, compiler: Any, **kw: Any) -> str:
    (seconds,) = element.clauses
    return f"(clock_timestamp() + make_interval(secs => {compiler.process(seconds, **kw)}))"


@compiles(_DbNow, "sqlite")
def _db_now_sqlite(element: _DbNow, compiler: Any, **kw: Any) -> str:
    # The same text form SQLAlchemy stores, so that comparisons between the two are in order.
    (seconds,) = element.clauses
    offset = compiler.process(seconds, **kw)
    return f"strftime('%Y-%m-%d %H:%M:%f', 'now', ({offset}) || ' seconds')"


@compiles(functions.now, "sqlite")
def _now_sqlite(element: functions.now, compiler: Any, **kw: Any) -> str:
    # SQLite's CURRENT_TIMESTAMP has whole seconds, so rows made within one second (two orders)
    # would list in no particular order; this is SQLAlchemy's own text form, microseconds too.
    return "(strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')"


def insert_unless_present(session: AsyncSession, model: Any, index_elements: list[str]) -> Any:
    """INSERT ... ON CONFLICT (index_elements) DO NOTHING, in the session's dialect."""
    assert session.bind is not None
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    return dialect.insert(model).on_conflict_do_nothing(index_elements=index_elements)


def latest(*times: Any) -> ColumnElement[datetime]:
    """The latest of several timestamps, ignoring NULLs (Postgres's greatest(), portably)."""
    result: ColumnElement[datetime] = func.coalesce(times[0], times[-1])
    for value in times[1:]:
        value = func.coalesce(value, result)
        result = case((value > result, value), else_=result)
    return result


def in_list(column: str, values: tuple[str, ...]) -> str:
    """A CHECK constraint's text: `column` holds one of `values`."""
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


def rows_affected(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE changed (its result is a cursor's, which knows)."""
    return cast(CursorResult[Any], result).rowcount
