"""Postgres persistence: typed models, the session factory and repositories that hold statements."""

from app.db.base import Base
from app.db.idempotency import ClaimOutcome, ClaimResult, IdempotencyRepository
from app.db.models import (
    FULFILLMENTS,
    IDEMPOTENCY_STATES,
    PLACEMENT_STATES,
    IdempotencyKey,
    Order,
)
from app.db.orders import OrdersRepository, decode_cursor, encode_cursor
from app.db.session import build_sessionmaker

__all__ = [
    "FULFILLMENTS",
    "IDEMPOTENCY_STATES",
    "PLACEMENT_STATES",
    "Base",
    "ClaimOutcome",
    "ClaimResult",
    "IdempotencyKey",
    "IdempotencyRepository",
    "Order",
    "OrdersRepository",
    "build_sessionmaker",
    "decode_cursor",
    "encode_cursor",
]
