"""The order state machine against real Postgres: which moves apply, from where, for whom."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.orders.repository import OrdersRepository
from app.orders.state_machine import Actor, OrderStateMachine
from app.orders.tables import OrderRow
from local_processes.waiting import wait_until_async
from tests.db.factories import make_order

pytestmark = pytest.mark.usefixtures("settle_leftovers")

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
LAPSED = datetime(2000, 1, 1, tzinfo=UTC)  # a lease that ran out long ago
LEASE = 30.0
ITEMS = [{"upc": "1", "product_id": "p1", "name": "Milk", "quantity": 2, "status": "ok"}]
STATES = ("pending", "unknown", "created", "failed")

Move = Callable[[OrderStateMachine, str, Actor], Awaitable[OrderRow | None]]

# Every move, made by the holder of attempt 1 where the move is fenced.
MOVES: dict[str, Move] = {
    "begin_attempt": lambda m, order_id, actor: m.begin_attempt(order_id, 1, actor),
    "renew_lease": lambda m, order_id, actor: m.renew_lease(order_id, 1, actor),
    "record_unknown": lambda m, order_id, actor: m.record_unknown(order_id, 1, actor),
    "record_failed": lambda m, order_id, actor: m.record_failed(
        order_id, 1, actor, "slot_unavailable", "slot is full"
    ),
    "confirm": lambda m, order_id, actor: m.confirm(order_id, actor, "brand_new", items=ITEMS),
    "record_status": lambda m, order_id, actor: m.record_status(order_id, actor, "picking", T0),
    "record_lookup": lambda m, order_id, actor: m.record_lookup(order_id, actor, "picking", T0),
}

# The design (DESIGN.md section 3), written out here rather than read from the module's table.
ALLOWED_FROM = {
    "begin_attempt": {"pending", "unknown"},
    "renew_lease": {"pending", "unknown"},
    "record_unknown": {"pending", "unknown"},
    "record_failed": {"pending", "unknown"},
    "confirm": {"pending", "unknown", "failed"},  # Instacart's confirmation always wins
    "record_status": {"created"},
    "record_lookup": {"created"},
}
ALLOWED_ACTORS = {
    "begin_attempt": {Actor.RETRY, Actor.RECONCILER},
    "renew_lease": {Actor.REQUEST, Actor.RETRY, Actor.RECONCILER},
    "record_unknown": {Actor.REQUEST, Actor.RETRY, Actor.RECONCILER},
    "record_failed": {Actor.REQUEST, Actor.RETRY, Actor.RECONCILER},
    "confirm": set(Actor),
    "record_status": {Actor.READER, Actor.RECONCILER, Actor.CALLBACK},
    "record_lookup": {Actor.READER, Actor.RECONCILER},  # Instacart's answer to our lookup
}
# What each applied move writes (besides updated_at; begin_attempt's lease is checked apart).
WRITES: dict[str, dict[str, Any]] = {
    "begin_attempt": {"placement_state": "pending", "attempt": 2},
    "renew_lease": {},
    "record_unknown": {"placement_state": "unknown", "lease_until": None},
    "record_failed": {
        "placement_state": "failed",
        "failure_code": "slot_unavailable",
        "failure_detail": "slot is full",
        "lease_until": None,
    },
    "confirm": {
        "placement_state": "created",
        "status": "brand_new",
        "items": ITEMS,
        "failure_code": None,
        "failure_detail": None,
        "lease_until": None,
        "version": 1,
    },
    "record_status": {"status": "picking", "status_updated_at": T0, "version": 1},
    "record_lookup": {"status": "picking", "status_updated_at": T0, "version": 1},
}


async def insert(session: AsyncSession, user_id: str, state: str, **overrides: Any) -> str:
    """A committed row in `state` at attempt 1 with a lapsed lease, unless told otherwise."""
    values: dict[str, Any] = {"placement_state": state, "attempt": 1, "lease_until": LAPSED}
    if state == "failed":
        values |= {"failure_code": "earlier", "failure_detail": "an earlier refusal"}
    if state == "created":
        values |= {"status": "brand_new", "lease_until": None}
    order = make_order(user_id, **(values | overrides))
    await OrdersRepository(session).add(order)
    await session.commit()
    return order.id


async def snapshot(session: AsyncSession, order_id: str) -> dict[str, Any]:
    """Every column as the database has it (Core, so no identity map in between)."""
    row = (
        await session.execute(select(*OrderRow.__table__.c).where(OrderRow.id == order_id))
    ).one()
    return row._asdict()


async def db_clock(session: AsyncSession) -> datetime:
    return (await session.execute(select(func.clock_timestamp()))).scalar_one()


def transitions_counted(transition: str, actor: Actor, result: str) -> float:
    labels = {"transition": transition, "actor": actor.value, "result": result}
    return REGISTRY.get_sample_value("bff_order_transitions_total", labels) or 0.0


def machine(session: AsyncSession) -> OrderStateMachine:
    return OrderStateMachine(session, lease_seconds=LEASE)


# --- every move from every state ------------------------------------------------------------


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("move", list(MOVES))
async def test_each_move_applies_from_its_source_states_and_changes_nothing_elsewhere(
    db_session: AsyncSession, user_id: str, move: str, state: str
) -> None:
    order_id = await insert(db_session, user_id, state)
    before = await snapshot(db_session, order_id)
    actor = next(iter(sorted(ALLOWED_ACTORS[move])))

    row = await MOVES[move](machine(db_session), order_id, actor)
    await db_session.commit()
    after = await snapshot(db_session, order_id)

    if state not in ALLOWED_FROM[move]:
        assert row is None
        assert after == before
        return
    assert row is not None and row.id == order_id
    expected = before | WRITES[move]
    leases = move in ("begin_attempt", "renew_lease")
    ignore = {"updated_at"} | ({"lease_until"} if leases else set())
    assert {k: v for k, v in after.items() if k not in ignore} == {
        k: v for k, v in expected.items() if k not in ignore
    }
    assert after["updated_at"] > before["updated_at"]
    assert row.placement_state == after["placement_state"]
    if leases:
        assert after["lease_until"] > await db_clock(db_session)


@pytest.mark.parametrize("actor", list(Actor))
@pytest.mark.parametrize("move", list(MOVES))
async def test_only_the_actors_allowed_a_move_may_make_it(
    db_session: AsyncSession, user_id: str, move: str, actor: Actor
) -> None:
    order_id = await insert(db_session, user_id, sorted(ALLOWED_FROM[move])[0])
    before = await snapshot(db_session, order_id)

    if actor in ALLOWED_ACTORS[move]:
        assert await MOVES[move](machine(db_session), order_id, actor) is not None
        return
    with pytest.raises(ValueError, match=move):
        await MOVES[move](machine(db_session), order_id, actor)
    await db_session.commit()
    assert await snapshot(db_session, order_id) == before


async def test_moves_of_an_unknown_order_return_none(db_session: AsyncSession) -> None:
    m = machine(db_session)

    assert await m.begin_attempt("ord_missing", 1, Actor.RETRY) is None
    assert await m.record_unknown("ord_missing", 1, Actor.REQUEST) is None
    assert await m.record_failed("ord_missing", 1, Actor.REQUEST, "x", None) is None
    assert await m.confirm("ord_missing", Actor.CALLBACK, "brand_new") is None
    assert await m.record_status("ord_missing", Actor.CALLBACK, "picking", T0) is None


# --- fencing: the attempt number -----------------------------------------------------------


@pytest.mark.parametrize("move", ["record_unknown", "record_failed"])
async def test_a_write_with_a_stale_attempt_changes_nothing(
    db_session: AsyncSession, user_id: str, move: str
) -> None:
    order_id = await insert(db_session, user_id, "pending", attempt=2)
    before = await snapshot(db_session, order_id)

    row = await MOVES[move](machine(db_session), order_id, Actor.RETRY)  # holds attempt 1
    await db_session.commit()

    assert row is None
    assert await snapshot(db_session, order_id) == before


async def test_begin_attempt_with_a_stale_seen_attempt_changes_nothing(
    db_session: AsyncSession, user_id: str
) -> None:
    # The lease has lapsed, but someone began attempt 2 after this actor looked at the row.
    order_id = await insert(db_session, user_id, "unknown", attempt=2)
    before = await snapshot(db_session, order_id)

    row = await machine(db_session).begin_attempt(order_id, 1, Actor.RECONCILER)
    await db_session.commit()

    assert row is None
    assert await snapshot(db_session, order_id) == before


async def test_an_overtaken_actor_cannot_decide_but_its_confirmation_still_counts(
    db_session: AsyncSession, user_id: str
) -> None:
    intent = await OrdersRepository(db_session).add(
        make_order(user_id), lease=timedelta(seconds=LEASE)
    )
    order_id = intent.id
    await db_session.execute(
        update(OrderRow).where(OrderRow.id == order_id).values(lease_until=LAPSED)
    )  # the request stalled past its lease
    await db_session.commit()
    m = machine(db_session)

    taken = await m.begin_attempt(order_id, 1, Actor.RECONCILER)
    assert taken is not None and taken.attempt == 2
    assert await m.record_failed(order_id, 1, Actor.REQUEST, "slot_unavailable", None) is None
    assert await m.record_unknown(order_id, 1, Actor.REQUEST) is None
    assert (await snapshot(db_session, order_id))["placement_state"] == "pending"

    # The stalled request then learns Instacart has the order: that is never fenced.
    confirmed = await m.confirm(order_id, Actor.REQUEST, "brand_new")
    await db_session.commit()

    assert confirmed is not None and confirmed.placement_state == "created"
    assert await m.record_unknown(order_id, 2, Actor.RECONCILER) is None


# --- leases ----------------------------------------------------------------------------------


async def test_an_intent_holds_attempt_one_and_a_live_lease(
    db_session: AsyncSession, user_id: str
) -> None:
    clock = await db_clock(db_session)
    intent = await OrdersRepository(db_session).add(
        make_order(user_id), lease=timedelta(seconds=LEASE)
    )
    await db_session.commit()

    stored = await snapshot(db_session, intent.id)
    assert (stored["placement_state"], stored["attempt"]) == ("pending", 1)
    assert clock < stored["lease_until"] <= await db_clock(db_session) + timedelta(seconds=LEASE)


async def test_begin_attempt_is_refused_while_a_lease_is_live(
    db_session: AsyncSession, user_id: str
) -> None:
    intent = await OrdersRepository(db_session).add(
        make_order(user_id), lease=timedelta(seconds=LEASE)
    )
    await db_session.commit()
    before = await snapshot(db_session, intent.id)

    row = await machine(db_session).begin_attempt(intent.id, 1, Actor.RETRY)
    await db_session.commit()

    assert row is None
    assert await snapshot(db_session, intent.id) == before


async def test_begin_attempt_takes_over_once_the_lease_has_lapsed(
    db_session: AsyncSession, user_id: str
) -> None:
    intent = await OrdersRepository(db_session).add(
        make_order(user_id), lease=timedelta(seconds=LEASE)
    )
    await db_session.execute(
        update(OrderRow)
        .where(OrderRow.id == intent.id)
        .values(lease_until=func.clock_timestamp() - timedelta(seconds=1))
    )
    await db_session.commit()

    clock = await db_clock(db_session)
    row = await machine(db_session).begin_attempt(intent.id, 1, Actor.RETRY)
    await db_session.commit()

    assert row is not None
    stored = await snapshot(db_session, intent.id)
    assert (stored["placement_state"], stored["attempt"]) == ("pending", 2)
    assert clock < stored["lease_until"] <= await db_clock(db_session) + timedelta(seconds=LEASE)


async def test_a_renewed_lease_keeps_others_out_and_a_stale_holder_cannot_renew(
    db_session: AsyncSession, user_id: str
) -> None:
    intent = await OrdersRepository(db_session).add(
        make_order(user_id), lease=timedelta(seconds=LEASE)
    )
    # the lease is about to lapse ...
    await db_session.execute(
        update(OrderRow)
        .where(OrderRow.id == intent.id)
        .values(lease_until=func.clock_timestamp() + timedelta(milliseconds=1))
    )
    await db_session.commit()
    m = machine(db_session)
    # ... and its holder renews it: nobody may take over
    assert await m.renew_lease(intent.id, 1, Actor.REQUEST) is not None
    assert await m.begin_attempt(intent.id, 1, Actor.RETRY) is None
    await db_session.commit()
    stored = await snapshot(db_session, intent.id)
    assert stored["lease_until"] > await db_clock(db_session) + timedelta(seconds=LEASE / 2)
    # a holder of an older attempt renews nothing
    assert await m.renew_lease(intent.id, 0, Actor.REQUEST) is None


async def test_a_renewal_blocked_behind_the_outcome_sees_the_lease_ended(
    db_sessionmaker: async_sessionmaker[AsyncSession], user_id: str
) -> None:
    # The race of issue 15: the heartbeat's UPDATE waits on the row while record_unknown's
    # transaction is open, then re-checks its guard against what that transaction committed.
    async with db_sessionmaker() as setup:
        intent = await OrdersRepository(setup).add(
            make_order(user_id), lease=timedelta(seconds=LEASE)
        )
        await setup.commit()
    async with db_sessionmaker() as outcome, db_sessionmaker() as heartbeat:
        heartbeat_pid = (await heartbeat.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert await machine(outcome).record_unknown(intent.id, 1, Actor.REQUEST) is not None
        renewing = asyncio.create_task(machine(heartbeat).renew_lease(intent.id, 1, Actor.REQUEST))
        await _until_waiting_on_a_lock(outcome, heartbeat_pid)
        await outcome.commit()
        assert await renewing is None
        await heartbeat.commit()
    async with db_sessionmaker() as check:
        stored = await snapshot(check, intent.id)
    assert (stored["placement_state"], stored["lease_until"]) == ("unknown", None)


async def test_record_unknown_ends_the_lease_for_good_so_a_retry_may_begin_at_once(
    db_session: AsyncSession, user_id: str
) -> None:
    intent = await OrdersRepository(db_session).add(
        make_order(user_id), lease=timedelta(seconds=LEASE)
    )
    await db_session.commit()
    m = machine(db_session)

    assert await m.record_unknown(intent.id, 1, Actor.REQUEST) is not None
    # the heartbeat of the same attempt, waking after the outcome, must not bring it back
    assert await m.renew_lease(intent.id, 1, Actor.REQUEST) is None
    assert (await snapshot(db_session, intent.id))["lease_until"] is None
    taken = await m.begin_attempt(intent.id, 1, Actor.RETRY)
    await db_session.commit()

    assert taken is not None
    assert (taken.placement_state, taken.attempt) == ("pending", 2)


async def test_begin_attempt_needs_a_lease_length(db_session: AsyncSession, user_id: str):
    order_id = await insert(db_session, user_id, "unknown")

    with pytest.raises(ValueError, match="lease_seconds"):
        await OrderStateMachine(db_session).begin_attempt(order_id, 1, Actor.RETRY)


async def test_two_concurrent_begin_attempts_have_exactly_one_winner(
    db_sessionmaker: async_sessionmaker[AsyncSession], user_id: str
) -> None:
    async with db_sessionmaker() as setup:
        order_id = await insert(setup, user_id, "unknown")
    ready = asyncio.Barrier(2)

    async def take(actor: Actor) -> int | None:
        async with db_sessionmaker() as session:
            await session.connection()  # both hold a connection before the race starts
            await ready.wait()
            row = await machine(session).begin_attempt(order_id, 1, actor)
            attempt = None if row is None else row.attempt
            await session.commit()
            return attempt

    results = await asyncio.gather(take(Actor.RETRY), take(Actor.RECONCILER))

    assert sorted(results, key=lambda a: a is None) == [2, None]
    async with db_sessionmaker() as check:
        assert (await snapshot(check, order_id))["attempt"] == 2


@pytest.mark.parametrize("first_commits", [True, False])
async def test_a_begin_attempt_blocked_on_the_row_sees_the_first_ones_outcome(
    db_sessionmaker: async_sessionmaker[AsyncSession], user_id: str, first_commits: bool
) -> None:
    # Deterministic interleaving: the second UPDATE waits on the first's row lock, then
    # re-checks its guard against whatever the first left (committed or rolled back).
    async with db_sessionmaker() as setup:
        order_id = await insert(setup, user_id, "unknown")
    async with db_sessionmaker() as first, db_sessionmaker() as second:
        second_pid = (await second.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        won = await machine(first).begin_attempt(order_id, 1, Actor.RETRY)
        assert won is not None
        blocked = asyncio.create_task(machine(second).begin_attempt(order_id, 1, Actor.RECONCILER))
        await _until_waiting_on_a_lock(first, second_pid)

        if first_commits:
            await first.commit()
        else:
            await first.rollback()
        row = await blocked
        await second.commit()

    if first_commits:
        assert row is None
    else:
        assert row is not None and row.attempt == 2


async def _until_waiting_on_a_lock(session: AsyncSession, pid: int) -> None:
    query = text("SELECT count(*) FROM pg_locks WHERE pid = :pid AND NOT granted")

    async def waiting() -> bool:
        return bool((await session.execute(query, {"pid": pid})).scalar_one())

    await wait_until_async(waiting, what="the second UPDATE to wait on the row's lock")


# --- confirm -------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["pending", "unknown", "failed"])
async def test_confirm_makes_the_order_the_customers_from_any_unplaced_state(
    db_session: AsyncSession, user_id: str, state: str
) -> None:
    # Even under another actor's live lease: whoever learns Instacart has it may say so.
    order_id = await insert(
        db_session, user_id, state, lease_until=datetime(2999, 1, 1, tzinfo=UTC)
    )

    row = await machine(db_session).confirm(order_id, Actor.RECONCILER, "brand_new", items=ITEMS)
    await db_session.commit()

    stored = await snapshot(db_session, order_id)
    assert row is not None
    assert (stored["placement_state"], stored["status"], stored["items"]) == (
        "created",
        "brand_new",
        ITEMS,
    )
    assert (stored["failure_code"], stored["failure_detail"], stored["lease_until"]) == (
        None,
        None,
        None,
    )
    visible, _ = await OrdersRepository(db_session).list_for_user(
        user_id, 10, placement_states=("created",)
    )
    assert [o.id for o in visible] == [order_id]


async def test_confirm_of_an_already_created_order_returns_none(
    db_session: AsyncSession, user_id: str
) -> None:
    order_id = await insert(db_session, user_id, "created", status="picking")
    before = await snapshot(db_session, order_id)

    row = await machine(db_session).confirm(order_id, Actor.RETRY, "brand_new", items=[])
    await db_session.commit()

    assert row is None
    assert await snapshot(db_session, order_id) == before


async def test_confirm_keeps_a_status_a_callback_set_earlier(
    db_session: AsyncSession, user_id: str
) -> None:
    order_id = await insert(
        db_session, user_id, "unknown", status="acknowledged", status_updated_at=T0
    )

    row = await machine(db_session).confirm(order_id, Actor.REQUEST, "brand_new")
    await db_session.commit()

    assert row is not None
    stored = await snapshot(db_session, order_id)
    assert (stored["placement_state"], stored["status"], stored["status_updated_at"]) == (
        "created",
        "acknowledged",
        T0,
    )


async def test_confirm_without_status_or_items_leaves_them_as_they_were(
    db_session: AsyncSession, user_id: str
) -> None:
    order_id = await insert(db_session, user_id, "pending")
    before = await snapshot(db_session, order_id)

    row = await machine(db_session).confirm(order_id, Actor.CALLBACK, None)
    await db_session.commit()

    stored = await snapshot(db_session, order_id)
    assert row is not None
    assert stored["placement_state"] == "created"
    assert (stored["status"], stored["items"]) == (before["status"], before["items"])


# --- record_status -------------------------------------------------------------------------


async def test_record_status_ignores_older_and_equal_timestamps(
    db_session: AsyncSession, user_id: str
) -> None:
    order_id = await insert(db_session, user_id, "created")
    m = machine(db_session)

    assert await m.record_status(order_id, Actor.CALLBACK, "picking", T0)
    assert not await m.record_status(order_id, Actor.CALLBACK, "acknowledged", T0 - timedelta(1))
    assert not await m.record_status(order_id, Actor.READER, "other", T0)
    assert await m.record_status(order_id, Actor.RECONCILER, "delivered", T0 + timedelta(1))
    await db_session.commit()

    stored = await snapshot(db_session, order_id)
    assert (stored["status"], stored["status_updated_at"]) == ("delivered", T0 + timedelta(1))


async def test_a_lookup_applies_in_any_direction_but_never_over_newer_news(
    db_session: AsyncSession, user_id: str
) -> None:
    order_id = await insert(db_session, user_id, "created")
    m = machine(db_session)
    assert await m.record_status(order_id, Actor.CALLBACK, "picking", T0)
    # the callbacks of picking -> rescheduled -> acknowledged were lost; the lookup says so
    moved_back = await m.record_lookup(
        order_id, Actor.RECONCILER, "acknowledged", T0 + timedelta(seconds=1)
    )
    assert moved_back is not None and moved_back.status == "acknowledged"
    # and the workflow goes on from there, by callbacks again
    assert await m.record_status(order_id, Actor.CALLBACK, "picking", T0 + timedelta(seconds=2))
    # an event dated after a lookup was sent is newer than the lookup's answer
    assert await m.record_status(order_id, Actor.CALLBACK, "delivering", T0 + timedelta(seconds=5))
    assert not await m.record_lookup(order_id, Actor.READER, "picking", T0 + timedelta(seconds=4))
    # a lookup sent within the event's second is on the same grid, and applies
    same_second = T0 + timedelta(seconds=5, milliseconds=700)
    assert await m.record_lookup(order_id, Actor.READER, "rescheduled", same_second)
    await db_session.commit()
    stored = await snapshot(db_session, order_id)
    assert (stored["status"], stored["status_updated_at"]) == (
        "rescheduled",
        T0 + timedelta(seconds=5),
    )


async def test_a_status_outside_the_vocabulary_is_never_recorded(
    db_session: AsyncSession, user_id: str
) -> None:
    order_id = await insert(db_session, user_id, "created")
    m = machine(db_session)
    strange = "refund_issued_call_555_0100"
    assert await m.record_status(order_id, Actor.CALLBACK, strange, T0) is None
    assert await m.record_lookup(order_id, Actor.READER, strange, T0) is None
    await db_session.commit()
    assert (await snapshot(db_session, order_id))["status"] == "brand_new"


async def test_record_status_moves_only_forward_in_the_workflow(
    db_session: AsyncSession, user_id: str
) -> None:
    order_id = await insert(db_session, user_id, "created")
    m = machine(db_session)

    assert await m.record_status(order_id, Actor.CALLBACK, "picking", T0)
    # a newer event that would move it backwards is stale
    assert not await m.record_status(order_id, Actor.CALLBACK, "acknowledged", T0 + timedelta(1))
    # a later step in the same (whole) second applies; an earlier one or a repeat does not
    assert await m.record_status(order_id, Actor.CALLBACK, "delivering", T0)
    assert not await m.record_status(order_id, Actor.CALLBACK, "picking", T0)
    # a status outside the workflow is ordered by time alone
    assert await m.record_status(order_id, Actor.CALLBACK, "rescheduled", T0 + timedelta(2))
    assert await m.record_status(order_id, Actor.CALLBACK, "delivered", T0 + timedelta(3))
    # an ended order stays ended
    assert not await m.record_status(order_id, Actor.CALLBACK, "picking", T0 + timedelta(4))
    await db_session.commit()

    stored = await snapshot(db_session, order_id)
    assert (stored["status"], stored["version"]) == ("delivered", 4)


async def test_a_move_refreshes_the_order_already_in_the_session(
    db_session: AsyncSession, user_id: str
) -> None:
    order = await OrdersRepository(db_session).add(
        make_order(user_id, placement_state="created", status="brand_new")
    )

    await machine(db_session).record_status(order.id, Actor.CALLBACK, "picking", T0)

    assert (order.status, order.status_updated_at) == ("picking", T0)


# --- the metric ------------------------------------------------------------------------------


async def test_transitions_are_counted_applied_and_refused(
    db_session: AsyncSession, user_id: str
) -> None:
    order_id = await insert(db_session, user_id, "pending")
    applied = transitions_counted("confirm", Actor.CALLBACK, "applied")
    refused = transitions_counted("confirm", Actor.CALLBACK, "refused")
    fenced = transitions_counted("record_unknown", Actor.RETRY, "refused")
    m = machine(db_session)

    assert await m.confirm(order_id, Actor.CALLBACK, "brand_new") is not None
    assert await m.confirm(order_id, Actor.CALLBACK, "brand_new") is None
    assert await m.record_unknown(order_id, 7, Actor.RETRY) is None

    assert transitions_counted("confirm", Actor.CALLBACK, "applied") == applied + 1
    assert transitions_counted("confirm", Actor.CALLBACK, "refused") == refused + 1
    assert transitions_counted("record_unknown", Actor.RETRY, "refused") == fenced + 1


async def test_a_move_by_an_actor_not_allowed_it_is_not_counted(
    db_session: AsyncSession, user_id: str
) -> None:
    order_id = await insert(db_session, user_id, "created")
    counted = {
        result: transitions_counted("record_status", Actor.REQUEST, result)
        for result in ("applied", "refused")
    }

    with pytest.raises(ValueError):
        await machine(db_session).record_status(order_id, Actor.REQUEST, "picking", T0)

    assert {
        result: transitions_counted("record_status", Actor.REQUEST, result)
        for result in ("applied", "refused")
    } == counted


# --- the row a move returns -----------------------------------------------------------------


async def test_a_move_brings_the_row_the_session_holds_up_to_date(
    db_session: AsyncSession, user_id: str
) -> None:
    order_id = await insert(db_session, user_id, "pending")
    held = await db_session.get(OrderRow, order_id)
    assert held is not None and held.placement_state == "pending"

    row = await machine(db_session).confirm(order_id, Actor.REQUEST, "brand_new", items=ITEMS)

    # The caller that read the order first sees the write on the object it already has.
    assert row is held
    assert (held.placement_state, held.status, held.version, held.items) == (
        "created",
        "brand_new",
        1,
        ITEMS,
    )
    await db_session.commit()
    assert (await snapshot(db_session, order_id))["placement_state"] == "created"


async def test_a_moves_row_is_what_was_written_and_never_flushed_back(
    db_session: AsyncSession, user_id: str
) -> None:
    order_id = await insert(db_session, user_id, "unknown")
    db_session.expunge_all()

    row = await machine(db_session).record_failed(order_id, 1, Actor.RETRY, "refused", "no")
    assert row is not None
    after = await snapshot(db_session, order_id)
    assert {name: getattr(row, name) for name in after} == after

    # Detached: changing it writes nothing the state machine did not guard.
    row.placement_state = "created"
    await db_session.commit()
    assert (await snapshot(db_session, order_id))["placement_state"] == "failed"
