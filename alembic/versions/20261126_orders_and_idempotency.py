"""orders and idempotency keys

Revision ID: 0f3c2a9d1b7e
Revises:
Create Date: 2026-11-26 18:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0f3c2a9d1b7e"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# JSONB on Postgres; JSON text on SQLite (the embedded development mode runs these too).
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("fulfillment", sa.Text(), nullable=False),
        sa.Column("store_id", sa.Text(), nullable=False),
        sa.Column("slot", JSON_DOCUMENT, nullable=False),
        sa.Column(
            "items",
            JSON_DOCUMENT,
            server_default=sa.text(
                "'[]'::jsonb" if op.get_bind().dialect.name == "postgresql" else "'[]'"
            ),
            nullable=False,
        ),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column(
            "placement_state", sa.Text(), server_default=sa.text("'pending'"), nullable=False
        ),
        sa.Column("hold_id", sa.Text(), nullable=True),
        sa.Column("reservation_id", sa.Text(), nullable=True),
        sa.Column("address", JSON_DOCUMENT, nullable=True),
        sa.Column("instructions", sa.Text(), nullable=True),
        sa.Column("failure_code", sa.Text(), nullable=True),
        sa.Column("failure_detail", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("status_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "placement_state IN ('pending', 'created', 'unknown', 'failed')",
            name=op.f("ck_orders_placement_state"),
        ),
        sa.CheckConstraint(
            "fulfillment IN ('delivery', 'pickup', 'last_mile')",
            name=op.f("ck_orders_fulfillment"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
    )
    op.create_index(
        "ix_orders_user_id_created_at_id",
        "orders",
        ["user_id", sa.text("created_at DESC"), sa.text("id DESC")],
    )
    op.create_index(
        "ix_orders_unresolved_created_at",
        "orders",
        ["created_at"],
        postgresql_where=sa.text("placement_state IN ('pending', 'unknown')"),
    )

    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), server_default=sa.text("'in_progress'"), nullable=False),
        sa.Column("order_id", sa.Text(), nullable=True),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", JSON_DOCUMENT, nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('in_progress', 'completed')", name=op.f("ck_idempotency_keys_state")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_idempotency_keys_order_id_orders"),
            deferrable=True,
            initially="DEFERRED",
        ),
        sa.PrimaryKeyConstraint("user_id", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"])
    op.create_index("ix_idempotency_keys_order_id", "idempotency_keys", ["order_id"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_order_id", table_name="idempotency_keys")
    op.drop_index("ix_idempotency_keys_expires_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    op.drop_index("ix_orders_unresolved_created_at", table_name="orders")
    op.drop_index("ix_orders_user_id_created_at_id", table_name="orders")
    op.drop_table("orders")
