from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.orders.idempotency import ClaimOutcome, IdempotencyRepository
from app.orders.repository import OrdersRepository
from app.orders.tables import IdempotencyKey
from tests.db.factories import make_order, new_order_id

pytestmark = pytest.mark.usefixtures("settle_leftovers")

LOCK = 30
TTL = 24 * 3600


def fingerprint(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


async def claim_and_record(session: AsyncSession, user_id: str, key: str, body: str = "a"):
    """What the service does: claim, and insert the order only when the claim is new."""
    order_id = new_order_id()
    result = await IdempotencyRepository(session).claim(
        user_id, key, fingerprint(body), order_id, lock_seconds=LOCK, ttl_seconds=TTL
    )
    if result.outcome is ClaimOutcome.CLAIMED:
        await OrdersRepository(session).add(make_order(user_id, id=order_id))
    await session.commit()
    return result


async def test_first_claim_of_a_key_is_claimed(db_session: AsyncSession, user_id: str) -> None:
    result = await claim_and_record(db_session, user_id, "k1")

    assert result.outcome == ClaimOutcome.CLAIMED
    row = await IdempotencyRepository(db_session).get(user_id, "k1")
    assert row is not None
    assert (row.state, row.order_id, row.response_body) == ("in_progress", result.order_id, None)
    assert row.locked_until > row.created_at
    # Two readings of the database's clock in one statement: microseconds apart at most.
    assert timedelta(seconds=TTL) <= row.expires_at - row.created_at < timedelta(seconds=TTL + 1)


async def test_claim_while_first_request_runs_is_in_progress(
    db_session: AsyncSession, user_id: str
) -> None:
    first = await claim_and_record(db_session, user_id, "k1")

    second = await claim_and_record(db_session, user_id, "k1")

    assert second.outcome == ClaimOutcome.IN_PROGRESS
    assert second.order_id == first.order_id


async def test_claim_after_completion_returns_stored_response(
    db_session: AsyncSession, user_id: str
) -> None:
    first = await claim_and_record(db_session, user_id, "k1")
    body = {"id": first.order_id, "status": "brand_new", "items": [{"quantity": 1}]}
    assert await IdempotencyRepository(db_session).complete(
        user_id, "k1", first.order_id, 201, body
    )
    await db_session.commit()

    replay = await claim_and_record(db_session, user_id, "k1")

    assert replay.outcome == ClaimOutcome.COMPLETED
    assert (replay.response_status, replay.response_body) == (201, body)
    assert replay.order_id == first.order_id


async def test_claim_with_another_body_is_mismatch(db_session: AsyncSession, user_id: str):
    first = await claim_and_record(db_session, user_id, "k1", body="a")
    in_flight = await claim_and_record(db_session, user_id, "k1", body="b")
    assert await IdempotencyRepository(db_session).complete(
        user_id, "k1", first.order_id, 201, {"id": "x"}
    )
    await db_session.commit()
    done = await claim_and_record(db_session, user_id, "k1", body="b")

    assert in_flight.outcome == ClaimOutcome.MISMATCH
    assert done.outcome == ClaimOutcome.MISMATCH
    assert done.response_body is None


async def test_same_key_for_another_user_is_independent(
    db_session: AsyncSession, user_id: str, other_user_id: str
) -> None:
    await claim_and_record(db_session, user_id, "k1", body="a")

    other = await claim_and_record(db_session, other_user_id, "k1", body="b")

    assert other.outcome == ClaimOutcome.CLAIMED


async def test_claim_after_lock_expired_is_reclaimable_and_relocks(
    db_session: AsyncSession, user_id: str
) -> None:
    repo = IdempotencyRepository(db_session)
    order_id = new_order_id()
    first = await repo.claim(user_id, "k1", fingerprint("a"), order_id, 0, TTL)
    await OrdersRepository(db_session).add(make_order(user_id, id=order_id))
    await db_session.commit()
    assert first.outcome == ClaimOutcome.CLAIMED

    retry = await repo.claim(user_id, "k1", fingerprint("a"), new_order_id(), LOCK, TTL)
    await db_session.commit()
    again = await repo.claim(user_id, "k1", fingerprint("a"), new_order_id(), LOCK, TTL)

    assert retry.outcome == ClaimOutcome.RECLAIMABLE
    assert retry.order_id == order_id  # resolve the earlier order, never create another
    assert again.outcome == ClaimOutcome.IN_PROGRESS


async def test_claim_of_an_expired_key_starts_afresh(db_session: AsyncSession, user_id: str):
    first = await claim_and_record(db_session, user_id, "k1", body="a")
    assert await IdempotencyRepository(db_session).complete(
        user_id, "k1", first.order_id, 201, {"id": "x"}
    )
    await db_session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.user_id == user_id)
        .values(expires_at=func.now() - timedelta(seconds=1))
    )
    await db_session.commit()

    fresh = await claim_and_record(db_session, user_id, "k1", body="b")

    assert fresh.outcome == ClaimOutcome.CLAIMED
    assert fresh.order_id != first.order_id
    row = await IdempotencyRepository(db_session).get(user_id, "k1")
    assert (row.state, row.fingerprint, row.response_status) == (
        "in_progress",
        fingerprint("b"),
        None,
    )


