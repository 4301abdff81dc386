from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.orders.repository import AbandonedPlacement, OrdersRepository, decode_cursor, encode_cursor
from app.orders.state_machine import Actor, OrderStateMachine
from app.orders.tables import OrderRow
from tests.db.factories import make_order

pytestmark = pytest.mark.usefixtures("settle_leftovers")

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)
GRACE = timedelta(minutes=5)


async def test_add_loads_server_defaults(db_session: AsyncSession, user_id: str) -> None:
    repo = OrdersRepository(db_session)
    order = await repo.add(make_order(user_id))
    await db_session.commit()

    assert order.placement_state == "pending"
    assert order.status is None
    assert (order.attempt, order.lease_until) == (0, None)
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

    seen: list[OrderRow] = []
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
    machine = OrderStateMachine(db_session)
    placed = await repo.add(make_order(user_id, created_at=T0), lease=LEASE)
    failed = await repo.add(make_order(user_id, created_at=T0 + timedelta(seconds=1)), lease=LEASE)
    pending = await repo.add(make_order(user_id, created_at=T0 + timedelta(seconds=2)), lease=LEASE)
    await machine.confirm(placed.id, Actor.REQUEST, "brand_new")
    await machine.record_failed(failed.id, 1, Actor.REQUEST, "slot_unavailable", None)
    await db_session.commit()

    only_placed, _ = await repo.list_for_user(user_id, 10, placement_states=("created",))
    everything, _ = await repo.list_for_user(user_id, 10)

    assert [o.id for o in only_placed] == [placed.id]
    assert [o.id for o in everything] == [pending.id, failed.id, placed.id]


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


async def test_add_with_a_lease_records_the_intent_of_attempt_one(
    db_session: AsyncSession, user_id: str
) -> None:
    order = await OrdersRepository(db_session).add(make_order(user_id), lease=LEASE)
    await db_session.commit()

    now, lease_until = (
        await db_session.execute(
            select(func.clock_timestamp(), OrderRow.lease_until).where(OrderRow.id == order.id)
        )
    ).one()
    assert (order.placement_state, order.attempt) == ("pending", 1)
    assert now < lease_until <= now + LEASE


async def test_add_with_a_lease_loads_the_lease_onto_the_order(
    db_session: AsyncSession, user_id: str
) -> None:
    order = await OrdersRepository(db_session).add(make_order(user_id), lease=LEASE)

    assert order.lease_until is not None


async def test_abandoned_placements_are_unresolved_unleased_and_untouched_for_the_grace(
    db_session: AsyncSession, user_id: str
) -> None:
    repo = OrdersRepository(db_session)
    # Older than any row other tests make, so the shared table's other rows sort after ours.
    old = datetime(1980, 1, 1, tzinfo=UTC)
    rows = {}
    for i, (name, overrides) in enumerate(
        [
            ("pending", {}),
            ("unknown", {"placement_state": "unknown", "attempt": 3}),
            ("lapsed_lease", {"lease_until": old}),
            ("live_lease", {"lease_until": datetime(2999, 1, 1, tzinfo=UTC)}),
            ("created", {"placement_state": "created"}),
            ("failed", {"placement_state": "failed"}),
            ("touched_recently", {"updated_at": None}),
        ]
    ):
        values = {"created_at": old + timedelta(seconds=i), "updated_at": old} | overrides
        if values["updated_at"] is None:
            del values["updated_at"]  # the server default: now
        rows[name] = await repo.add(make_order(user_id, **values))
    await db_session.commit()

    found = await repo.abandoned_placements(GRACE, limit=1000)
    mine = [row for row in found if row.user_id == user_id]

    assert mine == [
        AbandonedPlacement(rows["pending"].id, user_id, 0),
        AbandonedPlacement(rows["unknown"].id, user_id, 3),
        AbandonedPlacement(rows["lapsed_lease"].id, user_id, 0),
    ]


async def test_a_move_restarts_the_grace_of_an_abandoned_placement(
    db_session: AsyncSession, user_id: str
) -> None:
    repo = OrdersRepository(db_session)
    old = datetime(1981, 1, 1, tzinfo=UTC)
    order = await repo.add(make_order(user_id, created_at=old, updated_at=old, attempt=1))
    await db_session.commit()
    assert order.id in {row.id for row in await repo.abandoned_placements(GRACE, limit=1000)}

    await OrderStateMachine(db_session).record_unknown(order.id, 1, Actor.RECONCILER)
    await db_session.commit()

    assert order.id not in {row.id for row in await repo.abandoned_placements(GRACE, 1000)}


async def test_abandoned_placements_come_oldest_first_up_to_the_limit(
    db_session: AsyncSession, user_id: str
) -> None:
    repo = OrdersRepository(db_session)
    # The oldest rows in the database: the limit must cut among ours.
    oldest = datetime(1900, 1, 1, tzinfo=UTC)
    added = []
    for minutes in (2, 0, 1):  # inserted out of order
        at = oldest + timedelta(minutes=minutes)
        added.append(await repo.add(make_order(user_id, created_at=at, updated_at=at)))
    await db_session.commit()
    by_age = sorted(added, key=lambda o: o.created_at)

    first_two = await repo.abandoned_placements(GRACE, limit=2)

    assert [row.id for row in first_two] == [o.id for o in by_age[:2]]
