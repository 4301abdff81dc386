"""Retries by operation, the total deadline, and the circuit breaker, against the sandbox."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from app.instacart import (
    Cart,
    CartItem,
    CircuitOpenError,
    CreateOrderRequest,
    FindStoresRequest,
    InstacartBadRequest,
    InstacartClient,
    InstacartNotFound,
    InstacartRateLimited,
    InstacartServerError,
    InstacartTimeout,
    InstacartUnavailable,
    OperationPolicy,
    PreviewServiceOptionsRequest,
    ReserveTimeSlotRequest,
)
from app.instacart.policy import CREATE, BreakerConfig, CircuitBreaker, RetryOn
from tests.instacart.helpers import LogRecorder, SandboxControl, metric
from tests.support.clock import FakeClock

SF = FindStoresRequest(postal_code="94105")
CART = Cart(items=[CartItem(product_id="1001", quantity=1)])


async def pickup_hold(client: InstacartClient, uid: str) -> str:
    stores = await client.find_pickup_stores(SF)
    options = await client.preview_pickup_time_slots(
        uid, PreviewServiceOptionsRequest(store_id=stores[0].id)
    )
    hold = await client.reserve_pickup_time_slot(
        uid, ReserveTimeSlotRequest(service_option_id=options[0].id)
    )
    return hold.hold_id


async def test_read_failing_twice_with_503_then_succeeding_costs_three_calls(
    client: InstacartClient, control: SandboxControl, logs: LogRecorder
) -> None:
    retries_before = metric("bff_upstream_retries_total", operation="findDeliveryStores")
    failures_before = metric(
        "bff_upstream_request_duration_seconds_count", operation="findDeliveryStores", status="503"
    )
    await control.faults(findDeliveryStores={"fail_next": 2, "status": 503})

    stores = await client.find_delivery_stores(SF)

    assert stores
    assert await control.calls("findDeliveryStores") == 3
    assert metric("bff_upstream_retries_total", operation="findDeliveryStores") == (
        retries_before + 2
    )
    assert metric(
        "bff_upstream_request_duration_seconds_count", operation="findDeliveryStores", status="503"
    ) == (failures_before + 2)
    attempts = [e for e in logs.named("upstream.request") if e["operation"] == "findDeliveryStores"]
    assert [(e["attempt"], e["status"]) for e in attempts] == [(1, "503"), (2, "503"), (3, "200")]
    assert all(isinstance(e["duration_ms"], float) for e in attempts)
    assert [e["attempt"] for e in logs.named("upstream.request.retry")] == [2, 3]


@pytest.mark.parametrize("status", [408, 429, 500])
async def test_reads_retry_every_retryable_status(
    client: InstacartClient, control: SandboxControl, status: int
) -> None:
    await control.faults(getOrder={"fail_next": 1, "status": status})
    with pytest.raises(InstacartNotFound):
        await client.get_order("u1", "missing")
    assert await control.calls("getOrder") == 2


async def test_holds_retry_on_503(client: InstacartClient, control: SandboxControl) -> None:
    uid = f"user-{uuid.uuid4().hex[:8]}"
    await control.faults(reservePickupTimeSlot={"fail_next": 1, "status": 503})
    assert await pickup_hold(client, uid)
    assert await control.calls("reservePickupTimeSlot") == 2


async def test_order_creation_on_503_is_called_once_and_is_ambiguous(
    client: InstacartClient, control: SandboxControl
) -> None:
    uid = f"user-{uuid.uuid4().hex[:8]}"
    hold_id = await pickup_hold(client, uid)
    order_id = f"bff-{uuid.uuid4().hex}"
    await control.faults(createPickupOrder={"fail_next": 1, "status": 503})

    with pytest.raises(InstacartServerError) as caught:
        await client.create_pickup_order(
            uid, CreateOrderRequest(hold_id=hold_id, order_id=order_id, cart=CART)
        )

    assert caught.value.ambiguous
    assert await control.calls("createPickupOrder") == 1
    # The caller resolves the ambiguity by the retailer order id: here, never created.
    with pytest.raises(InstacartNotFound):
        await client.get_order(uid, order_id)


async def test_order_creation_that_times_out_after_creating_is_resolved_by_get(
    make_client: Callable[..., InstacartClient], control: SandboxControl
) -> None:
    policies = {"createPickupOrder": OperationPolicy(CREATE, 0.5, 1, RetryOn.NEVER, "create")}
    async with make_client(policies=policies) as client:
        uid = f"user-{uuid.uuid4().hex[:8]}"
        hold_id = await pickup_hold(client, uid)
        order_id = f"bff-{uuid.uuid4().hex}"
        await control.faults(createPickupOrder={"hang_after_create": True})
        with pytest.raises(InstacartTimeout) as caught:
            await client.create_pickup_order(
                uid, CreateOrderRequest(hold_id=hold_id, order_id=order_id, cart=CART)
            )
        assert caught.value.ambiguous
        assert await control.calls("createPickupOrder") == 1
        order = await client.get_order(uid, order_id)
        assert order.id == order_id and order.status == "brand_new"


async def test_cancel_does_not_retry_an_ambiguous_503(
    client: InstacartClient, control: SandboxControl
) -> None:
    await control.faults(cancelOrder={"fail_next": 1, "status": 503})
    with pytest.raises(InstacartServerError):
        await client.cancel_order("u1", "some-order")
    assert await control.calls("cancelOrder") == 1


async def test_cancel_retries_a_429_which_proves_nothing_was_done(
    client: InstacartClient, control: SandboxControl
) -> None:
    await control.faults(stageLastMileOrder={"fail_next": 1, "status": 429})
    with pytest.raises(InstacartNotFound):
        await client.stage_last_mile_order("no-such-order")
    assert await control.calls("stageLastMileOrder") == 2


async def test_bad_request_is_never_retried(
    client: InstacartClient, control: SandboxControl
) -> None:
    with pytest.raises(InstacartBadRequest):
        await client.find_delivery_stores(FindStoresRequest())
    assert await control.calls("findDeliveryStores") == 1


async def test_breaker_opens_fails_fast_then_closes_after_cool_down(
    make_client: Callable[..., InstacartClient], control: SandboxControl, logs: LogRecorder
) -> None:
    breaker = BreakerConfig(failure_threshold=3, cooldown_seconds=0.3)
    clock = FakeClock()
    async with make_client(breaker=breaker, breaker_clock=clock.monotonic) as client:
        await client.find_pickup_stores(SF)  # a token, so only reads reach the sandbox
        await control.faults(findPickupStores={"error_rate": 1.0, "status": 503})

        with pytest.raises(InstacartServerError):
            await client.find_pickup_stores(SF)  # three attempts: three failures
        assert metric("bff_upstream_circuit_open", operation_class="read") == 1
        calls = await control.calls("findPickupStores")

        for _ in range(5):
            with pytest.raises(CircuitOpenError) as caught:
                await client.find_pickup_stores(SF)
        assert 0 < caught.value.retry_after <= 0.3
        assert caught.value.operation_class == "read"
        assert await control.calls("findPickupStores") == calls  # nothing reached the sandbox
        with pytest.raises(CircuitOpenError):
            await client.get_order("u1", "o1")  # the whole read class is open
        # Other classes keep working.
        uid = f"user-{uuid.uuid4().hex[:8]}"
        options = await client.preview_last_mile_service_options(
            uid, PreviewServiceOptionsRequest(store_id=(await _store(control)))
        )
        assert options

        clock.advance(0.35)
        # Half-open: one probe; it fails, so the circuit opens again at once.
        with pytest.raises(InstacartServerError):
            await client.find_pickup_stores(SF)
        assert await control.calls("findPickupStores") == calls + 1
        with pytest.raises(CircuitOpenError):
            await client.find_pickup_stores(SF)

        await control.faults()  # upstream healthy again
        clock.advance(0.35)
        assert await client.find_pickup_stores(SF)
        assert metric("bff_upstream_circuit_open", operation_class="read") == 0
        assert await client.find_pickup_stores(SF)
    events = [e["event"] for e in logs.events if e["event"].startswith("upstream.circuit")]
    assert events == [
        "upstream.circuit.opened",
        "upstream.circuit.half_open",
        "upstream.circuit.opened",
        "upstream.circuit.half_open",
        "upstream.circuit.closed",
    ]


async def _store(control: SandboxControl) -> str:
    catalog = (await control.http.get("/sandbox/catalog")).json()
    return next(s["id"] for s in catalog["stores"] if "last_mile" in s["fulfillment_types"])


async def test_client_errors_do_not_open_the_breaker(
    make_client: Callable[..., InstacartClient], control: SandboxControl
) -> None:
    async with make_client(breaker=BreakerConfig(failure_threshold=2, cooldown_seconds=5)) as c:
        for _ in range(5):
            with pytest.raises(InstacartNotFound):
                await c.get_order("u1", "missing")
        await control.faults(getOrder={"fail_next": 30, "status": 429})
        with pytest.raises(InstacartRateLimited):
            await c.get_order("u1", "missing")
        assert c.breakers["read"].state.value == "closed"


def test_half_open_lets_one_probe_through_at_a_time() -> None:
    now = [0.0]
    breaker = CircuitBreaker("test-probe", BreakerConfig(1, 1.0), clock=lambda: now[0])
    breaker.before_call("op")
    breaker.record_failure()
    now[0] = 2.0
    assert breaker.before_call("op") is True  # the probe
    with pytest.raises(CircuitOpenError):
        breaker.before_call("op")
    breaker.release_probe()  # the probe was cancelled: another may try
    assert breaker.before_call("op") is True
    breaker.record_success()
    assert breaker.before_call("op") is False


async def test_retries_stop_at_the_deadline(
    make_client: Callable[..., InstacartClient], control: SandboxControl
) -> None:
    policies = {"getOrder": OperationPolicy("read", deadline_seconds=0.3)}
    async with make_client(policies=policies) as client:
        await client.find_pickup_stores(SF)
        await control.faults(getOrder={"fail_next": 2, "status": 503, "latency_ms": 200})
        with pytest.raises((InstacartServerError, InstacartTimeout)):
            await client.get_order("u1", "o1")
        assert await control.calls("getOrder") <= 2


async def test_token_endpoint_failure_fails_the_call_unambiguously(
    client: InstacartClient, control: SandboxControl
) -> None:
    await control.faults(generateAccessToken={"error_rate": 1.0, "status": 503})
    with pytest.raises(InstacartUnavailable) as caught:
        await client.create_pickup_order(
            "u1", CreateOrderRequest(hold_id="h", order_id="bff-x", cart=CART)
        )
    err = caught.value
    assert err.operation == "createPickupOrder" and not err.ambiguous and not err.request_sent
    assert "generateAccessToken" in str(err)
    assert isinstance(err.__cause__, InstacartServerError)
    assert await control.calls("generateAccessToken") == 3
    assert await control.calls("createPickupOrder") == 0
