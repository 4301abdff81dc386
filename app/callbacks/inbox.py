"""Instacart's callbacks: stored once in an inbox, then applied through the state machine.

Delivery is at least once and in no particular order (UPSTREAM.md section 3). So the receiver
stores each event keyed by `event_id` (a second delivery changes nothing) and answers at once;
applying happens next, in the background: an event only moves its order forward (an older
event, or one that would move the status backwards, is recorded as `stale`), an order that is
not yet recorded as placed becomes the customer's (Instacart has it: the callback is one more
actor of the state machine), and decisive statuses are confirmed with getOrder before they are
shown. An event that cannot be applied yet (getOrder failing, a crash) stays `received`, and
the reconciler applies it again later.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import structlog
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.callbacks.repository import CallbackEventsRepository
from app.instacart.client import InstacartClient
from app.instacart.errors import InstacartError
from app.orders.events import OrderEvents
from app.orders.outcomes import PlacementOutcomes
from app.orders.repository import OrdersRepository
from app.orders.state_machine import Actor, OrderStateMachine
from app.orders.tables import OrderRow
from app.orders.vocabulary import (
    DECISIVE_STATUSES,
    OrderStatus,
    PlacementState,
    is_known_status,
)
from app.platform.metrics import CALLBACKS
from app.platform.schema_types import without_nul

log = structlog.get_logger("app.callbacks.inbox")

EVENT_PREFIX = "fulfillment."
# Metric labels: the statuses we know, everything else is "other" (bounded cardinality).
_KNOWN_LABELS = frozenset(OrderStatus)
# Instacart's clocks and ours may differ by seconds; an event dated further ahead than this is
# taken as dated now, so that no event can freeze an order (every later one would be "older").
MAX_CLOCK_AHEAD = timedelta(minutes=5)


_RFC3339_START = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _timestamp_text(value: object) -> object:
    # Instacart sends RFC 3339 text; pydantic would also take a number (or digits) as a Unix
    # time, which the documented schema (a date-time string) does not allow.
    if not isinstance(value, str) or not _RFC3339_START.match(value):
        raise ValueError("event_timestamp must be an RFC 3339 date-time string")
    return value


class CallbackMetadata(BaseModel):
    """What the event is about."""

    model_config = ConfigDict(extra="allow")

    order_id: str = Field(
        min_length=1, max_length=128, description="The order's id (the retailer's)."
    )


class CallbackEventIn(BaseModel):
    """One callback as Instacart sends it; fields it may add later are kept, not refused."""

    model_config = ConfigDict(extra="allow")

    @model_validator(mode="before")
    @classmethod
    def _without_nul(cls, data: Any) -> Any:
        # Stored as sent (metadata as JSONB), where Postgres refuses a NUL (it was a 500).
        return without_nul(data)

    event_id: int = Field(ge=0, le=2**63 - 1)
    event_name: str = Field(
        min_length=1,
        max_length=100,
        description="`fulfillment.<status>` for a status change; other names are kept, not "
        "applied.",
    )
    event_timestamp: Annotated[
        AwareDatetime,
        BeforeValidator(_timestamp_text),
        Field(description="When the event happened (RFC 3339): events apply in this order."),
    ]
    event_metadata: CallbackMetadata = Field(description="The order the event concerns.")
    retailer_id: str | None = Field(
        default=None, max_length=128, description="The retailer, as Instacart names it."
    )


def event_status(event_name: str) -> str | None:
    """`fulfillment.picking` -> `picking`; None for names we do not know, a status outside the
    vocabulary included (stored and counted, never shown; a lookup brings the truth)."""
    if not event_name.startswith(EVENT_PREFIX):
        return None
    status = event_name.removeprefix(EVENT_PREFIX)
    return status if is_known_status(status) else None


def event_label(event_name: str) -> str:
    status = event_status(event_name)
    return status if status in _KNOWN_LABELS else "other"


class CallbackApplier:
    """Applies stored events to orders; safe to run anywhere, any number of times."""

    def __init__(
        self,
        client: InstacartClient,
        sessions: async_sessionmaker[AsyncSession],
        events: OrderEvents,
    ) -> None:
        self.client = client
        self.sessions = sessions
        self.events = events

    async def apply(self, event_id: int) -> str:
        """Apply one stored event; returns its result (`received` when left for later)."""
        async with self.sessions() as session:
            event = await CallbackEventsRepository(session).get(event_id)
            if event is None or event.result != "received":
                return event.result if event is not None else "unknown_event"
            row = await OrdersRepository(session).get_by_id(event.order_id)
        label = event_label(event.event_name)
        status = event_status(event.event_name)
        if status is None:
            return await self._finish(event_id, "unknown_event", label, event.order_id)
        if row is None:
            return await self._finish(event_id, "unknown_order", label, event.order_id)
        if status in DECISIVE_STATUSES:
            try:
                status = (await self.client.get_order(row.user_id, row.id)).status
            except InstacartError as exc:
                CALLBACKS.labels(label, "deferred").inc()
                log.info("callback.deferred", event_id=event_id, error=exc.operation)
                return "received"
        return await self._move(event_id, row, status, event.event_timestamp, label)

    async def count_waiting(self, older_than: timedelta) -> int:
        """Events stored at least `older_than` ago and never applied."""
        async with self.sessions() as session:
            return await CallbackEventsRepository(session).count_unapplied(older_than)

    async def reapply_waiting(self, older_than: timedelta, limit: int) -> int:
        """Apply up to `limit` of them (the reconciler's turn); returns how many were settled."""
        async with self.sessions() as session:
            waiting = await CallbackEventsRepository(session).unapplied(older_than, limit)
        applied = 0
        for event_id in waiting:
            try:
                applied += await self.apply(event_id) != "received"
            except Exception as exc:  # one event's failure costs that event only
                log.error("reconcile.callback_failed", event_id=event_id, error=type(exc).__name__)
        return applied

    async def _move(
        self, event_id: int, row: OrderRow, status: str, at: datetime, label: str
    ) -> str:
        async with self.sessions() as session, session.begin():
            placed: OrderRow | None = None
            if row.placement_state != PlacementState.CREATED:
                # Instacart is telling us about it, so Instacart has it: the customer sees it.
                placed = await OrderStateMachine(session).confirm(row.id, Actor.CALLBACK, None)
                if placed is not None:
                    await PlacementOutcomes(session).answer(placed, Actor.CALLBACK)
            moved = await OrderStateMachine(session).record_status(
                row.id, Actor.CALLBACK, status, at
            )
            result = "applied" if moved is not None else "stale"
            if not await CallbackEventsRepository(session).finish(event_id, result):
                return "applied"  # another replica applied it meanwhile; its answer stands
        shown = moved or placed
        if shown is not None:
            await self.events.publish(shown)
        CALLBACKS.labels(label, result).inc()
        log.info("callback.applied", event_id=event_id, order_id=row.id, result=result)
        return result

    async def _finish(self, event_id: int, result: str, label: str, order_id: str) -> str:
        async with self.sessions() as session, session.begin():
            await CallbackEventsRepository(session).finish(event_id, result)
        CALLBACKS.labels(label, result).inc()
        log.warning("callback.not_applied", event_id=event_id, order_id=order_id, result=result)
        return result


class CallbackInbox:
    """Stores what Instacart sends and has it applied in the background."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], applier: CallbackApplier
    ) -> None:
        self.sessions = sessions
        self.applier = applier
        self._applying: set[asyncio.Task[str]] = set()

    async def receive(self, event: CallbackEventIn) -> bool:
        """Store the event; False for a duplicate delivery (nothing changes)."""
        timestamp = event.event_timestamp
        now = datetime.now(UTC)
        if timestamp > now + MAX_CLOCK_AHEAD:
            log.warning("callback.timestamp_in_future", event_id=event.event_id)
            CALLBACKS.labels(event_label(event.event_name), "clamped").inc()
            timestamp = now
        async with self.sessions() as session, session.begin():
            stored = await CallbackEventsRepository(session).add(
                {
                    "event_id": event.event_id,
                    "event_name": event.event_name,
                    "order_id": event.event_metadata.order_id,
                    "event_timestamp": timestamp,
                    "event_metadata": event.event_metadata.model_dump(mode="json"),
                    "retailer_id": event.retailer_id,
                }
            )
        if not stored:
            CALLBACKS.labels(event_label(event.event_name), "duplicate").inc()
            return False
        task = asyncio.create_task(self._apply(event.event_id))
        self._applying.add(task)
        task.add_done_callback(self._applying.discard)
        return True

    async def _apply(self, event_id: int) -> str:
        try:
            return await self.applier.apply(event_id)
        except Exception as exc:  # stays `received`: the reconciler applies it later
            log.warning("callback.apply_failed", event_id=event_id, error=type(exc).__name__)
            return "received"

    async def drain(self) -> None:
        """Wait for every event received so far to be applied (shutdown, tests)."""
        while self._applying:
            await asyncio.gather(*self._applying, return_exceptions=True)

    async def aclose(self) -> None:
        for task in list(self._applying):
            task.cancel()
        await asyncio.gather(*self._applying, return_exceptions=True)
