"""Small request helpers shared by the sandbox tests, and the fixed time they start at."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

# A fixed "now": Monday 2025-06-02 16:00 UTC (09:00 in San Francisco, 12:00 in New York).
START = datetime(2025, 6, 2, 16, 0, tzinfo=UTC)
# The sandbox's default credentials.
TOKEN_BODY = {
    "grant_type": "client_credentials",
    "client_id": "sandbox-client",
    "client_secret": "sandbox-secret",
    "scope": "connect:fulfillment",
}

PREVIEW = {
    "delivery": "/v2/fulfillment/users/{user}/service_options/delivery",
    "pickup": "/v2/fulfillment/users/{user}/service_options/pickup",
    "last_mile": "/v2/fulfillment/lastmile/users/{user}/service_options",
}
HOLD = {
    "delivery": "/v2/fulfillment/users/{user}/service_options/delivery/hold",
    "pickup": "/v2/fulfillment/users/{user}/service_options/pickup/hold",
}
CREATE = {
    "delivery": "/v2/fulfillment/users/{user}/orders/delivery",
    "pickup": "/v2/fulfillment/users/{user}/orders/pickup",
    "last_mile": "/v2/fulfillment/lastmile/users/{user}/orders",
}
BANANAS = "041234100012"  # catalog UPC of product 1001, "Organic Bananas, 1 lb"
ITEMS = [{"upc": BANANAS, "quantity": 2}]


async def options(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    fulfillment: str = "delivery",
    store_id: str = "store-sf-001",
    user: str = "u1",
) -> list[dict[str, Any]]:
    response = await client.post(
        PREVIEW[fulfillment].format(user=user), json={"store_id": store_id}, headers=auth
    )
    assert response.status_code == 200, response.text
    return response.json()["service_options"]


async def hold(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    option_id: str,
    user: str = "u1",
    fulfillment: str = "delivery",
) -> httpx.Response:
    return await client.post(
        HOLD[fulfillment].format(user=user), json={"service_option_id": option_id}, headers=auth
    )


async def create(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    hold_id: str,
    user: str = "u1",
    fulfillment: str = "delivery",
    items: list[dict[str, Any]] | None = None,
    order_id: str | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"hold_id": hold_id, "cart": {"items": items or ITEMS}}
    if order_id is not None:
        body["order_id"] = order_id
    return await client.post(CREATE[fulfillment].format(user=user), json=body, headers=auth)


async def place_order(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    fulfillment: str = "delivery",
    user: str = "u1",
    order_id: str | None = None,
    store_id: str = "store-sf-001",
) -> dict[str, Any]:
    """Previews, holds the first slot and creates an order; returns the order."""
    option = (await options(client, auth, fulfillment, store_id, user))[0]
    if fulfillment == "last_mile":
        hold_id = option["id"]
    else:
        held = await hold(client, auth, option["id"], user, fulfillment)
        assert held.status_code == 200, held.text
        hold_id = held.json()["hold_id"]
    response = await create(client, auth, hold_id, user, fulfillment, order_id=order_id)
    assert response.status_code == 200, response.text
    return response.json()


def assert_error(response: httpx.Response, status: int, contains: str = "") -> None:
    """The specification's error shape, with this status and message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["status"] == status
    assert isinstance(body["error"], str)
    assert contains.lower() in body["error"].lower(), body


def assert_refusal(
    response: httpx.Response, envelope: str, status: int, code: int, key: str | None
) -> None:
    """A refusal in `envelope`: "spec" carries status and meta.key, "connect" code and meta.key."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    if envelope == "spec":
        assert set(body) == ({"error", "status", "meta"} if key else {"error", "status"}), body
        assert isinstance(body["error"], str)
        assert body["status"] == status
        assert body.get("meta") == ({"key": key} if key else None)
    else:
        assert set(body) == {"error", "meta"}, body
        assert set(body["error"]) == {"message", "code"}, body
        assert isinstance(body["error"]["message"], str)
        assert body["error"]["code"] == code
        assert body["meta"] == ({"key": key} if key else {})
