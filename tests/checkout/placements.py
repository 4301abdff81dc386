"""Looking at placements from the side: their rows, their leases, a reconciler for them."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from app.orders.reconciler import Reconciler
from app.orders.tables import OrderRow
from app.platform.database.session import build_sessionmaker
from local_processes.waiting import wait_until_async
from tests.support.checkout import Checkout


async def placement_of(checkout: Checkout, user: str) -> list[tuple[str, str]]:
    sessions = build_sessionmaker(checkout.app.state.bff.engine)
    async with sessions() as session:
        rows = await session.execute(
            select(OrderRow.id, OrderRow.placement_state).where(OrderRow.user_id == user)
        )
        return [(row.id, row.placement_state) for row in rows]


def reconciler_for(checkout: Checkout) -> Reconciler:
    sessions = build_sessionmaker(checkout.app.state.bff.engine)
    return Reconciler(
        checkout.app.state.bff.instacart,
        sessions,
        grace_seconds=0,
        lease_seconds=checkout.settings.placement_lease_seconds,
        events=checkout.app.state.bff.checkout.events,
        callbacks=checkout.app.state.bff.callback_inbox.applier,
    )


async def lapse_leases(checkout: Checkout, user: str) -> None:
    """Time passes for the user's placements: their leases run out (the DB's clock is theirs)."""
    sessions = build_sessionmaker(checkout.app.state.bff.engine)
    async with sessions() as session, session.begin():
        await session.execute(
            update(OrderRow)
            .where(OrderRow.user_id == user, OrderRow.lease_until.is_not(None))
            .values(lease_until=func.clock_timestamp() - timedelta(seconds=1))
        )


async def wait_for_lease(checkout: Checkout, user: str, attempt: int) -> None:
    """Wait until the user's placement holds attempt `attempt` and a lease."""
    sessions = build_sessionmaker(checkout.app.state.bff.engine)

    async def leased() -> bool:
        async with sessions() as session:
            row = (
                await session.execute(
                    select(OrderRow.attempt, OrderRow.lease_until).where(OrderRow.user_id == user)
                )
            ).first()
        return row is not None and row.attempt == attempt and row.lease_until is not None

    await wait_until_async(leased, what=f"a lease for attempt {attempt}")


async def lease_of(checkout: Checkout, user: str) -> datetime | None:
    sessions = build_sessionmaker(checkout.app.state.bff.engine)
    async with sessions() as session:
        return (
            await session.execute(select(OrderRow.lease_until).where(OrderRow.user_id == user))
        ).scalar_one_or_none()
