"""How a stored order looks to its owner: one place, for reads, placements and replays."""

from __future__ import annotations

from app.orders.schemas import Order
from app.orders.tables import OrderRow
from app.orders.vocabulary import INITIAL_STATUS, is_cancelable


def order_view(row: OrderRow) -> Order:
    status = row.status or str(INITIAL_STATUS)
    return Order(
        id=row.id,
        status=status,
        fulfillment=row.fulfillment,
        store_id=row.store_id,
        slot=row.slot,
        items=row.items,
        created_at=row.created_at,
        updated_at=row.updated_at,
        cancelable=is_cancelable(status),
    )
