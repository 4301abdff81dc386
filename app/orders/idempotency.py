"""Statements on `idempotency_keys`. The caller owns the transaction: nothing here commits."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.orders.tables import IdempotencyKey
from app.orders.vocabulary import IdempotencyState
from app.platform.database.portable import db_now, insert_unless_present, rows_affected

# The one answer a key stores is the order its request placed, which the storefront gets as 201
# (the column keeps the status so that the record says in full what was answered).
STORED_ANSWER_STATUS = 201


class ClaimOutcome(enum.StrEnum):
    CLAIMED = "claimed"  # a new key: the caller owns it and places the order
    IN_PROGRESS = "held"  # same body, another request holds a live claim: 409
    COMPLETED = "completed"  # same body, finished: replay the stored response
    MISMATCH = "mismatch"  # another body under this key: 422
    RECLAIMABLE = "reclaimable"  # same body, the earlier attempt's claim expired (it crashed)


@dataclass(frozen=True, slots=True)
class ClaimResult:
    outcome: ClaimOutcome
    # CLAIMED: the order id passed in. RECLAIMABLE, IN_PROGRESS, COMPLETED: the order the key
    # already refers to (resolve it; never create another). MISMATCH: None.
    order_id: str | None = None
    response_status: int | None = None
    response_body: Any = None


class IdempotencyClaimError(RuntimeError):
    """The key kept appearing and disappearing under us; practically never happens."""


# Statements on the table itself (SQLAlchemy Core): the writes here need none of the ORM's
# bookkeeping, which costs more CPU than the statement's round trip.
_KEYS = cast(Table, IdempotencyKey.__table__)


def _the_key(user_id: str, key: str) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """The condition naming one record: this user's key."""
    return (_KEYS.c.user_id == user_id, _KEYS.c.key == key)


_IN_PROGRESS = _KEYS.c.state == IdempotencyState.IN_PROGRESS

# `complete`'s statement, built once: building an UPDATE per call cost more CPU than executing
# it. The ``p_`` names: SQLAlchemy takes a SET column's own name for its implicit parameter.
_COMPLETE = (
    update(_KEYS)
    .where(
        _KEYS.c.user_id == bindparam("p_user_id", type_=_KEYS.c.user_id.type),
        _KEYS.c.key == bindparam("p_key", type_=_KEYS.c.key.type),
        _KEYS.c.order_id == bindparam("p_order_id", type_=_KEYS.c.order_id.type),
    )
    .values(
        state=IdempotencyState.COMPLETED,
        response_status=bindparam("p_status", type_=_KEYS.c.response_status.type),
        response_body=bindparam("p_body", type_=_KEYS.c.response_body.type),
    )
)


def claimed_values(
    user_id: str | ColumnElement[str],
    key: str | ColumnElement[str],
    fingerprint: str | ColumnElement[str],
    order_id: str | ColumnElement[str],
    lock: timedelta | ColumnElement[float],
    ttl: timedelta | ColumnElement[float],
) -> dict[str, Any]:
    """The columns of a fresh claim (values or bound parameters; `lock` and `ttl` from now)."""
    return {
        "user_id": user_id,
        "key": key,
        "fingerprint": fingerprint,
        "state": IdempotencyState.IN_PROGRESS,
        "order_id": order_id,
        "locked_until": db_now(lock),
        "created_at": db_now(),
        "expires_at": db_now(ttl),
    }


