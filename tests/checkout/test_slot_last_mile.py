"""Last-mile previews hold capacity for the user who asked: never one user's answer for another."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from app.auth.tokens import Principal
from app.stores.fast_lane import SlotFastLane
from tests.support.addresses import SF_ADDRESS
from tests.support.checkout import Checkout


async def last_mile_slots(checkout: Checkout, store_id: str, user: str) -> list[dict[str, Any]]:
    response = await checkout.bff.get(
        f"/v1/stores/{store_id}/slots",
        params={"fulfillment": "last_mile"} | SF_ADDRESS,
        headers=checkout.auth(user),
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "private, max-age=0"
    return response.json()["slots"]


async def test_two_users_previewing_one_store_each_get_their_own_preview(
    checkout: Checkout, user: str
) -> None:
    store_id = await checkout.first_store("last_mile", user)
    assert await last_mile_slots(checkout, store_id, user)
    assert await last_mile_slots(checkout, store_id, user + "-2")
    # each user's preview went to Instacart under that user: nothing was shared from a cache
    assert await checkout.calls("previewLastMileServiceOptions") == 2


async def test_a_repeated_last_mile_preview_is_asked_again(checkout: Checkout, user: str) -> None:
    store_id = await checkout.first_store("last_mile", user)
    for _ in range(2):
        await last_mile_slots(checkout, store_id, user)
    assert await checkout.calls("previewLastMileServiceOptions") == 2


async def test_the_fast_lane_leaves_last_mile_previews_to_the_route() -> None:
    passed: list[str] = []

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        passed.append(scope["query_string"].decode())

    async def verify(token: str) -> Principal:
        return Principal(user_id="u1", is_staff=False, expires_at=0.0)

    # A checkout that fails loudly if the lane tries to answer by itself.
    state = SimpleNamespace(verifier=SimpleNamespace(verify=verify), checkout=None)
    lane = SlotFastLane(route, fastapi_app=SimpleNamespace(state=SimpleNamespace(bff=state)))
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/v1/stores/store-1/slots",
        "query_string": b"fulfillment=last_mile&postal_code=94105",
        "headers": [(b"authorization", b"Bearer t")],
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        raise AssertionError("the fast lane answered a last-mile preview")

    await lane(scope, receive, send)
    assert passed == ["fulfillment=last_mile&postal_code=94105"]
