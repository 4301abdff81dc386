"""The table of Instacart's callbacks: the inbox, one row per event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Index,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.platform.database.base import Base
from app.platform.database.portable import UtcDateTime, in_list, json_document

CALLBACK_RESULTS = (
    "received",  # stored, not applied yet (a crash in between leaves it for the reconciler)
    "applied",  # moved the order
    "stale",  # older than the status applied, or it would move the status backwards
    "unknown_order",  # no order of ours has that id
    "unknown_event",  # not an event name we know
)


class CallbackEvent(Base):
    """Instacart's callbacks, one row per event_id: the inbox that makes delivery idempotent."""

    __tablename__ = "callback_events"

    event_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_name: Mapped[str] = mapped_column(Text, nullable=False)
    order_id: Mapped[str] = mapped_column(Text, nullable=False)
    event_timestamp: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)
    # event_metadata as sent (order items, windows, reasons: Instacart sends no addresses here).
    event_metadata: Mapped[dict[str, Any]] = mapped_column(json_document(), nullable=False)
    retailer_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    result: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'received'"))
    received_at: Mapped[datetime] = mapped_column(
        UtcDateTime(), nullable=False, server_default=func.now()
    )
    applied_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)

    __table_args__ = (
        CheckConstraint(in_list("result", CALLBACK_RESULTS), name="result"),
        # The reconciler's queue of events received but never applied.
        Index(
            "ix_callback_events_received_at",
            "received_at",
            postgresql_where=text("result = 'received'"),
        ),
        Index("ix_callback_events_order_id", "order_id"),
    )

    def __repr__(self) -> str:
        return f"CallbackEvent(event_id={self.event_id!r}, result={self.result!r})"
