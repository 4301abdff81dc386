"""Machine-readable refusals: the field at fault and a stable code, in both envelopes.

Every reason is answered for real by the sandbox, once in the specification's envelope
(`{"error", "status", "meta": {"key"}}`) and once in the real API's (`{"error": {"message",
"code"}, "meta": {"key"}}`), which `PUT /sandbox/faults {"error_envelope": "connect"}` selects.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.sandbox.helpers import (
    BANANAS,
    CREATE,
    HOLD,
    assert_refusal,
    create,
    hold,
    options,
    place_order,
)
from tests.support.clock import FakeClock

STORES = "/v2/fulfillment/stores/delivery"


@dataclass
class World:
    client: httpx.AsyncClient
    auth: dict[str, str]
    clock: FakeClock
    envelope: str

    async def faults(self, operations: dict[str, Any]) -> None:
        body = {"operations": operations, "error_envelope": self.envelope}
        assert (await self.client.put("/sandbox/faults", json=body)).status_code == 200

    async def held(self, option: int = 0, user: str = "u1", fulfillment: str = "delivery") -> str:
        option_id = (await options(self.client, self.auth, fulfillment, user=user))[option]["id"]
        response = await hold(self.client, self.auth, option_id, user, fulfillment)
        assert response.status_code == 200, response.text
        return response.json()["hold_id"]


Scenario = Callable[[World], Awaitable[httpx.Response]]


async def order_id_exists(w: World) -> httpx.Response:
    await place_order(w.client, w.auth, order_id="R-1")
    return await create(w.client, w.auth, await w.held(1), order_id="R-1")


async def hold_unknown(w: World) -> httpx.Response:
    return await create(w.client, w.auth, "hold_nope")


async def hold_of_another_user(w: World) -> httpx.Response:
    return await create(w.client, w.auth, await w.held(user="someone-else"))


async def hold_replaced(w: World) -> httpx.Response:
    first = await w.held(0)
    await w.held(1)
    return await create(w.client, w.auth, first)


async def hold_used(w: World) -> httpx.Response:
    used = await w.held()
    assert (await create(w.client, w.auth, used)).status_code == 200
    return await create(w.client, w.auth, used)


async def hold_of_wrong_type(w: World) -> httpx.Response:
    return await create(w.client, w.auth, await w.held(fulfillment="pickup"))


async def hold_whose_slot_started(w: World) -> httpx.Response:
    held = await w.held()
    w.clock.advance(hours=2)  # the first window starts an hour after START
    return await create(w.client, w.auth, held)


async def slot_full_on_create(w: World) -> httpx.Response:
    expired = await w.held(user="a")
    w.clock.advance(minutes=11)
    await w.held(user="b")
    await w.held(user="c")  # capacity 2 in these tests
    return await create(w.client, w.auth, expired, user="a")


async def slot_full_on_reserve(w: World) -> httpx.Response:
    option_id = (await options(w.client, w.auth))[0]["id"]
    await w.held(user="a")
    await w.held(user="b")  # a full slot leaves the previews, so hold it by its id
    return await hold(w.client, w.auth, option_id, user="c")


async def service_option_unknown(w: World) -> httpx.Response:
    return await hold(w.client, w.auth, "delivery.store-sf-001.20250602T1730Z")


async def service_option_past(w: World) -> httpx.Response:
    return await hold(w.client, w.auth, "delivery.store-sf-001.20250602T1500Z")


async def service_option_of_pickup(w: World) -> httpx.Response:
    return await hold(w.client, w.auth, "pickup.store-sf-001.20250603T1600Z")


async def service_option_malformed(w: World) -> httpx.Response:
    return await hold(w.client, w.auth, "tomorrow-at-nine")


async def cancel_after_acknowledged(w: World) -> httpx.Response:
    order = await place_order(w.client, w.auth)
    await w.client.post(f"/sandbox/orders/{order['id']}/advance")
    return await w.client.post(
        f"/v2/fulfillment/users/u1/orders/{order['id']}/cancel", headers=w.auth
    )


async def stage_after_delivering(w: World) -> httpx.Response:
    order = await place_order(w.client, w.auth, "last_mile")
    await w.client.post(f"/sandbox/orders/{order['id']}/advance", json={"status": "delivering"})
    return await w.client.post(
        f"/v2/fulfillment/lastmile/orders/{order['id']}/staged", headers=w.auth
    )


async def cart_without_items(w: World) -> httpx.Response:
    body = {"hold_id": await w.held(), "cart": {"items": []}}
    return await w.client.post(CREATE["delivery"].format(user="u1"), json=body, headers=w.auth)


async def cart_item_without_product(w: World) -> httpx.Response:
    items = [{"upc": BANANAS}, {"quantity": 2}]
    return await create(w.client, w.auth, await w.held(), items=items)


async def cart_item_quantity_zero(w: World) -> httpx.Response:
    return await create(w.client, w.auth, await w.held(), items=[{"upc": BANANAS, "quantity": 0}])


async def cart_over_250_units(w: World) -> httpx.Response:
    items = [{"upc": BANANAS, "quantity": 251}]
    return await create(w.client, w.auth, await w.held(), items=items)


async def hold_cart_item_without_product(w: World) -> httpx.Response:
    option_id = (await options(w.client, w.auth))[0]["id"]
    body = {"service_option_id": option_id, "cart": {"items": [{"quantity": 1}]}}
    return await w.client.post(HOLD["delivery"].format(user="u1"), json=body, headers=w.auth)


async def hold_id_not_a_string(w: World) -> httpx.Response:
    body = {"hold_id": 7}
    return await w.client.post(CREATE["delivery"].format(user="u1"), json=body, headers=w.auth)


async def order_id_malformed(w: World) -> httpx.Response:
    return await create(w.client, w.auth, await w.held(), order_id="no spaces allowed")


async def store_id_missing(w: World) -> httpx.Response:
    path = "/v2/fulfillment/users/u1/service_options/delivery"
    return await w.client.post(path, json={}, headers=w.auth)


async def postal_code_null(w: World) -> httpx.Response:
    return await w.client.post(STORES, json={"postal_code": None}, headers=w.auth)


async def latitude_without_longitude(w: World) -> httpx.Response:
    return await w.client.post(STORES, json={"latitude": 37.7}, headers=w.auth)


async def nested_field_of_wrong_type(w: World) -> httpx.Response:
    body = {"hold_id": "h", "delivery_address": {"city": 5}}
    return await w.client.post(CREATE["delivery"].format(user="u1"), json=body, headers=w.auth)


async def malformed_json(w: World) -> httpx.Response:
    return await w.client.post(STORES, content=b'{"postal_code": ', headers=w.auth)


async def missing_token(w: World) -> httpx.Response:
    return await w.client.post(STORES, json={"postal_code": "94105"})


async def bad_client_secret(w: World) -> httpx.Response:
    body = {
        "grant_type": "client_credentials",
        "client_id": "sandbox-client",
        "client_secret": "wrong",
        "scope": "connect:fulfillment",
    }
    return await w.client.post("/v2/oauth/token", json=body)


async def unknown_order(w: World) -> httpx.Response:
    return await w.client.get("/v2/fulfillment/users/u1/orders/nope", headers=w.auth)


async def unknown_route(w: World) -> httpx.Response:
    return await w.client.get("/v2/nowhere", headers=w.auth)


def injected(status: int) -> Scenario:
    async def scenario(w: World) -> httpx.Response:
        await w.faults({"findDeliveryStores": {"fail_next": 1, "status": status}})
        return await w.client.post(STORES, json={"postal_code": "94105"}, headers=w.auth)

    return scenario


# (scenario, HTTP status, code in the real API's envelope, meta.key)
REASONS: dict[str, tuple[Scenario, int, int, str | None]] = {
    "order-id-exists": (order_id_exists, 400, 1003, "order_id"),
    "hold-unknown": (hold_unknown, 400, 1002, "hold_id"),
    "hold-of-another-user": (hold_of_another_user, 400, 1002, "hold_id"),
    "hold-replaced": (hold_replaced, 400, 1002, "hold_id"),
    "hold-used": (hold_used, 400, 1002, "hold_id"),
    "hold-wrong-type": (hold_of_wrong_type, 400, 1002, "hold_id"),
    "hold-slot-started": (hold_whose_slot_started, 400, 1002, "hold_id"),
    "slot-full-on-create": (slot_full_on_create, 400, 1001, "hold_id"),
    "slot-full-on-reserve": (slot_full_on_reserve, 400, 1001, "service_option_id"),
    "service-option-unknown": (service_option_unknown, 400, 1004, "service_option_id"),
    "service-option-started": (service_option_past, 400, 1006, "service_option_id"),
    "service-option-of-another-type": (service_option_of_pickup, 400, 1007, "service_option_id"),
    "service-option-malformed": (service_option_malformed, 400, 1000, "service_option_id"),
    "cancel-in-wrong-status": (cancel_after_acknowledged, 400, 1005, "status"),
    "stage-in-wrong-status": (stage_after_delivering, 400, 1005, "status"),
    "cart-without-items": (cart_without_items, 400, 1000, "cart"),
    "cart-item-without-product": (cart_item_without_product, 400, 1000, "cart.items.1"),
    "cart-item-quantity-0": (cart_item_quantity_zero, 400, 1000, "cart.items.0.quantity"),
    "cart-over-250-units": (cart_over_250_units, 400, 1000, "cart"),
    "reserve-cart-item-without-product": (
        hold_cart_item_without_product,
        400,
        1000,
        "cart.items.0",
    ),
    "hold-id-not-a-string": (hold_id_not_a_string, 400, 1000, "hold_id"),
    "order-id-malformed": (order_id_malformed, 400, 1000, "order_id"),
    "store-id-missing": (store_id_missing, 400, 1000, "store_id"),
    "postal-code-null": (postal_code_null, 400, 1000, "postal_code"),
    "latitude-without-longitude": (latitude_without_longitude, 400, 1000, "longitude"),
    "nested-field-wrong-type": (nested_field_of_wrong_type, 400, 1000, "delivery_address.city"),
    "malformed-json": (malformed_json, 400, 1000, None),
    "missing-token": (missing_token, 401, 1401, None),
    "bad-client-secret": (bad_client_secret, 401, 1401, None),
    "unknown-order": (unknown_order, 404, 1404, "order_id"),
    "unknown-route": (unknown_route, 404, 1404, None),
    "rate-limited": (injected(429), 429, 1429, None),
    "server-error": (injected(500), 500, 1500, None),
    "unavailable": (injected(503), 503, 1503, None),
}


@pytest.fixture(params=["spec", "connect"])
async def world(
    request: pytest.FixtureRequest,
    client: httpx.AsyncClient,
    auth: dict[str, str],
    clock: FakeClock,
) -> World:
    w = World(client, auth, clock, request.param)
    await w.faults({})
    return w


@pytest.mark.parametrize("reason", list(REASONS))
async def test_each_refusal_names_the_field_at_fault_and_its_code(
    world: World, reason: str
) -> None:
    scenario, status, code, key = REASONS[reason]
    assert_refusal(await scenario(world), world.envelope, status, code, key)


async def test_the_envelope_keeps_headers_of_401_and_405(world: World) -> None:
    unauthorized = await missing_token(world)
    assert unauthorized.headers["www-authenticate"] == "Bearer"
    not_allowed = await world.client.get("/v2/fulfillment/users/u1/orders/delivery")
    assert_refusal(not_allowed, world.envelope, 405, 1000, None)
    assert not_allowed.headers["allow"] == "POST"


async def test_control_routes_keep_the_spec_envelope(client: httpx.AsyncClient) -> None:
    connect = {"error_envelope": "connect"}
    assert (await client.put("/sandbox/faults", json=connect)).status_code == 200
    response = await client.post("/sandbox/orders/nope/advance")
    assert_refusal(response, "spec", 404, 1404, "order_id")
    bad = await client.put("/sandbox/faults", json={"operations": {"nope": {}}})
    assert_refusal(bad, "spec", 400, 1000, "operations.nope")
    # the refused PUT left the configuration as it was
    assert (await client.get("/sandbox/faults")).json()["error_envelope"] == "connect"


async def test_spec_envelope_is_the_default_and_reset_restores_it(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    assert (await client.get("/sandbox/faults")).json()["error_envelope"] == "spec"
    await client.put("/sandbox/faults", json={"error_envelope": "connect"})
    assert_refusal(await create(client, auth, "hold_nope"), "connect", 400, 1002, "hold_id")
    await client.post("/sandbox/reset")
    assert (await client.get("/sandbox/faults")).json()["error_envelope"] == "spec"
    bad = await client.put("/sandbox/faults", json={"error_envelope": "stripe"})
    assert_refusal(bad, "spec", 400, 1000, "error_envelope")
