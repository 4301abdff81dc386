"""Ambiguous stays ambiguous until Instacart settles it (issue 15, finding 1).

A create slower than the deadline may still land at Instacart after the storefront was told
504. Two ways that used to end in a second order for one checkout:

- the retry's lookup found nothing, its re-sent create was refused by the open circuit breaker,
  and that local refusal recorded the order `failed` and gave the key back;
- the order was recorded `failed` anyway (the reconciler's lookup came before the create
  landed), and the key's next request was refused "hold already used by order X", X being the
  customer's own first placement: the customer was told 409 and checked out again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from app.instacart.models import Address, Cart, CartItem, CreateOrderRequest
from app.instacart.policy import CREATE
from app.orders.tables import IdempotencyKey, OrderRow
from app.platform.database.session import build_sessionmaker
from tests.checkout.placements import placement_of, reconciler_for
from tests.support.addresses import SF_ADDRESS
from tests.support.checkout import Checkout


async def _an_ambiguous_first_create(checkout: Checkout, user: str, key: str) -> dict[str, Any]:
    """The first create gets no definite answer (a 503): nothing is known about it."""
    reservation = await checkout.reserve("delivery", user)
    await checkout.faults({"operations": {"createDeliveryOrder": {"fail_next": 1, "status": 503}}})
    first = await checkout.place(reservation, user, key)
    assert first.status_code == 503, first.text
    [(_, state)] = await placement_of(checkout, user)
    assert state == "unknown"
    return reservation


async def _the_first_create_lands(checkout: Checkout, user: str) -> str:
    """The create that timed out reaches Instacart now, with the placement's id and hold."""
    sessions = build_sessionmaker(checkout.app.state.bff.engine)
    async with sessions() as session:
        row = (
            (
                await session.execute(
                    select(OrderRow).where(OrderRow.user_id == user).order_by(OrderRow.created_at)
                )
            )
            .scalars()
            .first()
        )
    assert row is not None and row.hold_id is not None
    request = CreateOrderRequest(
        hold_id=row.hold_id,
        order_id=row.id,
        cart=Cart(items=[CartItem(upc=i["upc"], quantity=i["quantity"]) for i in row.items]),
        delivery_address=Address(
            address_line_1=SF_ADDRESS["address_line_1"], postal_code=SF_ADDRESS["postal_code"]
        ),
    )
    created = await checkout.app.state.bff.instacart.create_delivery_order(user, request)
    return created.id


async def _upstream_orders(checkout: Checkout, user: str) -> list[str]:
    answer = await checkout.sandbox.get("/sandbox/orders", params={"user_id": user})
    return [order["id"] for order in answer.json()["orders"]]


async def _visible_orders(checkout: Checkout, user: str) -> list[str]:
    listed = await checkout.bff.get("/v1/orders", headers=checkout.auth(user))
    return [order["id"] for order in listed.json()["orders"]]


async def test_a_breaker_refusal_after_an_ambiguous_create_leaves_the_order_unknown(
    open_checkout: Callable[..., Any], user: str
) -> None:
    async with open_checkout() as checkout:
        reservation = await _an_ambiguous_first_create(checkout, user, "slow")
        # Instacart keeps failing: the create breaker opens, so the retry's re-send (after a
        # lookup that finds nothing yet) is refused here, without reaching Instacart.
        breaker = checkout.app.state.bff.instacart.breakers[CREATE]
        for _ in range(checkout.settings.instacart_breaker_failure_threshold):
            breaker.record_failure()
        refused = await checkout.place(reservation, user, "slow")
        assert refused.status_code == 503, refused.text
        assert refused.json()["code"] == "upstream_unavailable"
        assert int(refused.headers["retry-after"]) >= 1
        [(order_id, state)] = await placement_of(checkout, user)
        assert state == "unknown"  # never `failed` on a refusal of our own

        # The first create lands after all; the breaker closes again.
        breaker.record_success()
        assert await _the_first_create_lands(checkout, user) == order_id

        settled = await checkout.place(reservation, user, "slow")
        assert settled.status_code == 201, settled.text
        assert settled.json()["id"] == order_id
        assert await _visible_orders(checkout, user) == [order_id]
        assert await _upstream_orders(checkout, user) == [order_id]


async def test_a_hold_used_by_the_customers_own_failed_placement_answers_with_that_order(
    open_checkout: Callable[..., Any], user: str
) -> None:
    async with open_checkout() as checkout:
        reservation = await _an_ambiguous_first_create(checkout, user, "late")
        # The reconciler looks before the slow create lands: not found, so `failed`, key freed.
        summary = await reconciler_for(checkout).run_once()
        assert summary.failed == 1
        [(first_id, state)] = await placement_of(checkout, user)
        assert state == "failed"
        assert await _the_first_create_lands(checkout, user) == first_id

        # The customer's retry claims the key anew; Instacart says the hold was used by the
        # first placement, which is this customer's order: confirmed, not expired.
        retried = await checkout.place(reservation, user, "late")
        assert retried.status_code == 201, retried.text
        assert retried.json()["id"] == first_id
        assert await _visible_orders(checkout, user) == [first_id]
        assert await _upstream_orders(checkout, user) == [first_id]
        states = dict(await placement_of(checkout, user))
        assert states.pop(first_id) == "created"
        assert list(states.values()) == ["failed"]  # the retry's own id never reached Instacart

        replay = await checkout.place(reservation, user, "late")
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.json() == retried.json()
        sessions = build_sessionmaker(checkout.app.state.bff.engine)
        async with sessions() as session:
            key = (
                await session.execute(
                    select(IdempotencyKey).where(
                        IdempotencyKey.user_id == user, IdempotencyKey.key == "late"
                    )
                )
            ).scalar_one()
        assert (key.order_id, key.state) == (first_id, "completed")


async def test_a_hold_used_by_an_order_the_customer_already_has_is_still_409(
    open_checkout: Callable[..., Any], user: str
) -> None:
    async with open_checkout() as checkout:
        reservation = await checkout.reserve("pickup", user)
        placed = await checkout.place(reservation, user, "first")
        assert placed.status_code == 201
        # A second checkout of the same reservation under a new key: the customer knows the
        # first order, so this one is refused (naming it) rather than answered with it.
        again = await checkout.place(reservation, user, "second")
        assert again.status_code == 409, again.text
        assert again.json()["code"] == "reservation_used"
        assert again.json()["order_id"] == placed.json()["id"]
        assert await _visible_orders(checkout, user) == [placed.json()["id"]]