async def test_release_frees_an_in_progress_key_only(db_session: AsyncSession, user_id: str):
    repo = IdempotencyRepository(db_session)
    await claim_and_record(db_session, user_id, "k1")
    second = await claim_and_record(db_session, user_id, "k2")
    assert await repo.complete(user_id, "k2", second.order_id, 201, {"id": "x"})
    await db_session.commit()

    assert await repo.release(user_id, "k1")
    assert not await repo.release(user_id, "k2")
    await db_session.commit()

    assert (await claim_and_record(db_session, user_id, "k1")).outcome == ClaimOutcome.CLAIMED
    assert (await claim_and_record(db_session, user_id, "k2")).outcome == ClaimOutcome.COMPLETED


async def test_claim_without_the_order_row_fails_at_commit(
    db_session: AsyncSession, user_id: str
) -> None:
    await IdempotencyRepository(db_session).claim(
        user_id, "k1", fingerprint("a"), new_order_id(), LOCK, TTL
    )
    with pytest.raises(IntegrityError):
        await db_session.commit()


async def test_concurrent_claims_of_one_key_give_exactly_one_claimed(
    db_sessionmaker: async_sessionmaker[AsyncSession], user_id: str
) -> None:
    # The race starts when every session holds its connection.
    all_connected = asyncio.Barrier(20)

    async def attempt():
        async with db_sessionmaker() as session:
            await session.connection()
            await all_connected.wait()
            return await claim_and_record(session, user_id, "same-key")

    results = await asyncio.gather(*(attempt() for _ in range(20)))

    outcomes = [r.outcome for r in results]
    assert outcomes.count(ClaimOutcome.CLAIMED) == 1
    assert outcomes.count(ClaimOutcome.IN_PROGRESS) == 19
    claimed = next(r for r in results if r.outcome is ClaimOutcome.CLAIMED)
    assert {r.order_id for r in results} == {claimed.order_id}


async def test_purge_expired_deletes_only_expired_keys(
    db_session: AsyncSession, user_id: str
) -> None:
    repo = IdempotencyRepository(db_session)
    for key in ("old-1", "old-2", "fresh"):
        await claim_and_record(db_session, user_id, key)
    await db_session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key.like("old-%"))
        .values(expires_at=datetime(1970, 1, 2, tzinfo=UTC))
    )
    await db_session.commit()

    purged = await repo.purge_expired(datetime(1970, 1, 3, tzinfo=UTC))
    await db_session.commit()

    assert purged == 2
    keys = (
        await db_session.scalars(
            select(IdempotencyKey.key).where(IdempotencyKey.user_id == user_id)
        )
    ).all()
    assert keys == ["fresh"]


