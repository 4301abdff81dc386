"""The /sandbox control routes: advance, stats, reset, catalog."""

from __future__ import annotations

import httpx
import pytest

from tests.sandbox.helpers import TOKEN_BODY, assert_error, place_order
from tests.support.clock import FakeClock

WORKFLOWS = {
    "delivery": ["acknowledged", "picking", "delivering", "delivered"],
    "pickup": ["acknowledged", "picking", "staging", "delivered"],
    "last_mile": ["staging", "delivering", "delivered"],
}


@pytest.mark.parametrize("fulfillment", sorted(WORKFLOWS))
async def test_advance_walks_the_workflow_of_each_fulfillment_type(
    client: httpx.AsyncClient, auth: dict[str, str], fulfillment: str
) -> None:
    order = await place_order(client, auth, fulfillment)
    seen = []
    for _ in WORKFLOWS[fulfillment]:
        response = await client.post(f"/sandbox/orders/{order['id']}/advance")
        assert response.status_code == 200
        seen.append(response.json()["status"])
    assert seen == WORKFLOWS[fulfillment]
    fetched = await client.get(f"/v2/fulfillment/users/u1/orders/{order['id']}", headers=auth)
    assert fetched.json()["status"] == "delivered"
    assert all(item["status"] == "found" for item in fetched.json()["items"])
    assert_error(await client.post(f"/sandbox/orders/{order['id']}/advance"), 409)


async def test_advance_to_a_named_status(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    order = await place_order(client, auth)
    path = f"/sandbox/orders/{order['id']}/advance"
    assert (await client.post(path, json={"status": "rescheduled"})).json()[
        "status"
    ] == "rescheduled"
    # names outside the specification's enum are allowed here, to test clients with them
    assert (await client.post(path, json={"status": "checkout"})).json()["status"] == "checkout"
    assert_error(await client.post(path, json={"status": "Not A Status"}), 400)


async def test_advance_of_unknown_order_is_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/sandbox/orders/nope/advance"), 404)


async def test_stats_count_calls_per_operation_including_failures(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    stores = "/v2/fulfillment/stores/delivery"
    await client.post(stores, json={"postal_code": "94105"}, headers=auth)
    await client.post(stores, json={"postal_code": "94105"})  # 401
    await client.post(stores, content=b"{", headers=auth)  # 400
    await client.post("/v2/oauth/token", json={**TOKEN_BODY, "client_secret": "x"})  # 401
    stats = (await client.get("/sandbox/stats")).json()
    assert stats["calls"] == {"findDeliveryStores": 3, "generateAccessToken": 2}
    assert stats["responses"]["findDeliveryStores"] == {"200": 1, "400": 1, "401": 1}
    assert stats["tokens_issued"] == 1


async def test_reset_forgets_orders_tokens_stats_and_faults(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    order = await place_order(client, auth)
    await client.put("/sandbox/faults", json={"operations": {"getOrder": {"fail_next": 1}}})
    assert (await client.post("/sandbox/reset")).status_code == 200
    stats = (await client.get("/sandbox/stats")).json()
    assert stats == {
        "calls": {},
        "responses": {},
        "traceparents": {},
        "tokens_issued": 0,
        "tokens_active": 0,
        "orders": 0,
        "holds_active": 0,
    }
    assert (await client.get("/sandbox/faults")).json()["operations"] == {}
    fresh = (await client.post("/v2/oauth/token", json=TOKEN_BODY)).json()["access_token"]
    headers = {"Authorization": f"Bearer {fresh}"}
    gone = await client.get(f"/v2/fulfillment/users/u1/orders/{order['id']}", headers=headers)
    assert_error(gone, 404)


async def test_catalog_lists_products_stores_and_postal_codes(client: httpx.AsyncClient) -> None:
    catalog = (await client.get("/sandbox/catalog")).json()
    assert len(catalog["products"]) >= 20
    assert len(catalog["stores"]) >= 20
    assert {s["metro"] for s in catalog["stores"]} >= {"sf", "ny", "chi"}
    assert {"94105", "10001", "60601"} <= set(catalog["postal_codes"])
    assert catalog["products"][0] == {
        "product_id": "1001",
        "upc": "041234100012",
        "name": "Organic Bananas, 1 lb",
    }


async def test_callbacks_are_off_without_a_callback_url(client: httpx.AsyncClient) -> None:
    assert (await client.get("/sandbox/callbacks")).json() == {"enabled": False}


async def test_orders_lists_every_order_oldest_first_with_user_status_and_fulfillment(
    client: httpx.AsyncClient, auth: dict[str, str], clock: FakeClock
) -> None:
    assert (await client.get("/sandbox/orders")).json() == {"orders": []}
    first = await place_order(client, auth, "delivery", user="a", order_id="R-1")
    clock.advance(minutes=1)
    second = await place_order(client, auth, "last_mile", user="b", order_id="R-2")
    clock.advance(minutes=1)
    await client.post("/v2/fulfillment/users/a/orders/R-1/cancel", headers=auth)
    listed = (await client.get("/sandbox/orders")).json()["orders"]
    assert listed == [
        {
            "id": "R-1",
            "user_id": "a",
            "status": "canceled",
            "fulfillment": "delivery",
            "store_id": "store-sf-001",
            "hold_id": listed[0]["hold_id"],
            "created_at": "2025-06-02T16:00:00Z",
            "updated_at": "2025-06-02T16:02:00Z",
        },
        {
            "id": "R-2",
            "user_id": "b",
            "status": "brand_new",
            "fulfillment": "last_mile",
            "store_id": "store-sf-001",
            # a last-mile service option id is its own hold
            "hold_id": second["service_option"]["id"],
            "created_at": "2025-06-02T16:01:00Z",
            "updated_at": "2025-06-02T16:01:00Z",
        },
    ]
    assert listed[0]["hold_id"].startswith("hold_")
    assert first["id"] == "R-1"


async def test_orders_created_at_the_same_instant_keep_their_creation_order(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    ids = [f"R-{n}" for n in (3, 1, 2)]
    for n, order_id in enumerate(ids):
        await place_order(client, auth, "pickup", user=f"u{n}", order_id=order_id)
    listed = (await client.get("/sandbox/orders")).json()["orders"]
    assert [o["id"] for o in listed] == ids


async def test_orders_filter_by_user_status_and_fulfillment(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await place_order(client, auth, "delivery", user="a", order_id="A-del")
    await place_order(client, auth, "pickup", user="a", order_id="A-pick")
    await place_order(client, auth, "delivery", user="b", order_id="B-del")
    await client.post("/sandbox/orders/A-pick/advance")

    async def ids(**params: str) -> list[str]:
        response = await client.get("/sandbox/orders", params=params)
        assert response.status_code == 200, response.text
        return [o["id"] for o in response.json()["orders"]]

    assert await ids(user_id="a") == ["A-del", "A-pick"]
    assert await ids(fulfillment="delivery") == ["A-del", "B-del"]
    assert await ids(status="acknowledged") == ["A-pick"]
    assert await ids(user_id="a", status="brand_new", fulfillment="delivery") == ["A-del"]
    assert await ids(user_id="nobody") == []


async def test_orders_refuse_an_unknown_fulfillment_filter(client: httpx.AsyncClient) -> None:
    response = await client.get("/sandbox/orders", params={"fulfillment": "drone"})
    assert_error(response, 400, "fulfillment")
    assert response.json()["meta"] == {"key": "fulfillment"}
