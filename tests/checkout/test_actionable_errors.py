"""Errors a developer can act on: one code per cause, the parameter at fault named in `param`,
sentences without library prefixes, and a `type` that leads to the catalogue's entry."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.addresses import SF_ADDRESS
from tests.support.checkout import Checkout


async def problem_of(
    checkout: Checkout, response: httpx.Response, status: int, code: str, param: str | None
) -> dict[str, Any]:
    """The problem, checked: its status, code and param, no library prefix, and a `type` the
    service serves with the same code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["code"], problem.get("param")) == (code, param), problem
    assert "Value error" not in response.text
    entry = await checkout.bff.get(problem["type"])
    assert entry.status_code == 200, problem["type"]
    assert (entry.json()["code"], entry.json()["status"]) == (code, status)
    return problem


async def reserve(checkout: Checkout, user: str, **body: Any) -> httpx.Response:
    return await checkout.bff.post("/v1/reservations", json=body, headers=checkout.auth(user))


def slot_id(fulfillment: str, store_id: str, starts: datetime) -> str:
    """A slot id as the sandbox spells them (its ids are opaque to the service)."""
    return f"{fulfillment}.{store_id}.{starts:%Y%m%dT%H%MZ}"


async def test_an_unknown_store_is_404_store_not_found(checkout: Checkout, user: str) -> None:
    response = await checkout.bff.get(
        "/v1/stores/store-nowhere/slots",
        params={"fulfillment": "pickup"},
        headers=checkout.auth(user),
    )
    problem = await problem_of(checkout, response, 404, "store_not_found", "store_id")
    assert "store-nowhere" in problem["detail"]


async def test_a_store_without_the_fulfillment_is_422_naming_it(
    checkout: Checkout, user: str
) -> None:
    # store-sf-003 delivers only
    response = await checkout.bff.get(
        "/v1/stores/store-sf-003/slots",
        params={"fulfillment": "pickup"},
        headers=checkout.auth(user),
    )
    await problem_of(checkout, response, 422, "fulfillment_not_offered", "fulfillment")


async def test_a_malformed_slot_id_is_422_naming_slot_id(checkout: Checkout, user: str) -> None:
    response = await reserve(
        checkout, user, fulfillment="pickup", store_id="store-sf-001", slot_id="tomorrow-9am"
    )
    problem = await problem_of(checkout, response, 422, "validation_failed", "slot_id")
    assert problem["errors"][0]["field"] == "slot_id"


@pytest.mark.parametrize(
    ("days", "status", "code"),
    [(-1, 422, "slot_in_past"), (60, 404, "slot_not_found")],
    ids=["yesterday", "beyond-the-days-offered"],
)
async def test_a_slot_not_offered_now_says_why(
    checkout: Checkout, user: str, days: int, status: int, code: str
) -> None:
    starts = (datetime.now(UTC) + timedelta(days=days)).replace(
        hour=16, minute=0, second=0, microsecond=0
    )
    response = await reserve(
        checkout,
        user,
        fulfillment="pickup",
        store_id="store-sf-001",
        slot_id=slot_id("pickup", "store-sf-001", starts),
    )
    await problem_of(checkout, response, status, code, "slot_id")


async def test_a_slot_of_the_other_fulfillment_is_422(checkout: Checkout, user: str) -> None:
    delivery = await checkout.first_slot("delivery", "store-sf-001", user)
    response = await reserve(
        checkout, user, fulfillment="pickup", store_id="store-sf-001", slot_id=delivery["id"]
    )
    await problem_of(checkout, response, 422, "slot_fulfillment_mismatch", "slot_id")


async def test_a_full_slot_is_409_slot_unavailable(open_checkout: Any, user: str) -> None:
    async with open_checkout(capacity=1) as checkout:
        slot = await checkout.first_slot("pickup", "store-sf-001", user)
        body = {"fulfillment": "pickup", "store_id": "store-sf-001", "slot_id": slot["id"]}
        assert (await reserve(checkout, user, **body)).status_code == 201
        response = await reserve(checkout, f"{user}-other", **body)
        await problem_of(checkout, response, 409, "slot_unavailable", "slot_id")