class IdempotencyRepository:
    """Idempotency records, one per (user, key)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(
        self,
        user_id: str,
        key: str,
        fingerprint: str,
        order_id: str,
        lock_seconds: float,
        ttl_seconds: float,
    ) -> ClaimResult:
        """Claim the key for a request, or say why not.

        CLAIMED and RECLAIMABLE leave the caller holding the claim (row locked until its
        transaction ends, and `locked_until` refreshed). After CLAIMED the caller must insert the
        order `order_id` in the same transaction (the foreign key is checked at commit).
        """
        lock = timedelta(seconds=lock_seconds)
        ttl = timedelta(seconds=ttl_seconds)
        # A concurrent insert of the same key makes ours wait for that transaction; once it
        # commits we fall through to the SELECT, and if it rolled back our insert wins. The
        # loop only repeats when the row vanished in between (released or purged).
        for _ in range(3):
            inserted = await self.session.execute(
                insert_unless_present(self.session, IdempotencyKey, ["user_id", "key"])
                .values(claimed_values(user_id, key, fingerprint, order_id, lock, ttl))
                .returning(_KEYS.c.order_id)
            )
            if inserted.first() is not None:
                return ClaimResult(ClaimOutcome.CLAIMED, order_id=order_id)

            existing = (
                await self.session.execute(
                    select(
                        _KEYS.c.fingerprint,
                        _KEYS.c.state,
                        _KEYS.c.order_id,
                        _KEYS.c.response_status,
                        _KEYS.c.response_body,
                        (_KEYS.c.locked_until > db_now()).label("locked"),
                        (_KEYS.c.expires_at <= db_now()).label("expired"),
                    )
                    .where(*_the_key(user_id, key))
                    .with_for_update()
                )
            ).first()
            if existing is None:
                continue

            if existing.expired:
                # Past its retention: the key is new again (the old order stays as it is).
                await self._overwrite(user_id, key, fingerprint, order_id, lock, ttl)
                return ClaimResult(ClaimOutcome.CLAIMED, order_id=order_id)
            if existing.fingerprint != fingerprint:
                return ClaimResult(ClaimOutcome.MISMATCH)
            if existing.state == IdempotencyState.COMPLETED:
                return ClaimResult(
                    ClaimOutcome.COMPLETED,
                    order_id=existing.order_id,
                    response_status=existing.response_status,
                    response_body=existing.response_body,
                )
            if existing.locked:
                return ClaimResult(ClaimOutcome.IN_PROGRESS, order_id=existing.order_id)
            await self._update(*_the_key(user_id, key), locked_until=db_now(lock))
            return ClaimResult(ClaimOutcome.RECLAIMABLE, order_id=existing.order_id)
        raise IdempotencyClaimError("idempotency key could not be claimed")

    async def complete(self, user_id: str, key: str, order_id: str, status: int, body: Any) -> bool:
        """Store the answer to replay; False unless the key still refers to `order_id`."""
        # Every placement's last write: built once, its values bound (see _COMPLETE).
        connection = await self.session.connection()
        params = {
            "p_user_id": user_id,
            "p_key": key,
            "p_order_id": order_id,
            "p_status": status,
            "p_body": body,
        }
        return rows_affected(await connection.execute(_COMPLETE, params)) == 1

    async def move(
        self, user_id: str, key: str, from_order: str, to_order: str, status: int, body: Any
    ) -> bool:
        """Point the key at another order with its answer (the key's own order was never
        placed, the other one was placed for it); False unless the key referred to
        `from_order`."""
        changed = await self._update(
            *_the_key(user_id, key),
            _KEYS.c.order_id == from_order,
            order_id=to_order,
            state=IdempotencyState.COMPLETED,
            response_status=status,
            response_body=body,
        )
        return changed == 1

    async def unlock(self, user_id: str, key: str, order_id: str) -> bool:
        """End the claim's lock early: the request is over, and a retry may resume at once."""
        changed = await self._update(
            *_the_key(user_id, key),
            _KEYS.c.order_id == order_id,
            _IN_PROGRESS,
            locked_until=db_now(),
        )
        return changed == 1

    async def complete_for_order(self, order_id: str, status: int, body: Any) -> int:
        """Store the answer on the in-progress key of an order (the reconciler settled it)."""
        return await self._update(
            _KEYS.c.order_id == order_id,
            _IN_PROGRESS,
            state=IdempotencyState.COMPLETED,
            response_status=status,
            response_body=body,
        )

    async def release_for_order(self, order_id: str) -> int:
        """Give back the in-progress key of an order that was never placed."""
        return await self._delete(_KEYS.c.order_id == order_id, _IN_PROGRESS)

    async def release(self, user_id: str, key: str) -> bool:
        """Forget an in-progress claim (the request failed before anything reached Instacart)."""
        return await self._delete(*_the_key(user_id, key), _IN_PROGRESS) == 1

    async def get(self, user_id: str, key: str) -> IdempotencyKey | None:
        stmt = select(IdempotencyKey).where(*_the_key(user_id, key))
        return (
            await self.session.execute(stmt.execution_options(populate_existing=True))
        ).scalar_one_or_none()

    async def purge_expired(self, now: datetime) -> int:
        """Delete records past their retention; returns how many."""
        return await self._delete(_KEYS.c.expires_at <= now)

    async def _overwrite(
        self,
        user_id: str,
        key: str,
        fingerprint: str,
        order_id: str,
        lock: timedelta,
        ttl: timedelta,
    ) -> None:
        fresh = claimed_values(user_id, key, fingerprint, order_id, lock, ttl)
        del fresh["user_id"], fresh["key"]
        await self._update(
            *_the_key(user_id, key), response_status=None, response_body=None, **fresh
        )

    # Every write is one guarded statement whose row count tells the caller whether it held.
    async def _update(self, *where: ColumnElement[bool], **values: Any) -> int:
        result = await self.session.execute(update(_KEYS).where(*where).values(**values))
        return rows_affected(result)

    async def _delete(self, *where: ColumnElement[bool]) -> int:
        result = await self.session.execute(delete(_KEYS).where(*where))
        return rows_affected(result)
