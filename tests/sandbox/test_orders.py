"""Order creation, reading, cancelling and staging."""

from __future__ import annotations

import httpx

from tests.sandbox.helpers import BANANAS, assert_error, create, hold, options, place_order
from tests.support.clock import FakeClock

ORDER = "/v2/fulfillment/users/{user}/orders/{order_id}"


async def test_delivery_order_uses_the_retailer_order_id_and_catalog_names(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    option = (await options(client, auth))[0]
    hold_id = (await hold(client, auth, option["id"])).json()["hold_id"]
    items = [{"upc": BANANAS, "quantity": 2}, {"product_id": "1007", "quantity": 1}]
    response = await create(client, auth, hold_id, items=items, order_id="R-1001")
    assert response.status_code == 200
    order = response.json()
    assert order["id"] == "R-1001"
    assert order["status"] == "brand_new"
    assert order["created_at"] == "2025-06-02T16:00:00Z"
    assert order["fulfillment_type"] == "delivery"
    assert order["service_option"] == option
    assert order["store"]["id"] == "store-sf-001"
    assert order["items"] == [
        {"product_id": "1001", "upc": BANANAS, "name": "Organic Bananas, 1 lb",
         "quantity": 2, "status": "pending"},
        {"product_id": "1007", "upc": "041234100074", "name": "Whole Milk, 1 gal",
         "quantity": 1, "status": "pending"},
    ]  # fmt: skip
    fetched = await client.get(ORDER.format(user="u1", order_id="R-1001"), headers=auth)
    assert fetched.json() == order


async def test_order_without_order_id_gets_a_generated_id(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    order = await place_order(client, auth)
    assert order["id"].startswith("ord_")


async def test_duplicate_order_id_is_refused_and_creates_nothing(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await place_order(client, auth, order_id="R-dup")
    option = (await options(client, auth))[1]["id"]
    second_hold = (await hold(client, auth, option)).json()["hold_id"]
    response = await create(client, auth, second_hold, order_id="R-dup")
    assert_error(response, 400, "R-dup already exists")
    stats = (await client.get("/sandbox/stats")).json()
    assert stats["orders"] == 1
    # the hold was not consumed by the refused create
    assert (await create(client, auth, second_hold, order_id="R-other")).status_code == 200


async def test_hold_is_consumed_by_its_order(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    option = (await options(client, auth))[0]["id"]
    hold_id = (await hold(client, auth, option)).json()["hold_id"]
    assert (await create(client, auth, hold_id)).status_code == 200
    assert_error(await create(client, auth, hold_id), 400, "already used")


async def test_another_users_hold_is_unknown(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    option = (await options(client, auth))[0]["id"]
    hold_id = (await hold(client, auth, option, user="a")).json()["hold_id"]
    assert_error(await create(client, auth, hold_id, user="b"), 400, "unknown hold_id")


async def test_expired_hold_still_books_while_capacity_remains(
    client: httpx.AsyncClient, auth: dict[str, str], clock: FakeClock
) -> None:
    option = (await options(client, auth))[0]["id"]
    hold_id = (await hold(client, auth, option, user="a")).json()["hold_id"]
    clock.advance(minutes=30)
    assert (await create(client, auth, hold_id, user="a")).status_code == 200


async def test_expired_hold_on_a_full_slot_is_refused_with_slot_full(
    client: httpx.AsyncClient, auth: dict[str, str], clock: FakeClock
) -> None:
    option = (await options(client, auth))[0]["id"]
    expired = (await hold(client, auth, option, user="a")).json()["hold_id"]
    clock.advance(minutes=11)
    await hold(client, auth, option, user="b")
    await hold(client, auth, option, user="c")
    assert_error(await create(client, auth, expired, user="a"), 400, "slot full")
    assert (await client.get("/sandbox/stats")).json()["orders"] == 0


async def test_orders_use_capacity_and_cancellation_gives_it_back(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    first = await place_order(client, auth, user="a")
    await place_order(client, auth, user="b")
    option = first["service_option"]["id"]
    assert_error(await hold(client, auth, option, user="c"), 400, "slot full")
    cancel = await client.post(f"/v2/fulfillment/users/a/orders/{first['id']}/cancel", headers=auth)
    assert cancel.status_code == 200
    assert cancel.json()["status"] == "canceled"
    assert (await hold(client, auth, option, user="c")).status_code == 200


async def test_delivery_allows_250_units_and_refuses_251(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    slots = await options(client, auth)
    held = (await hold(client, auth, slots[0]["id"])).json()["hold_id"]
    too_many = [{"upc": BANANAS, "quantity": 200}, {"product_id": "1002", "quantity": 51}]
    assert_error(await create(client, auth, held, items=too_many), 400, "250 units")
    just_right = [{"upc": BANANAS, "quantity": 200}, {"product_id": "1002", "quantity": 50}]
    assert (await create(client, auth, held, items=just_right)).status_code == 200


async def test_pickup_orders_have_no_unit_limit(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    option = (await options(client, auth, "pickup"))[0]["id"]
    held = (await hold(client, auth, option, fulfillment="pickup")).json()["hold_id"]
    many = [{"upc": BANANAS, "quantity": 400}]
    response = await create(client, auth, held, fulfillment="pickup", items=many)
    assert response.status_code == 200
    assert response.json()["fulfillment_type"] == "pickup"


async def test_last_mile_service_option_id_is_a_valid_hold(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    option = (await options(client, auth, "last_mile"))[0]
    response = await create(client, auth, option["id"], fulfillment="last_mile")
    assert response.status_code == 200
    assert response.json()["fulfillment_type"] == "last_mile"
    assert response.json()["service_option"] == option
    # but a delivery hold route never accepts a service option id as a hold
    assert_error(await create(client, auth, (await options(client, auth))[0]["id"]), 400)


async def test_hold_of_another_fulfillment_type_is_refused(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    option = (await options(client, auth, "pickup"))[0]["id"]
    held = (await hold(client, auth, option, fulfillment="pickup")).json()["hold_id"]
    assert_error(await create(client, auth, held, fulfillment="delivery"), 400, "not a delivery")


async def test_unknown_products_keep_a_generic_name(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    option = (await options(client, auth))[0]["id"]
    held = (await hold(client, auth, option)).json()["hold_id"]
    response = await create(client, auth, held, items=[{"upc": "000000000000"}])
    assert response.json()["items"] == [
        {"upc": "000000000000", "name": "Item 000000000000", "quantity": 1, "status": "pending"}
    ]


async def test_items_need_a_upc_or_product_id_and_carts_need_items(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    option = (await options(client, auth))[0]["id"]
    held = (await hold(client, auth, option)).json()["hold_id"]
    assert_error(
        await create(client, auth, held, items=[{"quantity": 1}]), 400, "upc or product_id"
    )
    no_items = await client.post("/v2/fulfillment/users/u1/orders/delivery",
                                 json={"hold_id": held}, headers=auth)  # fmt: skip
    assert_error(no_items, 400, "at least one item")


async def test_get_order_of_another_user_is_404(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    order = await place_order(client, auth, user="a")
    response = await client.get(ORDER.format(user="b", order_id=order["id"]), headers=auth)
    assert_error(response, 404, "order not found")
    cancel = await client.post(f"/v2/fulfillment/users/b/orders/{order['id']}/cancel", headers=auth)
    assert_error(cancel, 404)


async def test_get_unknown_order_is_404(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    assert_error(await client.get(ORDER.format(user="u1", order_id="nope"), headers=auth), 404)


async def test_cancel_after_acknowledged_is_refused(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    order = await place_order(client, auth)
    await client.post(f"/sandbox/orders/{order['id']}/advance")
    cancel = await client.post(
        f"/v2/fulfillment/users/u1/orders/{order['id']}/cancel", headers=auth
    )
    assert_error(cancel, 400, "acknowledged")


async def test_stage_moves_a_last_mile_order_to_staging(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    order = await place_order(client, auth, "last_mile")
    path = f"/v2/fulfillment/lastmile/orders/{order['id']}/staged"
    staged = await client.post(path, headers=auth)
    assert staged.status_code == 200
    assert staged.json()["status"] == "staging"
    assert (await client.post(path, headers=auth)).json()["status"] == "staging"


async def test_stage_of_a_delivery_order_is_400_and_of_unknown_order_404(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    order = await place_order(client, auth)
    staged = await client.post(
        f"/v2/fulfillment/lastmile/orders/{order['id']}/staged", headers=auth
    )
    assert_error(staged, 400, "last_mile")
    unknown = await client.post("/v2/fulfillment/lastmile/orders/nope/staged", headers=auth)
    assert_error(unknown, 404)
