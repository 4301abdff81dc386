from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import Order
from app.db.orders import OrdersRepository, decode_cursor, encode_cursor
from tests.db.factories import make_order

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


async def test_add_loads_server_defaults(db_session: AsyncSession, user_id: str) -> None:
    repo = OrdersRepository(db_session)
    order = await repo.add(make_order(user_id))
    await db_session.commit()

    assert order.placement_state == "pending"
    assert order.status is None
    assert order.created_at.tzinfo is not None
    assert order.updated_at == order.created_at


async def test_list_for_user_pages_newest_first_with_every_order_once(
    db_session: AsyncSession, user_id: str, other_user_id: str
) -> None:
    repo = OrdersRepository(db_session)
    expected = []
    for i in range(25):
        # Pairs share a timestamp, so the id must break ties in the keyset.
        order = make_order(user_id, created_at=T0 - timedelta(minutes=i // 2))
        expected.append(order)
        await repo.add(order)
    for i in range(3):
        await repo.add(make_order(other_user_id, created_at=T0 - timedelta(minutes=i)))
    await db_session.commit()
    expected.sort(key=lambda o: (o.created_at, o.id), reverse=True)

    seen: list[Order] = []
    pages = []
    cursor = None
    while True:
        rows, cursor = await repo.list_for_user(user_id, limit=10, cursor=cursor)
        pages.append(len(rows))
        seen.extend(rows)
        if cursor is None:
            break

    assert pages == [10, 10, 5]
    assert [o.id for o in seen] == [o.id for o in expected]
    assert all(o.user_id == user_id for o in seen)


async def test_list_for_user_exact_page_has_no_next_cursor(
    db_session: AsyncSession, user_id: str
) -> None:
    repo = OrdersRepository(db_session)
    for i in range(10):
        await repo.add(make_order(user_id, created_at=T0 - timedelta(minutes=i)))
    await db_session.commit()

    rows, cursor = await repo.list_for_user(user_id, limit=10)

    assert len(rows) == 10
    assert cursor is None


async def test_list_for_user_can_keep_only_placed_orders(
    db_session: AsyncSession, user_id: str
) -> None:
    repo = OrdersRepository(db_session)
    placed = await repo.add(make_order(user_id, created_at=T0))
    failed = await repo.add(make_order(user_id, created_at=T0 + timedelta(seconds=1)))
    pending = await repo.add(make_order(user_id, created_at=T0 + timedelta(seconds=2)))
    await repo.mark_created(placed.id, "brand_new")
    await repo.mark_failed(failed.id, "slot_unavailable")
    await db_session.commit()

    only_placed, _ = await repo.list_for_user(user_id, 10, placement_states=("created",))
    everything, _ = await repo.list_for_user(user_id, 10)

    assert [o.id for o in only_placed] == [placed.id]
    assert [o.id for o in everything] == [pending.id, failed.id, placed.id]
    await repo.mark_failed(pending.id, "test_cleanup")
    await db_session.commit()


async def test_list_for_user_without_orders_is_empty(db_session: AsyncSession, user_id: str):
    assert await OrdersRepository(db_session).list_for_user(user_id, limit=10) == ([], None)


async def test_list_for_user_rejects_garbage_cursor(db_session: AsyncSession, user_id: str):
    with pytest.raises(ValueError):
        await OrdersRepository(db_session).list_for_user(user_id, limit=10, cursor="%%%")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not a cursor",
        "@@@@",
        "x" * 1000,
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        base64.urlsafe_b64encode(b"{}").decode(),
        base64.urlsafe_b64encode(b'["2026-11-26T12:00:00+00:00"]').decode(),
        base64.urlsafe_b64encode(b'["yesterday", "ord_1"]').decode(),
        base64.urlsafe_b64encode(b'["2026-11-26T12:00:00", "ord_1"]').decode(),  # naive
        base64.urlsafe_b64encode(b'["2026-11-26T12:00:00+00:00", 5]').decode(),
        base64.urlsafe_b64encode(b"[1, 2, 3]").decode(),
        base64.urlsafe_b64encode(b"null").decode(),
    ],
)
def test_decode_cursor_rejects_garbage_with_value_error(cursor: str) -> None:
    with pytest.raises(ValueError):
        decode_cursor(cursor)


def test_cursor_round_trips_and_is_url_safe() -> None:
    at = datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=UTC)
    cursor = encode_cursor(at, "ord_abc/+=")

    assert decode_cursor(cursor) == (at, "ord_abc/+=")
    assert all(c.isalnum() or c in "-_" for c in cursor)


async def test_get_for_user_hides_other_users_orders(
    db_session: AsyncSession, user_id: str, other_user_id: str
) -> None:
    repo = OrdersRepository(db_session)
    order = await repo.add(make_order(user_id))
    await db_session.commit()

    assert (await repo.get_for_user(order.id, user_id)) is order
    assert await repo.get_for_user(order.id, other_user_id) is None
    assert await repo.get_for_user("ord_missing", user_id) is None
    assert (await repo.get_by_id(order.id)) is order


