"""The table of reservations: a user's holds on slots."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Index,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.orders.vocabulary import FULFILLMENTS
from app.platform.database.base import Base
from app.platform.database.portable import UtcDateTime, in_list, json_document


class ReservationRow(Base):
    """A user's hold on a slot. Postgres keeps it, so losing Redis costs no checkout."""

    __tablename__ = "reservations"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    user_id: Mapped[str] = mapped_column(Text, nullable=False)
    fulfillment: Mapped[str] = mapped_column(Text, nullable=False)
    store_id: Mapped[str] = mapped_column(Text, nullable=False)
    hold_id: Mapped[str] = mapped_column(Text, nullable=False)
    slot: Mapped[dict[str, Any]] = mapped_column(json_document(), nullable=False)
    # When Instacart's hold ends; the record is kept longer (`retain_until`), because an
    # expired hold still books while its slot has room.
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        UtcDateTime(), nullable=False, server_default=func.now()
    )
    retain_until: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)

    __table_args__ = (
        CheckConstraint(in_list("fulfillment", FULFILLMENTS), name="fulfillment"),
        Index("ix_reservations_retain_until", "retain_until"),
    )

    def __repr__(self) -> str:
        return f"Reservation(id={self.id!r}, user_id={self.user_id!r})"
