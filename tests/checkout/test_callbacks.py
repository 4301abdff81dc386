"""Instacart's callbacks: the token endpoint, the receiver, and how events move orders."""

from __future__ import annotations

import asyncio
import base64
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.callbacks.tables import CallbackEvent
from app.orders.tables import OrderRow
from app.orders.vocabulary import STATUS_RANKS
from app.platform.database.session import build_sessionmaker
from local_processes.postgres import upgrade
from tests.checkout.callbacks_helpers import (
    CLIENT_ID,
    CLIENT_SECRET,
    applied,
    callback_token,
    event,
    later,
    new_event_id,
    send,
    wired_checkout,
)
from tests.checkout.placements import reconciler_for
from tests.support.checkout import Checkout

TOKEN_URL = "/callbacks/instacart/token"


async def stored_order(checkout: Checkout, order_id: str) -> OrderRow:
    sessions = build_sessionmaker(checkout.app.state.bff.engine)
    async with sessions() as session:
        row = await session.get(OrderRow, order_id)
    assert row is not None
    return row


async def inbox(checkout: Checkout, order_id: str) -> list[tuple[int, str]]:
    sessions = build_sessionmaker(checkout.app.state.bff.engine)
    async with sessions() as session:
        rows = await session.execute(
            select(CallbackEvent.event_id, CallbackEvent.result)
            .where(CallbackEvent.order_id == order_id)
            .order_by(CallbackEvent.received_at)
        )
        return [(row.event_id, row.result) for row in rows]


async def placed_order(checkout: Checkout, user: str, fulfillment: str = "delivery") -> str:
    response = await checkout.place(await checkout.reserve(fulfillment, user), user)
    assert response.status_code == 201, response.text
    return response.json()["id"]


# --- the token endpoint -----------------------------------------------------------------------