async def test_a_used_reservation_is_409_with_the_order_that_used_it(
    checkout: Checkout, user: str
) -> None:
    reservation = await checkout.reserve("pickup", user)
    placed = await checkout.place(reservation, user)
    assert placed.status_code == 201, placed.text
    again = await checkout.place(reservation, user)
    problem = await problem_of(checkout, again, 409, "reservation_used", "reservation_id")
    assert problem["order_id"] == placed.json()["id"]
    assert placed.json()["id"] in problem["detail"]
    assert await checkout.calls("createPickupOrder") == 1  # refused before asking Instacart


async def test_another_users_reservation_is_404_and_names_no_order(
    checkout: Checkout, user: str
) -> None:
    reservation = await checkout.reserve("pickup", user)
    assert (await checkout.place(reservation, user)).status_code == 201
    response = await checkout.place(reservation, f"{user}-mallory")
    problem = await problem_of(checkout, response, 404, "reservation_not_found", "reservation_id")
    assert "order_id" not in problem


async def test_malformed_json_names_the_problem_not_an_offset(
    checkout: Checkout, user: str
) -> None:
    response = await checkout.bff.post(
        "/v1/reservations",
        content=b'{"fulfillment": "pickup",\n "store_id": }',
        headers=checkout.auth(user) | {"Content-Type": "application/json"},
    )
    problem = await problem_of(checkout, response, 422, "validation_failed", "body")
    [error] = problem["errors"]
    assert error["field"] == "body"
    assert error["message"].startswith("The body is not valid JSON: expecting value")
    assert "line 2, column 14" in error["message"]


async def test_a_body_without_content_type_is_415_saying_what_to_send(
    checkout: Checkout, user: str
) -> None:
    body = b'{"fulfillment": "pickup", "store_id": "store-sf-001", "slot_id": "x"}'
    for headers in ({}, {"Content-Type": "text/plain"}):
        response = await checkout.bff.post(
            "/v1/reservations", content=body, headers=checkout.auth(user) | headers
        )
        problem = await problem_of(checkout, response, 415, "unsupported_media_type", "body")
        assert "Content-Type: application/json" in problem["detail"]


async def test_a_validator_speaks_without_a_library_prefix(checkout: Checkout, user: str) -> None:
    response = await reserve(
        checkout,
        user,
        fulfillment="pickup",
        store_id="store-sf-001",
        slot_id="x",
        items=[{"upc": "0001111041700", "product_id": "1001", "quantity": 1}],
    )
    problem = await problem_of(checkout, response, 422, "validation_failed", "items.0")
    assert problem["errors"][0]["message"] == "give exactly one of upc or product_id"
    assert problem["detail"].startswith("items.0: give exactly one of upc or product_id")


async def test_a_malformed_order_id_names_the_path_parameter(checkout: Checkout, user: str) -> None:
    response = await checkout.bff.get("/v1/orders/not an id", headers=checkout.auth(user))
    await problem_of(checkout, response, 422, "validation_failed", "order_id")
    unknown = await checkout.bff.get(
        f"/v1/orders/ord_{uuid.uuid4().hex}", headers=checkout.auth(user)
    )
    await problem_of(checkout, unknown, 404, "not_found", "order_id")


async def test_delivery_slots_of_an_unknown_store_name_store_id(
    checkout: Checkout, user: str
) -> None:
    response = await checkout.bff.get(
        "/v1/stores/store-nowhere/slots",
        params={"fulfillment": "delivery", **SF_ADDRESS},
        headers=checkout.auth(user),
    )
    await problem_of(checkout, response, 404, "store_not_found", "store_id")