async def test_mark_created_records_upstream_answer(db_session: AsyncSession, user_id: str):
    repo = OrdersRepository(db_session)
    order = await repo.add(make_order(user_id))
    await db_session.commit()

    items = [{"upc": "1", "product_id": "p1", "name": "Milk", "quantity": 2, "status": "ok"}]
    updated = await repo.mark_created(order.id, "brand_new", items=items)
    await db_session.commit()

    assert updated is not None
    assert updated.placement_state == "created"
    assert updated.status == "brand_new"
    assert updated.items == items
    assert updated.updated_at >= updated.created_at


async def test_mark_created_keeps_status_from_an_earlier_callback(
    db_session: AsyncSession, user_id: str
) -> None:
    repo = OrdersRepository(db_session)
    order = await repo.add(make_order(user_id))
    assert await repo.update_status(order.id, "acknowledged", T0)

    updated = await repo.mark_created(order.id, "brand_new")

    assert updated is not None
    assert updated.placement_state == "created"
    assert updated.status == "acknowledged"


async def test_placement_transitions_only_from_unresolved_states(
    db_session: AsyncSession, user_id: str
) -> None:
    repo = OrdersRepository(db_session)
    order = await repo.add(make_order(user_id))

    unknown = await repo.mark_unknown(order.id)
    assert unknown is not None and unknown.placement_state == "unknown"
    failed = await repo.mark_failed(order.id, "slot_unavailable", "slot is full")
    assert failed is not None
    assert (failed.placement_state, failed.failure_code) == ("failed", "slot_unavailable")

    assert await repo.mark_created(order.id, "brand_new") is None
    assert await repo.mark_unknown(order.id) is None
    assert await repo.mark_failed("ord_missing", "x") is None
    await db_session.commit()
    assert (await repo.get_by_id(order.id)).placement_state == "failed"


async def test_update_status_ignores_older_and_equal_timestamps(
    db_session: AsyncSession, user_id: str
) -> None:
    repo = OrdersRepository(db_session)
    order = await repo.add(make_order(user_id))
    await db_session.commit()

    assert await repo.update_status(order.id, "picking", T0)
    assert not await repo.update_status(order.id, "acknowledged", T0 - timedelta(seconds=1))
    assert not await repo.update_status(order.id, "other", T0)
    assert await repo.update_status(order.id, "delivered", T0 + timedelta(seconds=1))
    assert not await repo.update_status("ord_missing", "delivered", T0)
    await db_session.commit()

    stored = await repo.get_by_id(order.id)
    assert stored.status == "delivered"
    assert stored.status_updated_at == T0 + timedelta(seconds=1)


async def test_stale_placements_returns_only_old_unresolved_orders(
    db_session: AsyncSession, user_id: str
) -> None:
    repo = OrdersRepository(db_session)
    # Far in the past, so rows of other tests (created "now") never qualify.
    old = T0 - timedelta(days=3650)
    pending = await repo.add(make_order(user_id, created_at=old))
    unknown = await repo.add(make_order(user_id, created_at=old + timedelta(seconds=1)))
    created = await repo.add(make_order(user_id, created_at=old))
    failed = await repo.add(make_order(user_id, created_at=old))
    await repo.add(make_order(user_id, created_at=old + timedelta(hours=2)))  # too recent
    await repo.mark_unknown(unknown.id)
    await repo.mark_created(created.id, "brand_new")
    await repo.mark_failed(failed.id, "invalid_items")
    await db_session.commit()

    rows = await repo.stale_placements(old + timedelta(hours=1), limit=100)
    mine = [o.id for o in rows if o.user_id == user_id]

    assert mine == [pending.id, unknown.id]
    await _resolve(repo, mine)


async def test_stale_placements_skips_rows_locked_by_another_reconciler(
    db_sessionmaker: async_sessionmaker[AsyncSession], user_id: str
) -> None:
    # Older than any other test's rows: limit=1 must pick ours.
    old = datetime(1971, 1, 1, tzinfo=UTC)
    async with db_sessionmaker() as setup:
        first = await OrdersRepository(setup).add(make_order(user_id, created_at=old))
        second = await OrdersRepository(setup).add(
            make_order(user_id, created_at=old + timedelta(seconds=1))
        )
        await setup.commit()

    threshold = old + timedelta(minutes=1)
    async with db_sessionmaker() as a, db_sessionmaker() as b:
        rows_a = await OrdersRepository(a).stale_placements(threshold, limit=1)
        rows_b = await OrdersRepository(b).stale_placements(threshold, limit=10)
        assert [o.id for o in rows_a] == [first.id]
        assert [o.id for o in rows_b] == [second.id]

    async with db_sessionmaker() as cleanup:
        await _resolve(OrdersRepository(cleanup), [first.id, second.id])


async def _resolve(repo: OrdersRepository, order_ids: list[str]) -> None:
    """Leave no unresolved rows behind for other tests' reconcilers."""
    for order_id in order_ids:
        await repo.mark_failed(order_id, "test_cleanup")
    await repo.session.commit()


async def test_update_refreshes_orders_already_in_the_session(
    db_session: AsyncSession, user_id: str
) -> None:
    repo = OrdersRepository(db_session)
    order = await repo.add(make_order(user_id))
    await db_session.execute(update(Order).where(Order.id == order.id).values(status="x"))

    await repo.update_status(order.id, "picking", T0)

    assert order.status == "picking"
