"""The refusal table against the sandbox's real answers, in both of Instacart's envelopes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from app.instacart.errors import InstacartBadRequest, InstacartError
from app.instacart.models import (
    Cart,
    CartItem,
    CreateOrderRequest,
    PreviewServiceOptionsRequest,
    ReserveTimeSlotRequest,
)
from app.instacart.refusals import Refusal, classify, translate
from tests.support.checkout import Checkout

CART = Cart(items=[CartItem(upc="0001111041700", quantity=1)])


async def _refusal(call: Awaitable[Any]) -> InstacartError:
    with pytest.raises(InstacartError) as caught:
        await call
    return caught.value


async def duplicate_order(checkout: Checkout, user: str) -> InstacartError:
    placed = await checkout.place(await checkout.reserve("pickup", user), user)
    again = CreateOrderRequest(hold_id="any", order_id=placed.json()["id"], cart=CART)
    return await _refusal(checkout.app.state.bff.instacart.create_pickup_order(user, again))


async def unknown_hold(checkout: Checkout, user: str) -> InstacartError:
    request = CreateOrderRequest(hold_id="no-such-hold", order_id=f"ord_{user}", cart=CART)
    return await _refusal(checkout.app.state.bff.instacart.create_pickup_order(user, request))


async def full_slot(checkout: Checkout, user: str) -> InstacartError:
    store_id = await checkout.first_store("pickup", user)
    slot = await checkout.first_slot("pickup", store_id, user)
    client = checkout.app.state.bff.instacart
    request = ReserveTimeSlotRequest(service_option_id=slot["id"], cart=CART)
    await client.reserve_pickup_time_slot(user, request)  # capacity 1: now it is full
    return await _refusal(client.reserve_pickup_time_slot(f"{user}-other", request))


async def unknown_option(checkout: Checkout, user: str) -> InstacartError:
    request = ReserveTimeSlotRequest(service_option_id="no-such-option", cart=CART)
    return await _refusal(checkout.app.state.bff.instacart.reserve_pickup_time_slot(user, request))


async def gone_option(checkout: Checkout, user: str) -> InstacartError:
    # well formed, but beyond the days the store offers
    request = ReserveTimeSlotRequest(
        service_option_id="pickup.store-sf-001.20990101T1600Z", cart=CART
    )
    return await _refusal(checkout.app.state.bff.instacart.reserve_pickup_time_slot(user, request))


async def cancel_twice(checkout: Checkout, user: str) -> InstacartError:
    placed = await checkout.place(await checkout.reserve("pickup", user), user)
    order_id = placed.json()["id"]
    client = checkout.app.state.bff.instacart
    await client.cancel_order(user, order_id)
    return await _refusal(client.cancel_order(user, order_id))


async def unknown_store(checkout: Checkout, user: str) -> InstacartError:
    request = PreviewServiceOptionsRequest(store_id="no-such-store")
    return await _refusal(checkout.app.state.bff.instacart.preview_pickup_time_slots(user, request))


CASES: list[tuple[Callable[[Checkout, str], Awaitable[InstacartError]], Refusal, str]] = [
    (duplicate_order, Refusal.DUPLICATE_ORDER, "upstream_error"),
    (unknown_hold, Refusal.HOLD_UNUSABLE, "reservation_expired"),
    (full_slot, Refusal.SLOT_FULL, "slot_unavailable"),
    (unknown_option, Refusal.OPTION_MALFORMED, "validation_failed"),
    (gone_option, Refusal.OPTION_UNAVAILABLE, "slot_not_found"),
    (cancel_twice, Refusal.STATUS_CONFLICT, "upstream_error"),
    # the slot catalogue says which store (app/stores/slot_catalog.py); alone it is unmapped
    (unknown_store, Refusal.STORE_UNKNOWN, "upstream_error"),
]


@pytest.mark.parametrize("envelope", ["spec", "connect"])
@pytest.mark.parametrize(
    ("provoke", "refusal", "code"), CASES, ids=[case[0].__name__ for case in CASES]
)
async def test_each_refusal_is_classified_from_the_sandboxs_answer(
    open_checkout: Callable[..., Any],
    user: str,
    envelope: str,
    provoke: Callable[[Checkout, str], Awaitable[InstacartError]],
    refusal: Refusal,
    code: str,
) -> None:
    async with open_checkout(capacity=1) as checkout:
        await checkout.faults({"error_envelope": envelope})
        error = await provoke(checkout, user)
        assert isinstance(error, InstacartBadRequest)
        assert error.meta_key is not None  # classified by the field at fault ...
        if envelope == "connect":
            assert error.upstream_code is not None  # ... and, in the real envelope, its code
        assert classify(error) is refusal
        assert translate(error).code == code


def _bad_request(message: str, **fields: Any) -> InstacartBadRequest:
    return InstacartBadRequest(
        "createDeliveryOrder", status=400, upstream_message=message, **fields
    )


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("slot full", Refusal.SLOT_FULL),
        ("The slot is full", Refusal.SLOT_FULL),
        ("order_id ord_1 already exists", Refusal.DUPLICATE_ORDER),
        ("hold_id was replaced by a newer hold", Refusal.HOLD_UNUSABLE),
        ("the held slot has already started", Refusal.HOLD_UNUSABLE),
        # words inside other words are not reasons
        ("order placed successfully but cart was rejected", None),
        ("quantity over the threshold", None),
    ],
)
def test_messages_are_only_a_last_resort_and_matched_as_whole_words(
    message: str, expected: Refusal | None
) -> None:
    assert classify(_bad_request(message)) is expected


def test_the_field_at_fault_outranks_the_message() -> None:
    # a message that reads like a full slot, about a field that says the order id exists
    error = _bad_request("slot full, order_id already exists", meta_key="order_id")
    assert classify(error) is Refusal.DUPLICATE_ORDER
    assert classify(_bad_request("anything", upstream_code=1001)) is Refusal.SLOT_FULL
    assert classify(_bad_request("anything", upstream_code="1002")) is Refusal.HOLD_UNUSABLE


def test_a_malformed_field_is_not_mistaken_for_its_reason() -> None:
    # code 1000 ("invalid request") naming hold_id: a malformed hold id, not an unusable hold
    malformed = _bad_request("hold_id must be a string", upstream_code=1000, meta_key="hold_id")
    assert classify(malformed) is Refusal.INVALID
