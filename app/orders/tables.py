"""Tables of orders: the user's orders and the idempotency records of placement."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.orders.vocabulary import (
    FULFILLMENTS,
    IDEMPOTENCY_STATES,
    PLACEMENT_STATES,
    UNRESOLVED_PLACEMENT_STATES,
    IdempotencyState,
    PlacementState,
)
from app.platform.database.base import Base
from app.platform.database.portable import UtcDateTime, in_list, json_document


class OrderRow(Base):
    __tablename__ = "orders"
    # Server defaults (created_at, placement_state, ...) come back with the INSERT's RETURNING.
    __mapper_args__ = {"eager_defaults": True}

    # The retailer order id we generate; Instacart knows the order by the same id.
    id: Mapped[str] = mapped_column(Text, primary_key=True)
    user_id: Mapped[str] = mapped_column(Text, nullable=False)
    fulfillment: Mapped[str] = mapped_column(Text, nullable=False)
    store_id: Mapped[str] = mapped_column(Text, nullable=False)
    # {id, date, starts_at, ends_at, fulfillment}
    slot: Mapped[dict[str, Any]] = mapped_column(json_document(), nullable=False)
    # [{upc, product_id, name, quantity, status}]
    items: Mapped[list[dict[str, Any]]] = mapped_column(
        # the migration gives SQLite a plain '[]'; this text is Postgres's, for comparisons
        json_document(),
        nullable=False,
        server_default=text("'[]'::jsonb"),
    )
    # Any status string Instacart sends; None until Instacart has answered or called back.
    status: Mapped[str | None] = mapped_column(Text, nullable=True)
    placement_state: Mapped[str] = mapped_column(
        Text, nullable=False, server_default=text(f"'{PlacementState.PENDING}'")
    )
    hold_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    reservation_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Kept so that an unknown placement can be re-sent with the same address.
    address: Mapped[dict[str, Any] | None] = mapped_column(
        json_document(none_as_null=True), nullable=True
    )
    instructions: Mapped[str | None] = mapped_column(Text, nullable=True)
    failure_code: Mapped[str | None] = mapped_column(Text, nullable=True)
    failure_detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        UtcDateTime(), nullable=False, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        UtcDateTime(), nullable=False, server_default=func.now()
    )
    # Timestamp of the upstream event that set `status`; an older event never overwrites it.
    status_updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # When the reconciler last asked Instacart about this order for want of news.
    checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # Bumped whenever what the customer sees changes (placed, a new status): the id of the
    # order's live events, so a stream resumed with Last-Event-ID skips what it has seen.
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    # The fencing token of placement: each actor that may call Instacart for this order
    # (the request, a retry, the reconciler) takes a new attempt number with a lease, and its
    # later writes only apply while the attempt is still its own.
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    # While set and in the future, an actor is talking to Instacart about this placement and
    # nobody else may decide it.
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)

    __table_args__ = (
        CheckConstraint(in_list("placement_state", PLACEMENT_STATES), name="placement_state"),
        CheckConstraint(in_list("fulfillment", FULFILLMENTS), name="fulfillment"),
        # The reconciler's queue: only the few unresolved rows are indexed.
        Index(
            "ix_orders_unresolved_created_at",
            "created_at",
            postgresql_where=text(in_list("placement_state", UNRESOLVED_PLACEMENT_STATES)),
        ),
    )

    def __repr__(self) -> str:  # no address or items: they may end up in logs
        return f"Order(id={self.id!r}, placement_state={self.placement_state!r})"


# The orders list: newest first, keyset-paginated on (created_at, id).
Index(
    "ix_orders_user_id_created_at_id",
    OrderRow.user_id,
    OrderRow.created_at.desc(),
    OrderRow.id.desc(),
)


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"

    user_id: Mapped[str] = mapped_column(Text, nullable=False)
    key: Mapped[str] = mapped_column(Text, nullable=False)
    # sha256 of the canonical request body: same key with another body is refused.
    fingerprint: Mapped[str] = mapped_column(Text, nullable=False)
    state: Mapped[str] = mapped_column(
        Text, nullable=False, server_default=text(f"'{IdempotencyState.IN_PROGRESS}'")
    )
    # Deferred, so the service can claim the key first and insert the order in the same
    # transaction only when the claim succeeded.
    order_id: Mapped[str | None] = mapped_column(
        Text,
        ForeignKey("orders.id", deferrable=True, initially="DEFERRED"),
        nullable=True,
    )
    response_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # none_as_null: a Python None is SQL NULL, never the JSON literal null.
    response_body: Mapped[Any | None] = mapped_column(
        json_document(none_as_null=True), nullable=True
    )
    # An in-flight claim expires, so a crashed request does not block the key forever.
    locked_until: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        UtcDateTime(), nullable=False, server_default=func.now()
    )
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)

    __table_args__ = (
        PrimaryKeyConstraint("user_id", "key", name="pk_idempotency_keys"),
        CheckConstraint(in_list("state", IDEMPOTENCY_STATES), name="state"),
        Index("ix_idempotency_keys_expires_at", "expires_at"),
        Index("ix_idempotency_keys_order_id", "order_id"),
    )

    def __repr__(self) -> str:
        return f"IdempotencyKey(user_id={self.user_id!r}, key={self.key!r}, state={self.state!r})"
