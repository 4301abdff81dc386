"""Orders after placement: reads scoped to their owner, cancel and staff staging.

Placing an order is `app.orders.placement`; status changes seen here are moves of the state
machine like every other write.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.instacart.client import InstacartClient
from app.instacart.errors import InstacartBadRequest, InstacartError
from app.instacart.refusals import translate
from app.orders.events import OrderEvents
from app.orders.repository import OrdersRepository
from app.orders.schemas import Order, OrderPage
from app.orders.state_machine import Actor, OrderStateMachine
from app.orders.tables import OrderRow
from app.orders.view import order_view
from app.orders.vocabulary import FulfillmentType, PlacementState, is_terminal
from app.platform.errors import NotFound, OrderNotCancelable, OrderNotStageable, ValidationFailed


class OrderService:
    def __init__(
        self,
        *,
        client: InstacartClient,
        sessions: async_sessionmaker[AsyncSession],
        refresh_after_seconds: float,
        events: OrderEvents,
    ) -> None:
        self.events = events
        self.client = client
        self.sessions = sessions
        self.refresh_after = refresh_after_seconds

    # --- reads and changes ------------------------------------------------------------------

    async def list(self, user_id: str, limit: int, cursor: str | None) -> OrderPage:
        async with self.sessions() as session:
            try:
                # Only placed orders: a pending or failed placement is not an order to the user.
                rows, next_cursor = await OrdersRepository(session).list_for_user(
                    user_id, limit, cursor, placement_states=(PlacementState.CREATED,)
                )
            except ValueError as exc:
                raise ValidationFailed(
                    "The cursor is not valid.", errors=[{"field": "cursor", "message": str(exc)}]
                ) from exc
        return OrderPage(orders=[order_view(row) for row in rows], next_cursor=next_cursor)

    async def get(self, user_id: str, order_id: str) -> Order:
        row = await self._owned(user_id, order_id)
        if is_terminal(row.status) or self._recent(row):
            return order_view(row)
        asked_at = datetime.now(UTC)
        try:
            upstream = await self.client.get_order(user_id, order_id)
        except InstacartError:
            # The stored status is still a true answer, only older: better than an error page.
            return order_view(row)
        return await self._apply_status(row, upstream.status, asked_at)

    async def cancel(self, user_id: str, order_id: str) -> Order:
        row = await self._owned(user_id, order_id)
        asked_at = datetime.now(UTC)
        try:
            upstream = await self.client.cancel_order(user_id, order_id)
        except InstacartBadRequest as exc:
            raise OrderNotCancelable("Instacart no longer allows cancelling this order.") from exc
        except InstacartError as exc:
            raise translate(exc) from exc
        return await self._apply_status(row, upstream.status, asked_at)

    async def stage(self, order_id: str, stores: frozenset[str]) -> Order:
        """Staff of the order's store mark it staged; another store's order is not found."""
        async with self.sessions() as session:
            row = await OrdersRepository(session).get_by_id(order_id)
        if (
            row is None
            or row.placement_state != PlacementState.CREATED
            or row.store_id not in stores
        ):
            raise NotFound("No placed order of your stores has this id.", param="order_id")
        if row.fulfillment != FulfillmentType.LAST_MILE:
            raise OrderNotStageable("Only last-mile orders are staged at the store.")
        asked_at = datetime.now(UTC)
        try:
            upstream = await self.client.stage_last_mile_order(order_id)
        except InstacartBadRequest as exc:
            raise OrderNotStageable(
                f"Instacart cannot stage this order: {exc.upstream_message}"
            ) from exc
        except InstacartError as exc:
            raise translate(exc) from exc
        return await self._apply_status(row, upstream.status, asked_at)

    async def _owned(self, user_id: str, order_id: str) -> OrderRow:
        async with self.sessions() as session:
            row = await OrdersRepository(session).get_for_user(order_id, user_id)
        # Someone else's order and an unplaced one look exactly like no order at all.
        if row is None or row.placement_state != PlacementState.CREATED:
            raise NotFound("You have no order with this id.", param="order_id")
        return row

    def _recent(self, row: OrderRow) -> bool:
        return (datetime.now(UTC) - row.updated_at).total_seconds() < self.refresh_after

    async def _apply_status(self, row: OrderRow, status: str, asked_at: datetime) -> Order:
        async with self.sessions() as session, session.begin():
            fresh = await OrderStateMachine(session).record_lookup(
                row.id, Actor.READER, status, asked_at
            )
            changed = fresh is not None and fresh.version != row.version
            if fresh is None:  # a newer status arrived meanwhile: show that one
                fresh = await OrdersRepository(session).get_by_id(row.id)
        assert fresh is not None
        if changed:
            await self.events.publish(fresh)
        return order_view(fresh)
