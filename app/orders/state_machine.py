"""The order state machine: every placement state, every allowed move, and who may make it.

Every write of an order's state goes through `OrderStateMachine`, and each is one guarded
UPDATE: it names the states it may leave from, and, for the moves of an actor that talks to
Instacart, the attempt number that actor holds (a fencing token). A stale actor (its lease ran
out and someone else took a newer attempt) therefore cannot overwrite a newer decision, and a
write that changed nothing comes back as None for the caller to handle; it is also counted.

The one move that is never fenced is `confirm`: when Instacart has the order, the customer must
see it, whatever the row's state (even `failed`) and whoever learnt it.

Placement states:

    pending   intent recorded; an actor holding the lease may be creating it upstream
    unknown   the last create had an ambiguous outcome; settled by looking the order up
    created   Instacart has the order (the only state the customer sees)
    failed    Instacart definitively refused it, or a lookup showed it was never placed
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import structlog
from sqlalchemy import Table, Update, and_, bindparam, case, func, literal, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from app.orders.tables import OrderRow
from app.orders.vocabulary import (
    STATUS_RANKS,
    TERMINAL_STATUSES,
    PlacementState,
    is_known_status,
)
from app.platform.database.portable import db_now
from app.platform.metrics import ORDER_TRANSITIONS

log = structlog.get_logger("app.orders.state_machine")

_orders = cast(Table, OrderRow.__table__)
_COLUMNS = tuple(column.key for column in _orders.c)


class Actor(enum.StrEnum):
    REQUEST = "request"  # the first placement request, which wrote the intent
    RETRY = "retry"  # a later request with the same Idempotency-Key, resuming the placement
    RECONCILER = "reconciler"  # the background settler of abandoned placements
    CALLBACK = "callback"  # Instacart telling us about the order
    READER = "reader"  # a user's read, cancel or staging that saw a newer upstream status


@dataclass(frozen=True, slots=True)
class Transition:
    name: str
    sources: frozenset[PlacementState]
    target: PlacementState | None  # None: the placement state stays as it is
    actors: frozenset[Actor]
    fenced: bool  # only for the holder of the current attempt
    leases: bool = False  # starts a new attempt; only when no live lease exists


_P, _U, _C, _F = (
    PlacementState.PENDING,
    PlacementState.UNKNOWN,
    PlacementState.CREATED,
    PlacementState.FAILED,
)
_UNRESOLVED = frozenset({_P, _U})
# Whoever may be placing the order: the first request, a retry with its key, the reconciler.
_PLACERS = frozenset({Actor.REQUEST, Actor.RETRY, Actor.RECONCILER})

BEGIN_ATTEMPT = Transition(
    "begin_attempt", _UNRESOLVED, _P, frozenset({Actor.RETRY, Actor.RECONCILER}), True, True
)
RENEW_LEASE = Transition("renew_lease", _UNRESOLVED, None, _PLACERS, True)
RECORD_UNKNOWN = Transition("record_unknown", _UNRESOLVED, _U, _PLACERS, True)
RECORD_FAILED = Transition("record_failed", _UNRESOLVED, _F, _PLACERS, True)
CONFIRM = Transition("confirm", frozenset({_P, _U, _F}), _C, frozenset(Actor), False)
RECORD_STATUS = Transition(
    "record_status",
    frozenset({_C}),
    None,
    frozenset({Actor.READER, Actor.RECONCILER, Actor.CALLBACK}),
    False,
)

# What Instacart's getOrder (or a cancel's or a staging's answer) says the status is now. Not
# ranked: the real API moves orders back (picking -> rescheduled -> acknowledged), and when the
# callbacks of those moves are lost only the lookup can bring the order back in step.
RECORD_LOOKUP = Transition(
    "record_lookup", frozenset({_C}), None, frozenset({Actor.READER, Actor.RECONCILER}), False
)

RECORD_CHECKED = Transition(
    "record_checked", frozenset({_C}), None, frozenset({Actor.RECONCILER}), False
)

TRANSITIONS = (
    BEGIN_ATTEMPT,
    RENEW_LEASE,
    RECORD_UNKNOWN,
    RECORD_FAILED,
    CONFIRM,
    RECORD_STATUS,
    RECORD_LOOKUP,
    RECORD_CHECKED,
)


def _rank(column: Any) -> Any:
    return case(
        *((column == status, literal(rank)) for status, rank in STATUS_RANKS.items()),
        else_=None,
    )


def _status_values(status: str, at: datetime) -> dict[str, Any]:
    """The columns an Instacart status seen at `at` writes."""
    return {
        "status": status,
        "status_updated_at": at,
        # A repeat of the same status moves its time, not what the customer sees.
        "version": case(
            (OrderRow.status.is_distinct_from(status), OrderRow.version + 1),
            else_=OrderRow.version,
        ),
    }


@functools.cache
def _confirm_statement(with_status: bool, with_items: bool) -> Update:
    """`confirm`'s guarded UPDATE, the same as `_apply` builds, with the order id, the status
    and the items as bound parameters (``p_``: a SET column's name is taken by SQLAlchemy)."""
    values: dict[str, Any] = {
        "failure_code": None,
        "failure_detail": None,
        "lease_until": None,
        "version": OrderRow.version + 1,  # it has just become the customer's
        "placement_state": _C.value,
        "updated_at": func.now(),
    }
    if with_status:
        # A callback that arrived first carries a newer status than the create's answer.
        status = bindparam("p_status", type_=_orders.c.status.type)
        values["status"] = case(
            (OrderRow.status_updated_at.is_(None), status), else_=OrderRow.status
        )
    if with_items:
        values["items"] = bindparam("p_items", type_=_orders.c["items"].type)
    return (
        update(_orders)
        .where(
            OrderRow.id == bindparam("p_order_id", type_=_orders.c.id.type),
            OrderRow.placement_state.in_(CONFIRM.sources),
        )
        .values(**values)
        .returning(*_orders.c)
    )


class OrderStateMachine:
    """Guarded writes of order state. The caller owns the transaction: nothing here commits."""

    def __init__(self, session: AsyncSession, *, lease_seconds: float | None = None) -> None:
        self.session = session
        # Only actors that call Instacart about a placement take leases.
        self.lease = timedelta(seconds=lease_seconds) if lease_seconds is not None else None

    async def begin_attempt(
        self, order_id: str, seen_attempt: int, actor: Actor
    ) -> OrderRow | None:
        """Take over an unresolved placement: a new attempt number and a lease.

        None when someone else holds a live lease or began an attempt since `seen_attempt`.
        """
        if self.lease is None:
            raise ValueError("begin_attempt needs lease_seconds")
        values = {"attempt": OrderRow.attempt + 1, "lease_until": db_now(self.lease)}
        return await self._apply(BEGIN_ATTEMPT, actor, order_id, values, attempt=seen_attempt)

    async def renew_lease(self, order_id: str, attempt: int, actor: Actor) -> OrderRow | None:
        """The holder is still at work: extend its lease. None once it has been superseded
        or the lease has ended (an outcome was recorded, which clears it)."""
        if self.lease is None:
            raise ValueError("renew_lease needs lease_seconds")
        values = {"lease_until": db_now(self.lease)}
        # A heartbeat that commits after its holder recorded the outcome must not bring the
        # lease back: a retry would be told "in progress" and the reconciler kept away while
        # nobody is at work. Postgres re-checks this on the row the outcome committed.
        live = OrderRow.lease_until.is_not(None)
        return await self._apply(RENEW_LEASE, actor, order_id, values, attempt=attempt, extra=live)

    async def record_unknown(self, order_id: str, attempt: int, actor: Actor) -> OrderRow | None:
        """The create's outcome is ambiguous: leave it for a lookup, and end the lease."""
        return await self._apply(
            RECORD_UNKNOWN, actor, order_id, {"lease_until": None}, attempt=attempt
        )

    async def record_failed(
        self, order_id: str, attempt: int, actor: Actor, code: str, detail: str | None
    ) -> OrderRow | None:
        """Instacart refused the order, or a lookup showed it was never placed."""
        values = {"failure_code": code, "failure_detail": detail, "lease_until": None}
        return await self._apply(RECORD_FAILED, actor, order_id, values, attempt=attempt)

    async def confirm(
        self,
        order_id: str,
        actor: Actor,
        status: str | None,
        items: list[dict[str, Any]] | None = None,
    ) -> OrderRow | None:
        """Instacart has the order: it becomes the customer's, from any state but `created`.

        None when it was already created (another actor confirmed it first).
        """
        if actor not in CONFIRM.actors:
            raise ValueError(f"{actor} may not {CONFIRM.name}")
        # The write of every placement: one statement per shape, built once (building it cost
        # more CPU than the round trip), the values bound at execution.
        with_status = status is not None and is_known_status(status)
        stmt = _confirm_statement(with_status, items is not None)
        params: dict[str, Any] = {"p_order_id": order_id}
        if with_status:
            params["p_status"] = status
        if items is not None:
            params["p_items"] = items
        row = await self._write(stmt, params)
        return self._recorded(CONFIRM, actor, order_id, None, row)

    async def record_status(
        self, order_id: str, actor: Actor, status: str, at: datetime
    ) -> OrderRow | None:
        """Apply a status seen at `at`, only forward. None when it is stale: one seen later (or
        at the same time, unless `status` is a later step) is applied, the order has ended, or
        `status` is an earlier step."""
        if not is_known_status(status):
            self._refuse_unknown_status(order_id, actor, status)
            return None
        rank = STATUS_RANKS.get(status)
        current = _rank(OrderRow.status)
        # Instacart's timestamps have whole seconds: two steps in one second are told apart by
        # the workflow, so a later step at the same instant still applies.
        same_instant_but_later_step = (
            and_(OrderRow.status_updated_at == at, current.is_not(None), current < rank)
            if rank is not None
            else literal(False)
        )
        guards = [
            or_(
                OrderRow.status_updated_at.is_(None),
                OrderRow.status_updated_at < at,
                same_instant_but_later_step,
            ),
            or_(OrderRow.status.is_(None), OrderRow.status.notin_(TERMINAL_STATUSES)),
        ]
        if rank is not None:
            guards.append(or_(current.is_(None), current <= rank))
        return await self._apply(
            RECORD_STATUS, actor, order_id, _status_values(status, at), extra=and_(*guards)
        )

    async def record_lookup(
        self, order_id: str, actor: Actor, status: str, asked_at: datetime
    ) -> OrderRow | None:
        """Apply the status Instacart answered to a lookup sent at `asked_at`, in whatever
        direction it moves the order. None only when an event dated after the lookup was sent
        has been applied since (its news is newer than the answer)."""
        # Instacart dates events in whole seconds: on the same grid, an event of the second the
        # lookup was sent is not taken for a newer one, and a callback of that second that is a
        # later step still applies after it (record_status's same-instant rule).
        if not is_known_status(status):
            self._refuse_unknown_status(order_id, actor, status)
            return None
        at = asked_at.replace(microsecond=0)
        not_newer = or_(OrderRow.status_updated_at.is_(None), OrderRow.status_updated_at <= at)
        return await self._apply(
            RECORD_LOOKUP, actor, order_id, _status_values(status, at), extra=not_newer
        )

    def _refuse_unknown_status(self, order_id: str, actor: Actor, status: str) -> None:
        """A status outside the vocabulary is never shown: the order keeps its last known one."""
        ORDER_TRANSITIONS.labels("unknown_status", actor.value, "refused").inc()
        # The name itself is Instacart's text: its length only, never its content, in the log.
        log.warning("order.status_unknown", order_id=order_id, length=len(status))

    async def record_checked(self, order_id: str, actor: Actor) -> OrderRow | None:
        """Instacart was asked about the order (whatever it said): not again for a while."""
        return await self._apply(RECORD_CHECKED, actor, order_id, {"checked_at": db_now()})

    async def _apply(
        self,
        transition: Transition,
        actor: Actor,
        order_id: str,
        values: dict[str, Any],
        *,
        attempt: int | None = None,
        extra: Any = None,
    ) -> OrderRow | None:
        if actor not in transition.actors:
            raise ValueError(f"{actor} may not {transition.name}")
        conditions = [OrderRow.id == order_id, OrderRow.placement_state.in_(transition.sources)]
        if transition.fenced:
            if attempt is None:
                raise ValueError(f"{transition.name} needs the actor's attempt number")
            conditions.append(OrderRow.attempt == attempt)
        if transition.leases:
            conditions.append(or_(OrderRow.lease_until.is_(None), OrderRow.lease_until <= db_now()))
        if extra is not None:
            conditions.append(extra)
        if transition.target is not None:
            values = {**values, "placement_state": transition.target.value}
        stmt = (
            update(_orders)
            .where(*conditions)
            .values(**values, updated_at=func.now())
            .returning(*_orders.c)
        )
        row = await self._write(stmt, {})
        return self._recorded(transition, actor, order_id, attempt, row)

    async def _write(self, stmt: Update, params: dict[str, Any]) -> OrderRow | None:
        # A Core UPDATE on the table: the ORM's bulk-update machinery (compile state, session
        # synchronisation) cost about as much CPU as the round trip.
        connection = await self.session.connection()
        found = (await connection.execute(stmt, params)).one_or_none()
        return None if found is None else self._row(found._mapping)

    def _recorded(
        self,
        transition: Transition,
        actor: Actor,
        order_id: str,
        attempt: int | None,
        row: OrderRow | None,
    ) -> OrderRow | None:
        result = "applied" if row is not None else "refused"
        ORDER_TRANSITIONS.labels(transition.name, actor.value, result).inc()
        if row is None:
            log.info(
                "order.transition.refused",
                transition=transition.name,
                actor=actor.value,
                order_id=order_id,
                attempt=attempt,
            )
        return row

    def _row(self, mapping: Any) -> OrderRow:
        """The written row as an `OrderRow`: the session's own copy brought up to date (what
        `populate_existing` did), or a detached one that the session never flushes."""
        key = identity_key(OrderRow, (mapping["id"],))
        present = self.session.identity_map.get(key)
        if isinstance(present, OrderRow):
            for name in _COLUMNS:
                set_committed_value(present, name, mapping[name])
            return present
        row = OrderRow(**{name: mapping[name] for name in _COLUMNS})
        make_transient_to_detached(row)
        return row