async def test_complete_refuses_when_the_key_refers_to_another_order(
    db_session: AsyncSession, user_id: str
) -> None:
    repo = IdempotencyRepository(db_session)
    first = await claim_and_record(db_session, user_id, "k1")
    other = await OrdersRepository(db_session).add(make_order(user_id))
    await db_session.commit()

    stored = await repo.complete(user_id, "k1", other.id, 201, {"id": other.id})
    missing = await repo.complete(user_id, "no-such-key", first.order_id, 201, {"id": "x"})
    await db_session.commit()

    assert (stored, missing) == (False, False)
    row = await repo.get(user_id, "k1")
    assert (row.state, row.order_id, row.response_status, row.response_body) == (
        "in_progress",
        first.order_id,
        None,
        None,
    )


async def test_unlock_lets_a_retry_with_the_same_body_resume_at_once(
    db_session: AsyncSession, user_id: str
) -> None:
    repo = IdempotencyRepository(db_session)
    first = await claim_and_record(db_session, user_id, "k1", body="a")
    assert (await claim_and_record(db_session, user_id, "k1", body="a")).outcome == (
        ClaimOutcome.IN_PROGRESS
    )

    assert await repo.unlock(user_id, "k1", first.order_id)
    await db_session.commit()
    retry = await claim_and_record(db_session, user_id, "k1", body="a")
    another_body = await claim_and_record(db_session, user_id, "k1", body="b")

    assert retry.outcome == ClaimOutcome.RECLAIMABLE
    assert retry.order_id == first.order_id
    assert another_body.outcome == ClaimOutcome.MISMATCH


async def test_unlock_leaves_completed_keys_and_other_orders_keys_alone(
    db_session: AsyncSession, user_id: str
) -> None:
    repo = IdempotencyRepository(db_session)
    done = await claim_and_record(db_session, user_id, "done")
    assert await repo.complete(user_id, "done", done.order_id, 201, {"id": done.order_id})
    running = await claim_and_record(db_session, user_id, "running")
    await db_session.commit()

    assert not await repo.unlock(user_id, "done", done.order_id)
    assert not await repo.unlock(user_id, "running", done.order_id)  # not this key's order
    assert not await repo.unlock(user_id, "no-such-key", running.order_id)
    await db_session.commit()

    replay = await claim_and_record(db_session, user_id, "done")
    still_running = await claim_and_record(db_session, user_id, "running")
    assert (replay.outcome, replay.response_status) == (ClaimOutcome.COMPLETED, 201)
    assert still_running.outcome == ClaimOutcome.IN_PROGRESS


async def test_complete_for_order_stores_the_answer_on_its_in_progress_key(
    db_session: AsyncSession, user_id: str
) -> None:
    repo = IdempotencyRepository(db_session)
    first = await claim_and_record(db_session, user_id, "k1")

    assert await repo.complete_for_order(first.order_id, 201, {"id": first.order_id}) == 1
    assert await repo.complete_for_order(first.order_id, 201, {"id": "again"}) == 0
    await db_session.commit()

    replay = await claim_and_record(db_session, user_id, "k1")
    assert (replay.outcome, replay.response_body) == (
        ClaimOutcome.COMPLETED,
        {"id": first.order_id},
    )


async def test_release_for_order_gives_back_only_an_in_progress_key(
    db_session: AsyncSession, user_id: str
) -> None:
    repo = IdempotencyRepository(db_session)
    refused = await claim_and_record(db_session, user_id, "refused")
    done = await claim_and_record(db_session, user_id, "done")
    assert await repo.complete(user_id, "done", done.order_id, 201, {"id": done.order_id})

    assert await repo.release_for_order(refused.order_id) == 1
    assert await repo.release_for_order(done.order_id) == 0
    await db_session.commit()

    assert await repo.get(user_id, "refused") is None
    assert (await repo.get(user_id, "done")).state == "completed"
