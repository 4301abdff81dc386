"""Bad input answers in the specification's error shape with a documented status."""

from __future__ import annotations

import httpx
import pytest

from tests.sandbox.helpers import assert_error, options

STORES = "/v2/fulfillment/stores/delivery"
CREATE = "/v2/fulfillment/users/u1/orders/delivery"


async def test_malformed_json_is_400_in_spec_shape(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.post(STORES, content=b'{"postal_code": ', headers=auth)
    assert_error(response, 400, "invalid request body")


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'"94105"',
        b"",
        b'{"postal_code": 94105}',
        b'{"postal_code": null}',
        b'{"latitude": "41.9", "longitude": -87.6}',
        b'{"latitude": true, "longitude": -87.6}',
    ],
    ids=["array", "string", "empty", "number-for-string", "null", "string-for-number", "bool"],
)
async def test_wrong_shapes_and_types_are_400(
    client: httpx.AsyncClient, auth: dict[str, str], body: bytes
) -> None:
    assert_error(await client.post(STORES, content=body, headers=auth), 400)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"hold_id": 7},
        {"hold_id": "h", "cart": {"items": [{"upc": "1", "quantity": 0}]}},
        {"hold_id": "h", "cart": {"items": [{"upc": "1", "quantity": 1.5}]}},
        {"hold_id": "h", "cart": {"items": {"upc": "1"}}},
        {"hold_id": "h", "cart": "everything"},
        {"hold_id": "h", "order_id": ""},
        {"hold_id": "h", "order_id": "delivery"},
    ],
    ids=[
        "missing-hold",
        "int-hold",
        "quantity-0",
        "quantity-float",
        "items-object",
        "cart-string",
        "empty-order-id",
        "reserved-order-id",
    ],
)
async def test_invalid_order_bodies_are_400(
    client: httpx.AsyncClient, auth: dict[str, str], body: dict
) -> None:
    assert_error(await client.post(CREATE, json=body, headers=auth), 400)


async def test_hold_without_service_option_id_is_400(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.post(
        "/v2/fulfillment/users/u1/service_options/delivery/hold", json={}, headers=auth
    )
    assert_error(response, 400, "service_option_id")


async def test_error_messages_never_echo_the_input(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    body = {"hold_id": "h", "delivery_address": {"address_line_1": 1600, "city": "Secretville"}}
    response = await client.post(CREATE, json=body, headers=auth)
    assert_error(response, 400, "delivery_address.address_line_1")
    assert "1600" not in response.text and "Secretville" not in response.text


async def test_extra_fields_are_ignored(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await client.post(STORES, json={"postal_code": "94105", "x": [1]}, headers=auth)
    assert response.status_code == 200


async def test_unknown_route_is_404_json(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/v2/nowhere"), 404)


async def test_wrong_method_on_known_path_is_405_with_allow(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.get(STORES, headers=auth)
    assert_error(response, 405)
    assert response.headers["allow"] == "POST"
    order_path = await client.delete("/v2/fulfillment/users/u1/orders/abc", headers=auth)
    assert_error(order_path, 405)
    assert "GET" in order_path.headers["allow"]


async def test_get_on_the_create_order_path_is_405_not_an_order_lookup(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    for kind in ("delivery", "pickup"):
        response = await client.get(f"/v2/fulfillment/users/u1/orders/{kind}", headers=auth)
        assert_error(response, 405)
        assert response.headers["allow"] == "POST"


async def test_validation_runs_after_authentication(client: httpx.AsyncClient) -> None:
    assert_error(await client.post(STORES, content=b"garbage"), 401)


async def test_previews_accept_an_address_object(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    assert await options(client, auth)