async def test_the_token_endpoint_takes_form_or_basic_client_credentials(
    checkout: Checkout,
) -> None:
    in_form = await callback_token(checkout)
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    response = await checkout.bff.post(
        TOKEN_URL,
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == checkout.settings.callback_token_ttl_seconds
    assert response.headers["cache-control"] == "no-store"
    assert body["access_token"] != in_form


@pytest.mark.parametrize(
    ("data", "headers", "status", "error"),
    [
        ({"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": "no"},
         {}, 401, "invalid_client"),
        ({"grant_type": "client_credentials", "client_id": "other", "client_secret": CLIENT_SECRET},
         {}, 401, "invalid_client"),
        ({"grant_type": "client_credentials"}, {}, 401, "invalid_client"),
        ({"grant_type": "password", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
         {}, 400, "unsupported_grant_type"),
        ({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}, {}, 400, "invalid_request"),
        ({"grant_type": "client_credentials", "client_id": CLIENT_ID},
         {"Authorization": "Basic " + base64.b64encode(b"a:b").decode()}, 400, "invalid_request"),
    ],
)  # fmt: skip
async def test_the_token_endpoint_answers_errors_in_oauths_own_form(
    checkout: Checkout, data: dict[str, str], headers: dict[str, str], status: int, error: str
) -> None:
    response = await checkout.bff.post(TOKEN_URL, data=data, headers=headers)
    assert response.status_code == status
    assert response.json()["error"] == error
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Basic")


async def test_a_token_request_that_is_not_a_form_is_invalid_request(checkout: Checkout) -> None:
    response = await checkout.bff.post(TOKEN_URL, json={"grant_type": "client_credentials"})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


async def test_token_requests_are_rate_limited(open_checkout: Callable[..., Any]) -> None:
    async with open_checkout(rate_limit_callback_tokens_per_minute=2) as checkout:
        wrong = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": "x"}
        answers = [(await checkout.bff.post(TOKEN_URL, data=wrong)).status_code for _ in range(3)]
        assert answers == [401, 401, 429]


@pytest.mark.parametrize("behind_an_ingress", [False, True])
async def test_someone_elses_wrong_guesses_never_lock_instacart_out(
    open_checkout: Callable[..., Any], behind_an_ingress: bool
) -> None:
    hops = 1 if behind_an_ingress else 0
    async with open_checkout(
        rate_limit_callback_tokens_per_minute=10, forwarded_for_hops=hops
    ) as checkout:
        # The limit is a fixed window a minute: on the wall clock, 1,000 guesses could straddle
        # two windows. The limiter's clock stands still in the middle of one.
        middle_of_a_minute = (time.time() // 60) * 60 + 30
        checkout.app.state.bff.callback_token_limiter.clock = lambda: middle_of_a_minute

        def source(address: str) -> tuple[httpx.AsyncClient, dict[str, str]]:
            # Behind an ingress every request comes from its address; it appends the client's.
            peer = "10.0.0.2" if behind_an_ingress else address
            headers = {"X-Forwarded-For": f"1.2.3.4, {address}"} if behind_an_ingress else {}
            transport = httpx.ASGITransport(app=checkout.app, client=(peer, 4000))
            return httpx.AsyncClient(transport=transport, base_url="http://bff.test"), headers

        attacker, attacker_headers = source("203.0.113.7")
        instacart, instacart_headers = source("198.51.100.1")
        wrong = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": "x"}
        right = wrong | {"client_secret": CLIENT_SECRET}
        async with attacker, instacart:
            statuses = [
                (await attacker.post(TOKEN_URL, data=wrong, headers=attacker_headers)).status_code
                for _ in range(1000)
            ]
            assert statuses[:10] == [401] * 10 and set(statuses[10:]) == {429}
            # the attacker's source is refused before its guesses are even checked
            refused = await attacker.post(TOKEN_URL, data=right, headers=attacker_headers)
            assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
            issued = await instacart.post(TOKEN_URL, data=right, headers=instacart_headers)
            assert issued.status_code == 200, issued.text
            assert issued.json()["access_token"]


# --- the receiver ---------------------------------------------------------------------------


async def test_callbacks_without_a_valid_token_are_401_and_store_nothing(
    checkout: Checkout, user: str
) -> None:
    order_id = await placed_order(checkout, user)
    token = await callback_token(checkout)
    # expire the token the way Redis does
    tokens = checkout.app.state.bff.callback_tokens
    keys = [k async for k in checkout.app.state.bff.redis.scan_iter(match=tokens.prefix + "*")]
    assert keys
    for key in keys:
        await checkout.app.state.bff.redis.delete(key)
    for headers in ({}, {"Authorization": "Bearer forged"}, {"Authorization": f"Bearer {token}"}):
        response = await checkout.bff.post(
            "/callbacks/instacart", json=event(order_id, "picking", later(1)), headers=headers
        )
        assert response.status_code == 401
        assert response.json()["code"] == "unauthenticated"
    assert await inbox(checkout, order_id) == []


async def test_a_duplicate_callback_is_200_and_changes_nothing(
    checkout: Checkout, user: str
) -> None:
    order_id = await placed_order(checkout, user)
    token = await callback_token(checkout)
    body = event(order_id, "acknowledged", later(1))
    first = await send(checkout, body, token)
    await applied(checkout)
    version = (await stored_order(checkout, order_id)).version
    again = await send(checkout, body | {"event_name": "fulfillment.picking"}, token)
    await applied(checkout)
    assert (first.json(), again.json()) == ({"status": "accepted"}, {"status": "duplicate"})
    row = await stored_order(checkout, order_id)
    assert (row.status, row.version) == ("acknowledged", version)
    assert await inbox(checkout, order_id) == [(body["event_id"], "applied")]


async def test_an_older_or_backward_event_is_recorded_stale(checkout: Checkout, user: str) -> None:
    order_id = await placed_order(checkout, user)
    token = await callback_token(checkout)
    picking = event(order_id, "picking", later(5))
    older = event(order_id, "delivering", later(2))  # forward, but older than what is applied
    backward = event(order_id, "acknowledged", later(9))  # newer, but backwards
    for body in (picking, older, backward):
        assert (await send(checkout, body, token)).status_code == 200
        await applied(checkout)
    assert (await stored_order(checkout, order_id)).status == "picking"
    assert dict(await inbox(checkout, order_id)) == {
        picking["event_id"]: "applied",
        older["event_id"]: "stale",
        backward["event_id"]: "stale",
    }


async def test_unknown_orders_and_event_names_are_stored_not_errors(checkout: Checkout) -> None:
    token = await callback_token(checkout)
    unknown_order = event("ord_nobody", "picking", later(1))
    strange = event("ord_nobody2", "picking", later(1)) | {"event_name": "order.teleported"}
    assert (await send(checkout, unknown_order, token)).status_code == 200
    assert (await send(checkout, strange, token)).status_code == 200
    await applied(checkout)
    assert await inbox(checkout, "ord_nobody") == [(unknown_order["event_id"], "unknown_order")]
    assert await inbox(checkout, "ord_nobody2") == [(strange["event_id"], "unknown_event")]


async def test_a_status_outside_the_vocabulary_is_stored_and_counted_never_shown(
    checkout: Checkout, user: str
) -> None:
    order_id = await placed_order(checkout, user)
    token = await callback_token(checkout)
    forged = event(order_id, "refund_issued_call_555_0100", later(1))
    assert (await send(checkout, forged, token)).status_code == 200
    await applied(checkout)
    assert await inbox(checkout, order_id) == [(forged["event_id"], "unknown_event")]
    assert (await stored_order(checkout, order_id)).status == "brand_new"


async def test_an_event_dated_far_ahead_cannot_freeze_the_order(
    checkout: Checkout, user: str
) -> None:
    order_id = await placed_order(checkout, user)
    token = await callback_token(checkout)
    far = event(order_id, "acknowledged", later(1)) | {"event_timestamp": "9999-12-31T00:00:00Z"}
    assert (await send(checkout, far, token)).status_code == 200
    await applied(checkout)
    assert (await stored_order(checkout, order_id)).status == "acknowledged"
    # taken as dated when it came: the order's next steps still apply
    picking = event(order_id, "picking", datetime.now(UTC) + timedelta(seconds=1))
    assert (await send(checkout, picking, token)).status_code == 200
    await applied(checkout)
    assert (await stored_order(checkout, order_id)).status == "picking"
    assert dict(await inbox(checkout, order_id))[picking["event_id"]] == "applied"


async def test_a_malformed_callback_is_422(checkout: Checkout) -> None:
    token = await callback_token(checkout)
    response = await send(checkout, {"event_id": "x", "event_name": "fulfillment.x"}, token)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_failed"


async def test_a_decisive_status_is_shown_only_as_get_order_confirms_it(
    checkout: Checkout, user: str
) -> None:
    order_id = await placed_order(checkout, user)
    token = await callback_token(checkout)
    # Instacart's order is still brand_new: a "delivered" callback is not believed blindly
    await send(checkout, event(order_id, "delivered", later(3)), token)
    await applied(checkout)
    assert (await stored_order(checkout, order_id)).status == "brand_new"


async def test_a_callback_makes_a_placement_whose_answer_was_lost_the_customers(
    open_checkout: Callable[..., Any], user: str
) -> None:
    async with open_checkout(instacart_create_deadline_seconds=0.5) as checkout:
        reservation = await checkout.reserve("pickup", user)
        await checkout.faults(
            {"operations": {"createPickupOrder": {"hang_after_create": True, "hang_seconds": 5}}}
        )
        assert (await checkout.place(reservation, user, "lost")).status_code == 504
        [upstream] = (
            await checkout.sandbox.get("/sandbox/orders", params={"user_id": user})
        ).json()["orders"]
        token = await callback_token(checkout)
        await send(checkout, event(upstream["id"], "acknowledged", later(1)), token)
        await applied(checkout)
        listed = await checkout.bff.get("/v1/orders", headers=checkout.auth(user))
        assert [(o["id"], o["status"]) for o in listed.json()["orders"]] == [
            (upstream["id"], "acknowledged")
        ]
        await checkout.sandbox.delete("/sandbox/faults")
        replay = await checkout.place(reservation, user, "lost")
        assert replay.status_code == 201
        assert replay.headers["idempotent-replayed"] == "true"


# --- end to end with the sandbox's own callbacks --------------------------------------------


async def test_the_sandboxs_callbacks_carry_an_order_to_delivered(
    open_checkout: Callable[..., Any], user: str
) -> None:
    async with wired_checkout(open_checkout, order_refresh_seconds=3600) as checkout:
        order_id = await placed_order(checkout, user)
        statuses = []
        for _ in range(4):
            await checkout.sandbox.post(f"/sandbox/orders/{order_id}/advance", json={})
            await sandbox_sender(checkout).drain()
            await applied(checkout)
            statuses.append((await stored_order(checkout, order_id)).status)
        assert statuses == ["acknowledged", "picking", "delivering", "delivered"]
        got = await checkout.bff.get(f"/v1/orders/{order_id}", headers=checkout.auth(user))
        assert (got.json()["status"], got.json()["cancelable"]) == ("delivered", False)
        results = [result for _, result in await inbox(checkout, order_id)]
        assert results and set(results) == {"applied"}


def sandbox_sender(checkout: Checkout) -> Any:
    transport = checkout.sandbox._transport  # the in-process sandbox app behind the client
    return transport.app.state.callbacks


@pytest.mark.parametrize("seed", range(8))
async def test_duplicated_and_shuffled_callbacks_end_like_ordered_ones_never_backwards(
    checkout: Checkout, user: str, seed: int
) -> None:
    order_id = await placed_order(checkout, user, "delivery")
    for _ in range(4):  # Instacart's own order has been delivered
        await checkout.sandbox.post(f"/sandbox/orders/{order_id}/advance", json={})
    token = await callback_token(checkout)
    workflow = ["brand_new", "acknowledged", "picking", "delivering", "delivered"]
    events = [event(order_id, status, later(i + 1)) for i, status in enumerate(workflow)]
    rng = random.Random(seed)
    deliveries = events + rng.sample(events, k=rng.randint(1, len(events)))  # duplicates
    rng.shuffle(deliveries)
    ranks = []
    for body in deliveries:
        assert (await send(checkout, body, token)).status_code == 200
        await applied(checkout)
        ranks.append(STATUS_RANKS[(await stored_order(checkout, order_id)).status or "brand_new"])
    assert ranks == sorted(ranks), f"a status moved backwards: {ranks}"
    row = await stored_order(checkout, order_id)
    assert row.status == "delivered"
    assert row.status_updated_at == later(len(workflow))  # the delivered event's own time
    stored = await inbox(checkout, order_id)
    assert sorted(event_id for event_id, _ in stored) == sorted(e["event_id"] for e in events)


# --- the reconciler -------------------------------------------------------------------------


async def test_the_reconciler_follows_up_an_order_it_heard_nothing_about(
    open_checkout: Callable[..., Any], fresh_database_url: str, user: str
) -> None:
    # a database of its own: the follow-up takes the quietest orders of the whole table
    await asyncio.to_thread(upgrade, fresh_database_url)
    async with open_checkout(
        database_url=fresh_database_url, order_refresh_seconds=3600
    ) as checkout:
        order_id = await placed_order(checkout, user)
        quiet = await placed_order(checkout, user)
        await checkout.sandbox.post(f"/sandbox/orders/{order_id}/advance", json={})
        reconciler = reconciler_for(checkout)
        reconciler.follow_up_after = timedelta(0)  # news is overdue at once
        summary = await reconciler.run_once()
        assert (summary.followed_up, summary.follow_ups_changed) == (2, 1)
        assert (await stored_order(checkout, order_id)).status == "acknowledged"
        assert (await stored_order(checkout, quiet)).checked_at is not None
        # both were asked just now: with a real quiet time, nobody is asked again yet
        reconciler.follow_up_after = timedelta(minutes=5)
        assert (await reconciler.run_once()).followed_up == 0


async def test_the_reconciler_applies_a_callback_that_could_not_be_applied(
    checkout: Checkout, user: str
) -> None:
    order_id = await placed_order(checkout, user)
    for _ in range(4):
        await checkout.sandbox.post(f"/sandbox/orders/{order_id}/advance", json={})
    token = await callback_token(checkout)
    await checkout.faults({"operations": {"getOrder": {"error_rate": 1.0, "status": 503}}})
    body = event(order_id, "delivered", later(4))
    await send(checkout, body, token)
    await applied(checkout)
    assert await inbox(checkout, order_id) == [(body["event_id"], "received")]
    await checkout.sandbox.delete("/sandbox/faults")
    reconciler = reconciler_for(checkout)
    reconciler.callback_retry_after = reconciler.callback_retry_after * 0
    assert (await reconciler.run_once()).callbacks_applied >= 1
    assert await inbox(checkout, order_id) == [(body["event_id"], "applied")]
    assert (await stored_order(checkout, order_id)).status == "delivered"


async def test_event_ids_are_the_inbox_key_across_orders(checkout: Checkout, user: str) -> None:
    first = await placed_order(checkout, user)
    second = await placed_order(checkout, user)
    token = await callback_token(checkout)
    shared_id = new_event_id()
    await send(checkout, event(first, "acknowledged", later(1), shared_id), token)
    duplicate = await send(checkout, event(second, "acknowledged", later(1), shared_id), token)
    await applied(checkout)
    assert duplicate.json() == {"status": "duplicate"}
    sessions = build_sessionmaker(checkout.app.state.bff.engine)
    async with sessions() as session:
        count = await session.scalar(
            select(func.count()).where(CallbackEvent.event_id == shared_id)
        )
    assert count == 1


@pytest.mark.parametrize("timestamp", [1764244800, "1764244800", "yesterday", None])
async def test_an_event_timestamp_must_be_rfc_3339_text(checkout: Checkout, timestamp: Any) -> None:
    token = await callback_token(checkout)
    body = event("ord_x", "picking", later(1)) | {"event_timestamp": timestamp}
    response = await send(checkout, body, token)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "event_timestamp"
