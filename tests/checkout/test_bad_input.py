"""Bad input of every kind gets a clear 4xx problem+json, never a 500."""

from __future__ import annotations

import base64
import time

import jwt
import orjson
import pytest

from tests.support.checkout import Checkout


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    return body


async def test_malformed_json_is_422(checkout: Checkout, user: str) -> None:
    response = await checkout.bff.post(
        "/v1/reservations",
        content=b'{"fulfillment": "pickup", ',
        headers=checkout.auth(user) | {"Content-Type": "application/json"},
    )
    assert_problem(response, 422, "validation_failed")


@pytest.mark.parametrize(
    "body",
    [
        [],
        "a string",
        {"fulfillment": "drone", "store_id": "s", "slot_id": "x"},
        {"fulfillment": "pickup", "store_id": 5, "slot_id": "x"},
        {"fulfillment": "pickup", "store_id": "s"},
        {"fulfillment": "pickup", "store_id": "s", "slot_id": "x", "extra": 1},
        {"fulfillment": "pickup", "store_id": "s", "slot_id": "x", "items": [{"upc": "1"}]},
        {"fulfillment": "pickup", "store_id": "s", "slot_id": "x", "items": []},
        {
            "fulfillment": "pickup",
            "store_id": "s",
            "slot_id": "x",
            "items": [{"upc": "0001111041700", "quantity": 0}],
        },
        {
            "fulfillment": "pickup",
            "store_id": "s",
            "slot_id": "x",
            "items": [{"upc": "0001111041700", "product_id": "p", "quantity": 1}],
        },
        {
            "fulfillment": "delivery",
            "store_id": "s",
            "slot_id": "x",
            "items": [
                {"upc": "0001111041700", "quantity": 200},
                {"product_id": "p", "quantity": 51},
            ],
        },
    ],
    ids=[
        "array",
        "string",
        "unknown-fulfillment",
        "wrong-type",
        "missing-field",
        "unknown-field",
        "item-without-quantity",
        "no-items",
        "quantity-zero",
        "two-identifiers",
        "251-delivery-units",
    ],
)
async def test_invalid_reservation_bodies_are_422(
    checkout: Checkout, user: str, body: object
) -> None:
    response = await checkout.bff.post("/v1/reservations", json=body, headers=checkout.auth(user))
    problem = assert_problem(response, 422, "validation_failed")
    assert problem["errors"]
    assert await checkout.calls("reserveDeliveryTimeSlot") == 0


async def test_251_units_in_a_delivery_order_is_422(checkout: Checkout, user: str) -> None:
    reservation = await checkout.reserve("delivery", user)
    response = await checkout.place(
        reservation,
        user,
        items=[{"upc": "0001111041700", "quantity": 250}, {"product_id": "1001", "quantity": 1}],
    )
    assert_problem(response, 422, "validation_failed")
    assert await checkout.calls("createDeliveryOrder") == 0


async def test_250_units_in_a_delivery_order_is_fine(checkout: Checkout, user: str) -> None:
    reservation = await checkout.reserve("delivery", user)
    response = await checkout.place(
        reservation, user, items=[{"upc": "0001111041700", "quantity": 250}]
    )
    assert response.status_code == 201, response.text


async def test_huge_body_is_413(checkout: Checkout, user: str) -> None:
    body = orjson.dumps({"fulfillment": "pickup", "store_id": "s", "slot_id": "x" * 200_000})
    response = await checkout.bff.post(
        "/v1/reservations",
        content=body,
        headers=checkout.auth(user) | {"Content-Type": "application/json"},
    )
    assert_problem(response, 413, "payload_too_large")


@pytest.mark.parametrize(
    "params",
    [
        {"fulfillment": "drone", "postal_code": "94105"},
        {"fulfillment": "delivery"},
        {"fulfillment": "delivery", "latitude": "37.7"},
        {"fulfillment": "delivery", "latitude": "north", "longitude": "-122"},
        {"fulfillment": "delivery", "latitude": "91", "longitude": "-122"},
        {"fulfillment": "delivery", "postal_code": "<script>"},
    ],
)
async def test_invalid_store_queries_are_422(
    checkout: Checkout, user: str, params: dict[str, str]
) -> None:
    response = await checkout.bff.get("/v1/stores", params=params, headers=checkout.auth(user))
    assert_problem(response, 422, "validation_failed")


async def test_unknown_store_slots_are_404(checkout: Checkout, user: str) -> None:
    response = await checkout.bff.get(
        "/v1/stores/store-nowhere/slots",
        params={"fulfillment": "pickup"},
        headers=checkout.auth(user),
    )
    assert_problem(response, 404, "store_not_found")


async def test_bad_order_path_and_limits_are_422(checkout: Checkout, user: str) -> None:
    auth = checkout.auth(user)
    assert_problem(
        await checkout.bff.get("/v1/orders?limit=0", headers=auth), 422, "validation_failed"
    )
    assert_problem(
        await checkout.bff.get("/v1/orders?limit=x", headers=auth), 422, "validation_failed"
    )
    assert_problem(
        await checkout.bff.get("/v1/orders/" + "a" * 300, headers=auth), 422, "validation_failed"
    )


def _unsigned(claims: dict) -> str:
    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."


@pytest.mark.parametrize("kind", ["none", "expired", "wrong-secret", "garbage", "alg-none"])
async def test_bad_tokens_are_401_with_www_authenticate(checkout: Checkout, kind: str) -> None:
    now = int(time.time())
    secret = checkout.settings.auth_jwt_secret.get_secret_value()
    tokens = {
        "expired": jwt.encode({"sub": "u", "exp": now - 60}, secret, algorithm="HS256"),
        "wrong-secret": jwt.encode({"sub": "u", "exp": now + 60}, "not-it", algorithm="HS256"),
        "garbage": "abc.def.ghi",
        "alg-none": _unsigned({"sub": "u", "exp": now + 60}),
    }
    headers = {"Authorization": f"Bearer {tokens[kind]}"} if kind in tokens else {}
    response = await checkout.bff.get("/v1/orders", headers=headers)
    assert_problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_non_ascii_idempotency_key_is_422(checkout: Checkout, user: str) -> None:
    reservation = await checkout.reserve("pickup", user)
    response = await checkout.place(reservation, user, key="key with spaces")
    assert_problem(response, 422, "validation_failed")


async def test_delivery_order_without_address_is_422(checkout: Checkout, user: str) -> None:
    reservation = await checkout.reserve("delivery", user)
    body = {"reservation_id": reservation["id"], "items": [{"upc": "0001111041700", "quantity": 1}]}
    response = await checkout.bff.post(
        "/v1/orders", json=body, headers=checkout.auth(user) | {"Idempotency-Key": "k"}
    )
    assert_problem(response, 422, "validation_failed")


async def test_body_that_is_not_utf8_is_422(checkout: Checkout, user: str) -> None:
    response = await checkout.bff.post(
        "/v1/reservations",
        content=b"\xff\xfe",
        headers=checkout.auth(user) | {"Content-Type": "application/json"},
    )
    assert_problem(response, 422, "validation_failed")
