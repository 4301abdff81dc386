"""callback inbox, order versions and follow-up checks

Revision ID: 3c9e1b7a5d42
Revises: 7a1d4c2e9f30
Create Date: 2026-11-27 10:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "3c9e1b7a5d42"
down_revision: str | Sequence[str] | None = "7a1d4c2e9f30"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# JSONB on Postgres; JSON text on SQLite (the embedded development mode runs these too).
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column(
        "orders", sa.Column("version", sa.Integer(), server_default=sa.text("0"), nullable=False)
    )
    op.add_column("orders", sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "callback_events",
        sa.Column("event_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("event_name", sa.Text(), nullable=False),
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("event_timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_metadata", JSON_DOCUMENT, nullable=False),
        sa.Column("retailer_id", sa.Text(), nullable=True),
        sa.Column("result", sa.Text(), server_default=sa.text("'received'"), nullable=False),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "result IN ('received', 'applied', 'stale', 'unknown_order', 'unknown_event')",
            name=op.f("ck_callback_events_result"),
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_callback_events")),
    )
    op.create_index(
        "ix_callback_events_received_at",
        "callback_events",
        ["received_at"],
        postgresql_where=sa.text("result = 'received'"),
    )
    op.create_index("ix_callback_events_order_id", "callback_events", ["order_id"])


def downgrade() -> None:
    op.drop_index("ix_callback_events_order_id", table_name="callback_events")
    op.drop_index("ix_callback_events_received_at", table_name="callback_events")
    op.drop_table("callback_events")
    op.drop_column("orders", "checked_at")
    op.drop_column("orders", "version")
