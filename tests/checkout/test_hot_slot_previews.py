"""The hot lane (app/stores/fast_lane.py, HotSlotPreviews) answers a preview held in process by
itself, exactly as the app would, and hands everything else on: cold keys, invalidated ones,
bad tokens, requests with a body or an Origin (tests/tracing: with a trace context)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from app.stores.fast_lane import HotSlotPreviews
from tests.support.addresses import SF_ADDRESS
from tests.support.checkout import Checkout
from tests.support.clock import FakeClock


class Behind:
    """What stands behind the hot lane here: the whole app, with a count of what reached it."""

    def __init__(self, app: object) -> None:
        self.app = app
        self.reached = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.reached += 1
        await self.app(scope, receive, send)  # type: ignore[operator]  # an ASGI app


@pytest.fixture
async def hot(checkout: Checkout) -> AsyncIterator[tuple[Checkout, Behind, httpx.AsyncClient]]:
    # Time stands still: the in-process tier holds a preview until the test moves on.
    checkout.app.state.bff.checkout.catalog.slot_cache.clock = FakeClock().time
    behind = Behind(checkout.app)
    lane = HotSlotPreviews(behind, fastapi_app=checkout.app)
    transport = httpx.ASGITransport(app=lane)
    async with httpx.AsyncClient(transport=transport, base_url="http://bff.test") as client:
        yield checkout, behind, client


def slots_url(store_id: str) -> str:
    return f"/v1/stores/{store_id}/slots"


PARAMS = {"fulfillment": "delivery"} | SF_ADDRESS


async def test_a_held_preview_is_answered_by_the_lane_as_the_app_answers_it(hot, user) -> None:
    checkout, behind, client = hot
    store_id = await checkout.first_store("delivery", user)
    headers = checkout.auth(user) | {"X-Request-ID": uuid.uuid4().hex}
    first = await client.get(slots_url(store_id), params=PARAMS, headers=headers)
    assert first.status_code == 200 and behind.reached == 1  # cold: the app loaded it
    again = await client.get(slots_url(store_id), params=PARAMS, headers=headers)
    assert behind.reached == 1  # held: answered by the lane alone
    assert again.content == first.content
    full = await checkout.bff.get(slots_url(store_id), params=PARAMS, headers=headers)
    assert sorted(again.headers.multi_items()) == sorted(full.headers.multi_items())

    conditional = headers | {"If-None-Match": again.headers["etag"]}
    not_modified = await client.get(slots_url(store_id), params=PARAMS, headers=conditional)
    full = await checkout.bff.get(slots_url(store_id), params=PARAMS, headers=conditional)
    assert behind.reached == 1
    assert not_modified.status_code == full.status_code == 304
    assert sorted(not_modified.headers.multi_items()) == sorted(full.headers.multi_items())


async def test_without_a_request_id_the_lane_makes_one(hot, user) -> None:
    checkout, behind, client = hot
    store_id = await checkout.first_store("delivery", user)
    await client.get(slots_url(store_id), params=PARAMS, headers=checkout.auth(user))
    ids = {
        (await client.get(slots_url(store_id), params=PARAMS, headers=checkout.auth(user))).headers[
            "x-request-id"
        ]
        for _ in range(3)
    }
    assert behind.reached == 1
    assert len(ids) == 3 and all(len(i) == 32 for i in ids)


async def test_what_the_lane_cannot_answer_goes_on_to_the_app(hot, user) -> None:
    checkout, behind, client = hot
    store_id = await checkout.first_store("delivery", user)
    url = slots_url(store_id)
    await client.get(url, params=PARAMS, headers=checkout.auth(user))
    refused = await client.get(url, params=PARAMS, headers={"Authorization": "Bearer x.y.z"})
    assert refused.status_code == 401
    with_origin = checkout.auth(user) | {"Origin": "https://shop.example"}
    assert (await client.get(url, params=PARAMS, headers=with_origin)).status_code == 200
    with_body = checkout.auth(user) | {"Content-Length": "0"}
    assert (await client.get(url, params=PARAMS, headers=with_body)).status_code == 200
    assert behind.reached == 4

    await checkout.app.state.bff.checkout.catalog.invalidate_slots("delivery", store_id)
    answer = await client.get(url, params=PARAMS, headers=checkout.auth(user))
    assert answer.status_code == 200 and behind.reached == 5  # invalidated: loaded again


async def test_past_the_in_process_tier_the_app_answers(hot, user) -> None:
    checkout, behind, client = hot
    clock = FakeClock()
    catalog = checkout.app.state.bff.checkout.catalog
    catalog.slot_cache.clock = clock.time
    store_id = await checkout.first_store("delivery", user)
    url = slots_url(store_id)
    await client.get(url, params=PARAMS, headers=checkout.auth(user))
    clock.advance(checkout.settings.slot_cache_local_seconds + 0.1)
    assert (await client.get(url, params=PARAMS, headers=checkout.auth(user))).status_code == 200
    assert behind.reached == 2  # from Redis, through the app
