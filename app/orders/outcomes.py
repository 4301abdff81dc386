"""Settling a placement: the state machine's moves with the Idempotency-Key kept in step.

Shared by the placing request, its retries and the reconciler, so that each outcome is recorded
the same way whoever learnt it. The caller owns the transaction.
"""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.instacart.models import UpstreamOrder
from app.orders.idempotency import STORED_ANSWER_STATUS, IdempotencyRepository
from app.orders.repository import OrdersRepository
from app.orders.state_machine import Actor, OrderStateMachine
from app.orders.tables import OrderRow
from app.orders.view import order_view
from app.orders.vocabulary import PlacementState

log = structlog.get_logger("app.orders.outcomes")


class PlacementOutcomes:
    def __init__(self, session: AsyncSession, *, lease_seconds: float | None = None) -> None:
        self.machine = OrderStateMachine(session, lease_seconds=lease_seconds)
        self.orders = OrdersRepository(session)
        self.keys = IdempotencyRepository(session)

    async def begin_attempt(
        self, order_id: str, seen_attempt: int, actor: Actor
    ) -> OrderRow | None:
        return await self.machine.begin_attempt(order_id, seen_attempt, actor)

    async def confirm(
        self,
        order_id: str,
        actor: Actor,
        upstream: UpstreamOrder,
        *,
        user_id: str | None = None,
        key: str | None = None,
    ) -> tuple[OrderRow, dict[str, Any]]:
        """Instacart has the order: make it the customer's and store the answer to replay.

        Returns the row and the 201 body; publish the row once the transaction commits.
        """
        row = await self.machine.confirm(
            order_id,
            actor,
            upstream.status,
            items=[item.model_dump(mode="json") for item in upstream.items],
        )
        if row is None:  # another actor confirmed it first: the row says so
            row = await self.orders.get_by_id(order_id)
            if row is None or row.placement_state != PlacementState.CREATED:
                raise LookupError(f"order {order_id} is neither confirmable nor created")
        return row, await self.answer(row, actor, user_id=user_id, key=key)

    async def adopt(
        self,
        order_id: str,
        attempt: int,
        actor: Actor,
        upstream: UpstreamOrder,
        *,
        user_id: str,
        key: str,
    ) -> tuple[OrderRow, dict[str, Any]] | None:
        """`order_id` was refused because Instacart made `upstream` (the same user's earlier
        placement) from its hold: record it never placed, confirm the earlier one, and move
        the key to it with its answer. None when `order_id`'s attempt is no longer the actor's.
        """
        refused = await self.machine.record_failed(
            order_id, attempt, actor, "hold_used_by_own_order", f"placed as {upstream.id}"
        )
        if refused is None:
            return None
        row, body = await self.confirm(upstream.id, actor, upstream)
        if not await self.keys.move(user_id, key, order_id, row.id, STORED_ANSWER_STATUS, body):
            log.warning("order.answer_not_stored", order_id=row.id, actor=actor.value)
        return row, body

    async def answer(
        self, row: OrderRow, actor: Actor, *, user_id: str | None = None, key: str | None = None
    ) -> dict[str, Any]:
        """The 201 body of a created order, stored on its key (the one given, or its own)."""
        body = order_view(row).model_dump(mode="json")
        if key is not None and user_id is not None:
            stored = await self.keys.complete(user_id, key, row.id, STORED_ANSWER_STATUS, body)
        else:
            stored = await self.keys.complete_for_order(row.id, STORED_ANSWER_STATUS, body) > 0
        if not stored:
            # The order is the customer's either way (it is in their list); only a replay of
            # the key will not find this answer. Worth an operator's look, not a failure.
            log.warning("order.answer_not_stored", order_id=row.id, actor=actor.value)
        return body

    async def unknown(
        self,
        order_id: str,
        attempt: int,
        actor: Actor,
        *,
        user_id: str | None = None,
        key: str | None = None,
    ) -> bool:
        """An ambiguous outcome: end the lease, and let the same key retry at once."""
        row = await self.machine.record_unknown(order_id, attempt, actor)
        if row is not None and key is not None and user_id is not None:
            await self.keys.unlock(user_id, key, order_id)
        return row is not None

    async def failed(
        self, order_id: str, attempt: int, actor: Actor, code: str, detail: str | None
    ) -> bool:
        """Never placed: record why and give the key back for a corrected retry."""
        row = await self.machine.record_failed(order_id, attempt, actor, code, detail)
        if row is not None:
            await self.keys.release_for_order(order_id)
        return row is not None
