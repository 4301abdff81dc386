"""What one checkout costs Postgres, counted (not timed) on the real engine: connections taken
from the pool, transactions and statements. A change that adds a round trip to the placement
shows here as a changed count (docs/performance.md, "Round trips per checkout")."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from tests.support.checkout import Checkout


@contextmanager
def counted(checkout: Checkout) -> Iterator[Counter[str]]:
    """Counts of `connections`, `transactions` and `statements` while the block runs, and each
    statement's first word (`INSERT`, `WITH`, ...) as `sql <word>`."""
    engine = checkout.app.state.bff.engine.sync_engine
    counts: Counter[str] = Counter()

    def on_checkout(*_: Any) -> None:
        counts["connections"] += 1

    def on_begin(_: Any) -> None:
        counts["transactions"] += 1

    def on_statement(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        counts["statements"] += 1
        counts[f"sql {statement.split(None, 1)[0].upper()}"] += 1

    listeners = [
        (engine.pool, "checkout", on_checkout),
        (engine, "begin", on_begin),
        (engine, "before_cursor_execute", on_statement),
    ]
    for target, name, listener in listeners:
        event.listen(target, name, listener)
    try:
        yield counts
    finally:
        for target, name, listener in listeners:
            event.remove(target, name, listener)


async def test_a_reservation_is_one_statement_in_one_transaction(
    checkout: Checkout, user: str
) -> None:
    store_id = await checkout.first_store("pickup", user)
    slot = await checkout.first_slot("pickup", store_id, user)
    body = {"fulfillment": "pickup", "store_id": store_id, "slot_id": slot["id"]}
    with counted(checkout) as counts:
        response = await checkout.bff.post(
            "/v1/reservations", json=body, headers=checkout.auth(user)
        )
    assert response.status_code == 201, response.text
    assert counts == {"connections": 1, "transactions": 1, "statements": 1, "sql INSERT": 1}


async def test_a_placement_is_two_transactions_of_three_statements(
    checkout: Checkout, user: str
) -> None:
    reservation = await checkout.reserve("delivery", user)
    with counted(checkout) as counts:
        placed = await checkout.place(reservation, user)
    assert placed.status_code == 201, placed.text
    # The intent (key, reservation check, order row: one statement), Instacart's create, then
    # the confirmation (the guarded UPDATE of the order, the key's stored answer).
    assert counts == {
        "connections": 2,
        "transactions": 2,
        "statements": 3,
        "sql WITH": 1,
        "sql UPDATE": 2,
    }


async def test_a_replay_is_one_statement_and_a_refused_placement_writes_nothing(
    checkout: Checkout, user: str
) -> None:
    reservation = await checkout.reserve("pickup", user)
    key = uuid.uuid4().hex
    first = await checkout.place(reservation, user, key)
    assert first.status_code == 201, first.text
    with counted(checkout) as counts:
        again = await checkout.place(reservation, user, key)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert counts == {"connections": 1, "transactions": 1, "statements": 1, "sql WITH": 1}

    # The reservation is used: the one statement notices, and its claim is rolled back.
    other_key = uuid.uuid4().hex
    with counted(checkout) as counts:
        refused = await checkout.place(reservation, user, other_key)
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "reservation_used"
    assert counts["statements"] == 1
    refused_again = await checkout.place(reservation, user, other_key)
    assert refused_again.json()["code"] == "reservation_used"
    assert "idempotent-replayed" not in refused_again.headers
