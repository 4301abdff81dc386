"""No lost order and never two: ambiguous creates, crashes after the create, definitive refusals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from app.orders.state_machine import OrderStateMachine
from app.orders.tables import IdempotencyKey
from app.platform.database.session import build_sessionmaker
from local_processes.waiting import wait_until_async
from tests.checkout.placements import lapse_leases, placement_of, reconciler_for
from tests.support.checkout import Checkout


async def test_create_that_hangs_after_creating_is_504_then_reconciled(
    open_checkout: Callable[..., Any], user: str
) -> None:
    async with open_checkout(instacart_create_deadline_seconds=0.5) as checkout:
        reservation = await checkout.reserve("delivery", user)
        await checkout.faults(
            {"operations": {"createDeliveryOrder": {"hang_after_create": True, "hang_seconds": 5}}}
        )
        response = await checkout.place(reservation, user, "lost-answer")
        assert response.status_code == 504
        assert response.json()["code"] == "upstream_timeout"
        [(order_id, state)] = await placement_of(checkout, user)
        assert state == "unknown"
        # not an order to the user until it is settled
        listed = await checkout.bff.get("/v1/orders", headers=checkout.auth(user))
        assert listed.json()["orders"] == []

        await checkout.sandbox.delete("/sandbox/faults")
        summary = await reconciler_for(checkout).run_once()
        assert (summary.examined, summary.created) == (1, 1)
        assert await placement_of(checkout, user) == [(order_id, "created")]

        retry = await checkout.place(reservation, user, "lost-answer")
        assert retry.status_code == 201
        assert retry.json()["id"] == order_id
        assert retry.headers["idempotent-replayed"] == "true"
        assert await checkout.calls("createDeliveryOrder") == 1


async def test_database_failure_after_the_create_is_restored_by_reconciliation(
    checkout: Checkout, user: str, monkeypatch
) -> None:
    reservation = await checkout.reserve("pickup", user)
    real_confirm = OrderStateMachine.confirm
    failures = {"left": 1}

    async def flaky_confirm(self, *args: Any, **kwargs: Any):
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionResetError("database connection lost")
        return await real_confirm(self, *args, **kwargs)

    monkeypatch.setattr(OrderStateMachine, "confirm", flaky_confirm)
    response = await checkout.place(reservation, user, "db-blip")
    assert response.status_code == 503
    assert response.json()["code"] == "dependency_unavailable"
    assert int(response.headers["retry-after"]) >= 1
    [(order_id, state)] = await placement_of(checkout, user)
    assert state == "pending"

    # The request's lease is still live: the reconciler leaves the placement alone ...
    assert (await reconciler_for(checkout).run_once()).examined == 0
    # ... until it lapses.
    await lapse_leases(checkout, user)
    summary = await reconciler_for(checkout).run_once()
    assert summary.created == 1
    assert await placement_of(checkout, user) == [(order_id, "created")]
    fetched = await checkout.bff.get(f"/v1/orders/{order_id}", headers=checkout.auth(user))
    assert fetched.status_code == 200
    retry = await checkout.place(reservation, user, "db-blip")
    assert retry.json()["id"] == order_id
    assert await checkout.calls("createPickupOrder") == 1


async def test_definitive_refusal_marks_failed_and_shows_no_order(
    checkout: Checkout, user: str
) -> None:
    stale = await checkout.reserve("pickup", user)
    await checkout.reserve("pickup", user)  # Instacart's newer hold replaces the first
    response = await checkout.place(stale, user, "refused")
    assert response.status_code == 409
    assert response.json()["code"] == "reservation_expired"
    [(order_id, state)] = await placement_of(checkout, user)
    assert state == "failed"
    listed = await checkout.bff.get("/v1/orders", headers=checkout.auth(user))
    assert listed.json()["orders"] == []
    got = await checkout.bff.get(f"/v1/orders/{order_id}", headers=checkout.auth(user))
    assert got.status_code == 404
    # the key was given back: it is not stuck in progress
    sessions = build_sessionmaker(checkout.app.state.bff.engine)
    async with sessions() as session:
        keys = await session.execute(select(IdempotencyKey).where(IdempotencyKey.user_id == user))
        assert keys.first() is None


async def test_ambiguous_503_is_resolved_on_retry_without_a_second_order(
    open_checkout: Callable[..., Any], user: str
) -> None:
    async with open_checkout() as checkout:
        reservation = await checkout.reserve("delivery", user)
        await checkout.faults(
            {"operations": {"createDeliveryOrder": {"fail_next": 1, "status": 503}}}
        )
        first = await checkout.place(reservation, user, "flaky")
        assert first.status_code == 503
        assert first.json()["code"] == "upstream_unavailable"
        assert "retry-after" in first.headers
        [(order_id, state)] = await placement_of(checkout, user)
        assert state == "unknown"
        # the first request is over: its claim was unlocked, so the retry resumes at once
        retry = await checkout.place(reservation, user, "flaky")
        assert retry.status_code == 201, retry.text
        assert retry.json()["id"] == order_id
        # GET found nothing (the 503 came before creating), so it was sent again under its id
        assert await checkout.calls("getOrder") == 1
        assert await checkout.calls("createDeliveryOrder") == 2
        listed = await checkout.bff.get("/v1/orders", headers=checkout.auth(user))
        assert [o["id"] for o in listed.json()["orders"]] == [order_id]


async def test_reconciler_fails_a_placement_instacart_never_saw(
    checkout: Checkout, user: str
) -> None:
    reservation = await checkout.reserve("pickup", user)
    await checkout.faults({"operations": {"createPickupOrder": {"fail_next": 1, "status": 500}}})
    assert (await checkout.place(reservation, user, "gone")).status_code == 503
    summary = await reconciler_for(checkout).run_once()
    assert summary.failed == 1
    [(_, state)] = await placement_of(checkout, user)
    assert state == "failed"
    # the key is free again: a retry places the order afresh
    retry = await checkout.place(reservation, user, "gone")
    assert retry.status_code == 201


async def test_the_background_reconciler_settles_placements_by_itself(
    open_checkout: Callable[..., Any], user: str
) -> None:
    async with open_checkout(
        reconciler_enabled=True,
        reconcile_interval_seconds=0.2,
        reconcile_grace_seconds=0,
        instacart_create_deadline_seconds=0.3,
    ) as checkout:
        reservation = await checkout.reserve("pickup", user)
        await checkout.faults(
            {"operations": {"createPickupOrder": {"hang_after_create": True, "hang_seconds": 5}}}
        )
        assert (await checkout.place(reservation, user, "bg")).status_code == 504
        await checkout.sandbox.delete("/sandbox/faults")

        async def settled() -> bool:
            return [state for _, state in await placement_of(checkout, user)] == ["created"]

        await wait_until_async(settled, what="the background reconciler to settle the placement")
