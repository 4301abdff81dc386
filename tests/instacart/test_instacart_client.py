"""Every client method against the in-process sandbox, and the mapping of upstream errors."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import httpx
import pytest

from app.instacart import (
    USER_AGENT,
    Address,
    Cart,
    CartItem,
    CreateOrderRequest,
    FindStoresRequest,
    InstacartBadRequest,
    InstacartClient,
    InstacartCredentialsRejected,
    InstacartNotFound,
    InstacartRateLimited,
    InstacartServerError,
    InstacartTimeout,
    OperationPolicy,
    PreviewServiceOptionsRequest,
    ReserveTimeSlotRequest,
)
from app.instacart.policy import READ, RetryOn
from app.orders.vocabulary import is_terminal
from tests.instacart.helpers import SandboxControl

SF = FindStoresRequest(postal_code="94105")
HOME = Address(address_line_1="1 Market St", city="San Francisco", state="CA", postal_code="94105")
CART = Cart(
    items=[CartItem(product_id="1001", quantity=2), CartItem(product_id="1002", quantity=1)]
)


def user() -> str:
    return f"user-{uuid.uuid4().hex[:8]}"


async def first_store(client: InstacartClient, fulfillment: str) -> str:
    stores = await client.find_stores(fulfillment, SF)  # type: ignore[arg-type]
    assert stores, f"the sandbox has {fulfillment} stores near 94105"
    return stores[0].id


async def test_find_stores_for_each_fulfillment_returns_closest_first(
    client: InstacartClient,
) -> None:
    for fulfillment in ("delivery", "pickup", "last_mile"):
        stores = await client.find_stores(fulfillment, SF)
        assert stores
        distances = [s.distance for s in stores]
        assert distances == sorted(distances)
        assert stores[0].address is not None and stores[0].address.city


async def test_delivery_flow_preview_reserve_create_get_cancel(client: InstacartClient) -> None:
    uid = user()
    store_id = await first_store(client, "delivery")
    options = await client.preview_delivery_time_slots(
        uid, PreviewServiceOptionsRequest(store_id=store_id, address=HOME)
    )
    assert options and all(o.fulfillment_type == "delivery" for o in options)
    assert options[0].window_starts_at < options[0].window_ends_at  # type: ignore[operator]

    hold = await client.reserve_delivery_time_slot(
        uid, ReserveTimeSlotRequest(service_option_id=options[0].id, cart=CART)
    )
    assert hold.hold_id and hold.expires_at and hold.service_option
    assert hold.service_option.id == options[0].id

    order_id = f"bff-{uuid.uuid4().hex}"
    order = await client.create_delivery_order(
        uid,
        CreateOrderRequest(
            hold_id=hold.hold_id,
            order_id=order_id,
            cart=CART,
            delivery_address=HOME,
            delivery_instructions="ring twice",
        ),
    )
    assert order.id == order_id
    assert order.status == "brand_new"
    assert order.fulfillment_type == "delivery"
    assert {i.product_id: i.quantity for i in order.items} == {"1001": 2, "1002": 1}

    fetched = await client.get_order(uid, order_id)
    assert fetched.id == order_id and fetched.status == "brand_new"

    canceled = await client.cancel_order(uid, order_id)
    assert canceled.status == "canceled" and is_terminal(canceled.status)


async def test_pickup_flow_with_pickup_hold_extension(client: InstacartClient) -> None:
    uid = user()
    store_id = await first_store(client, "pickup")
    options = await client.preview_pickup_time_slots(
        uid, PreviewServiceOptionsRequest(store_id=store_id)
    )
    assert options and options[0].fulfillment_type == "pickup"
    hold = await client.reserve_pickup_time_slot(
        uid, ReserveTimeSlotRequest(service_option_id=options[0].id)
    )
    order = await client.create_pickup_order(
        uid, CreateOrderRequest(hold_id=hold.hold_id, order_id=f"bff-{uuid.uuid4().hex}", cart=CART)
    )
    assert order.fulfillment_type == "pickup" and order.status == "brand_new"


async def test_last_mile_flow_preview_holds_create_and_stage(client: InstacartClient) -> None:
    uid = user()
    store_id = await first_store(client, "last_mile")
    options = await client.preview_last_mile_service_options(
        uid, PreviewServiceOptionsRequest(store_id=store_id, address=HOME)
    )
    assert options and options[0].fulfillment_type == "last_mile"
    order = await client.create_last_mile_order(
        uid,
        CreateOrderRequest(
            hold_id=options[0].id,
            order_id=f"bff-{uuid.uuid4().hex}",
            cart=CART,
            delivery_address=HOME,
        ),
    )
    assert order.fulfillment_type == "last_mile"
    staged = await client.stage_last_mile_order(order.id)
    assert staged.id == order.id
    # Any status string is kept, whatever the specification's enum says.
    assert isinstance(staged.status, str) and staged.status != "brand_new"


async def test_create_with_existing_retailer_order_id_is_bad_request_and_creates_nothing(
    client: InstacartClient, control: SandboxControl
) -> None:
    uid = user()
    store_id = await first_store(client, "pickup")
    options = await client.preview_pickup_time_slots(
        uid, PreviewServiceOptionsRequest(store_id=store_id)
    )
    order_id = f"bff-{uuid.uuid4().hex}"
    hold = await client.reserve_pickup_time_slot(
        uid, ReserveTimeSlotRequest(service_option_id=options[0].id)
    )
    await client.create_pickup_order(
        uid, CreateOrderRequest(hold_id=hold.hold_id, order_id=order_id, cart=CART)
    )
    hold2 = await client.reserve_pickup_time_slot(
        uid, ReserveTimeSlotRequest(service_option_id=options[1].id)
    )
    with pytest.raises(InstacartBadRequest) as caught:
        await client.create_pickup_order(
            uid, CreateOrderRequest(hold_id=hold2.hold_id, order_id=order_id, cart=CART)
        )
    assert "already exists" in (caught.value.upstream_message or "")
    assert (await control.stats())["orders"] == 1


async def test_requests_carry_user_agent_bearer_token_and_json_body() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/v2/oauth/token":
            return httpx.Response(200, json={"access_token": "tok-1", "expires_in": 86400})
        return httpx.Response(200, json={"stores": []})

    async with InstacartClient(
        base_url="http://instacart.test",
        client_id="id",
        client_secret="secret",
        transport=httpx.MockTransport(handler),
    ) as client:
        assert await client.find_pickup_stores(SF) == []
    token_request, call = seen
    assert token_request.headers["user-agent"] == USER_AGENT
    assert USER_AGENT.startswith("instacart-checkout-bff/")
    assert b'"client_secret":"secret"' in token_request.content
    assert "secret" not in str(token_request.url)  # credentials in the body, never the query
    assert call.headers["authorization"] == "Bearer tok-1"
    assert call.headers["content-type"] == "application/json"
    assert call.content == b'{"postal_code":"94105"}'


async def test_user_ids_are_escaped_into_one_path_segment() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path.decode())
        if request.url.path == "/v2/oauth/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 86400})
        return httpx.Response(404, json={"error": "order not found", "status": 404})

    async with InstacartClient(
        base_url="http://instacart.test",
        client_id="id",
        client_secret="s",
        transport=httpx.MockTransport(handler),
    ) as client:
        with pytest.raises(InstacartNotFound):
            await client.get_order("../../oauth/token?x=1", "a/b")
    assert paths[-1] == "/v2/fulfillment/users/..%2F..%2Foauth%2Ftoken%3Fx%3D1/orders/a%2Fb"


# --- error mapping against the sandbox ---


async def test_find_stores_without_location_raises_bad_request(client: InstacartClient) -> None:
    with pytest.raises(InstacartBadRequest) as caught:
        await client.find_delivery_stores(FindStoresRequest())
    err = caught.value
    assert err.status == 400 and err.operation == "findDeliveryStores"
    assert err.upstream_message and "postal_code" in err.upstream_message
    assert not err.retryable


async def test_wrong_client_secret_raises_credentials_rejected(
    make_client: Callable[..., InstacartClient], control: SandboxControl
) -> None:
    async with make_client(client_secret="wrong") as client:
        with pytest.raises(InstacartCredentialsRejected) as caught:
            await client.find_delivery_stores(SF)
    assert caught.value.status == 401
    assert caught.value.operation == "generateAccessToken"
    assert (await control.calls("findDeliveryStores")) == 0


async def test_unknown_order_raises_not_found(client: InstacartClient) -> None:
    with pytest.raises(InstacartNotFound) as caught:
        await client.get_order(user(), "no-such-order")
    assert caught.value.status == 404 and caught.value.upstream_message == "order not found"


@pytest.mark.parametrize(
    ("status", "error_class"),
    [(429, InstacartRateLimited), (500, InstacartServerError), (503, InstacartServerError)],
)
async def test_upstream_failure_statuses_map_to_retryable_errors(
    client: InstacartClient, control: SandboxControl, status: int, error_class: type
) -> None:
    await control.faults(findPickupStores={"fail_next": 10, "status": status})
    with pytest.raises(error_class) as caught:
        await client.find_pickup_stores(SF)
    assert caught.value.status == status
    assert caught.value.retryable
    assert caught.value.upstream_message == "sandbox fault: fail_next"
    assert await control.calls("findPickupStores") == 3  # a read gets three attempts


async def test_hanging_upstream_raises_timeout_within_the_deadline(
    make_client: Callable[..., InstacartClient], control: SandboxControl
) -> None:
    policies = {"findDeliveryStores": OperationPolicy(READ, deadline_seconds=0.5)}
    async with make_client(policies=policies) as client:
        await client.find_delivery_stores(SF)  # token fetched before the fault
        await control.faults(findDeliveryStores={"hang": True})
        started = time.monotonic()
        with pytest.raises(InstacartTimeout) as caught:
            await client.find_delivery_stores(SF)
        elapsed = time.monotonic() - started
    assert 0.45 <= elapsed < 1.0
    assert caught.value.operation == "findDeliveryStores"
    assert caught.value.retryable and caught.value.ambiguous
    assert "deadline" in str(caught.value)


async def test_hang_with_retries_left_still_ends_at_the_deadline(
    make_client: Callable[..., InstacartClient], control: SandboxControl
) -> None:
    policies = {"getOrder": OperationPolicy(READ, deadline_seconds=0.6, retry_on=RetryOn.RETRYABLE)}
    async with make_client(policies=policies) as client:
        await control.faults(getOrder={"hang": True})
        started = time.monotonic()
        with pytest.raises(InstacartTimeout):
            await client.get_order(user(), "x")
        assert time.monotonic() - started < 1.0
