"""The whole storefront checkout against the sandbox, for each fulfillment."""

from __future__ import annotations

import pytest

from tests.support.addresses import SF_ADDRESS, SF_POSTAL
from tests.support.checkout import Checkout


async def test_stores_are_sorted_nearest_first(checkout: Checkout, user: str) -> None:
    response = await checkout.bff.get(
        "/v1/stores",
        params={"fulfillment": "delivery", "postal_code": SF_POSTAL},
        headers=checkout.auth(user),
    )
    assert response.status_code == 200
    stores = response.json()["stores"]
    assert len(stores) >= 2
    distances = [s["distance"] for s in stores]
    assert distances == sorted(distances)
    assert {"id", "name", "address", "distance"} <= set(stores[0])
    again = await checkout.bff.get(
        "/v1/stores",
        params={"fulfillment": "delivery", "postal_code": SF_POSTAL},
        headers=checkout.auth(user) | {"If-None-Match": response.headers["etag"]},
    )
    assert again.status_code == 304


@pytest.mark.parametrize("fulfillment", ["delivery", "pickup", "last_mile"])
async def test_full_checkout_place_list_get_cancel(
    checkout: Checkout, user: str, fulfillment: str
) -> None:
    reservation = await checkout.reserve(fulfillment, user)
    assert reservation["fulfillment"] == fulfillment
    assert reservation["expires_at"]

    placed = await checkout.place(reservation, user)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["status"] == "brand_new"
    assert order["fulfillment"] == fulfillment
    assert order["store_id"] == reservation["store_id"]
    assert order["slot"]["id"] == reservation["slot"]["id"]
    assert order["cancelable"] is True
    assert order["items"][0]["name"]

    listed = await checkout.bff.get("/v1/orders", headers=checkout.auth(user))
    assert [o["id"] for o in listed.json()["orders"]] == [order["id"]]

    fetched = await checkout.bff.get(f"/v1/orders/{order['id']}", headers=checkout.auth(user))
    assert fetched.status_code == 200
    assert fetched.json()["id"] == order["id"]

    canceled = await checkout.bff.post(
        f"/v1/orders/{order['id']}/cancel", headers=checkout.auth(user)
    )
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"] == "canceled"
    assert canceled.json()["cancelable"] is False


async def test_cancel_after_acknowledged_is_409(checkout: Checkout, user: str) -> None:
    order = (await checkout.place(await checkout.reserve("delivery", user), user)).json()
    await checkout.sandbox.post(f"/sandbox/orders/{order['id']}/advance")
    response = await checkout.bff.post(
        f"/v1/orders/{order['id']}/cancel", headers=checkout.auth(user)
    )
    assert response.status_code == 409
    assert response.json()["code"] == "order_not_cancelable"


async def test_get_shows_the_status_instacart_moved_to(checkout: Checkout, user: str) -> None:
    order = (await checkout.place(await checkout.reserve("pickup", user), user)).json()
    await checkout.sandbox.post(f"/sandbox/orders/{order['id']}/advance")
    checkout.app.state.bff.checkout.orders.refresh_after = 0
    fetched = await checkout.bff.get(f"/v1/orders/{order['id']}", headers=checkout.auth(user))
    assert fetched.json()["status"] == "acknowledged"
    assert fetched.json()["cancelable"] is False


async def test_staff_stage_last_mile_order(checkout: Checkout, user: str) -> None:
    order = (await checkout.place(await checkout.reserve("last_mile", user), user)).json()
    clerk = checkout.auth("clerk-1", staff=True, stores=(order["store_id"],))
    response = await checkout.bff.post(f"/v1/staff/orders/{order['id']}/stage", headers=clerk)
    assert response.status_code == 200, response.text
    assert response.json()["status"] in {"staging", "staged"}


async def test_staff_of_another_store_cannot_stage_and_a_token_without_stores_stages_nothing(
    checkout: Checkout, user: str
) -> None:
    order = (await checkout.place(await checkout.reserve("last_mile", user), user)).json()
    path = f"/v1/staff/orders/{order['id']}/stage"
    elsewhere = checkout.auth("clerk-2", staff=True, stores=("some-other-store",))
    response = await checkout.bff.post(path, headers=elsewhere)
    assert response.status_code == 404  # as if it did not exist: no hint that it does
    assert response.json()["code"] == "not_found"
    nowhere = await checkout.bff.post(path, headers=checkout.auth("clerk-3", staff=True))
    assert nowhere.status_code == 403
    assert nowhere.json()["code"] == "forbidden"


async def test_stage_by_non_staff_is_403(checkout: Checkout, user: str) -> None:
    order = (await checkout.place(await checkout.reserve("last_mile", user), user)).json()
    response = await checkout.bff.post(
        f"/v1/staff/orders/{order['id']}/stage", headers=checkout.auth(user)
    )
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


async def test_staging_a_delivery_order_is_409(checkout: Checkout, user: str) -> None:
    order = (await checkout.place(await checkout.reserve("delivery", user), user)).json()
    clerk = checkout.auth("clerk-1", staff=True, stores=(order["store_id"],))
    response = await checkout.bff.post(f"/v1/staff/orders/{order['id']}/stage", headers=clerk)
    assert response.status_code == 409
    assert response.json()["code"] == "order_not_stageable"


async def test_slots_carry_etag_and_answer_304(checkout: Checkout, user: str) -> None:
    store_id = await checkout.first_store("delivery", user)
    params = {"fulfillment": "delivery"} | SF_ADDRESS
    first = await checkout.bff.get(
        f"/v1/stores/{store_id}/slots", params=params, headers=checkout.auth(user)
    )
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert first.headers["cache-control"].startswith("private, max-age=")
    slot = first.json()["slots"][0]
    assert {"id", "date", "starts_at", "ends_at", "fulfillment"} <= set(slot)
    again = await checkout.bff.get(
        f"/v1/stores/{store_id}/slots",
        params=params,
        headers=checkout.auth(user) | {"If-None-Match": etag},
    )
    assert again.status_code == 304
    assert again.headers["etag"] == etag
    assert again.content == b""
