"""placement fencing (attempt, lease) and reservations in Postgres

Revision ID: 7a1d4c2e9f30
Revises: 0f3c2a9d1b7e
Create Date: 2026-11-27 09:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "7a1d4c2e9f30"
down_revision: str | Sequence[str] | None = "0f3c2a9d1b7e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# JSONB on Postgres; JSON text on SQLite (the embedded development mode runs these too).
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column(
        "orders", sa.Column("attempt", sa.Integer(), server_default=sa.text("0"), nullable=False)
    )
    op.add_column("orders", sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "reservations",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("fulfillment", sa.Text(), nullable=False),
        sa.Column("store_id", sa.Text(), nullable=False),
        sa.Column("hold_id", sa.Text(), nullable=False),
        sa.Column("slot", JSON_DOCUMENT, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("retain_until", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "fulfillment IN ('delivery', 'pickup', 'last_mile')",
            name=op.f("ck_reservations_fulfillment"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reservations")),
    )
    op.create_index("ix_reservations_retain_until", "reservations", ["retain_until"])


def downgrade() -> None:
    op.drop_index("ix_reservations_retain_until", table_name="reservations")
    op.drop_table("reservations")
    op.drop_column("orders", "lease_until")
    op.drop_column("orders", "attempt")
