"""A checkout's trace, in memory: the BFF in-process against the sandbox, real Postgres and Redis,
its spans exported to the test's own provider (tests/tracing/conftest.py)."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
import structlog
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio, TraceIdRatioBased
from opentelemetry.trace import SpanKind

from app.instacart.models import TokenResponse
from app.instacart.tokens import AccessToken, TokenProvider, token_key
from app.platform.logging import configure_logging
from app.platform.server_spans import ServerSpans
from app.platform.tracing import Tracing
from app.stores.fast_lane import with_hot_previews
from tests.support.addresses import SF_ADDRESS
from tests.support.checkout import Checkout
from tests.support.clock import FakeClock
from tests.support.settings import suite_redis_url

REDIS = "opentelemetry.instrumentation.redis"
SQL = "opentelemetry.instrumentation.sqlalchemy"
HTTPX = "opentelemetry.instrumentation.httpx"
SERVER = "app.platform.server_spans"


def scoped(spans: Sequence[ReadableSpan], scope: str) -> list[ReadableSpan]:
    return [s for s in spans if s.instrumentation_scope and s.instrumentation_scope.name == scope]


def server_span(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in scoped(spans, SERVER) if s.name == name and s.kind is SpanKind.SERVER]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


def descends_from(span: ReadableSpan, root: ReadableSpan, spans: Sequence[ReadableSpan]) -> bool:
    """Whether ``root`` is ``span``'s parent, or its parent's, and so on, within one trace."""
    by_id = {s.context.span_id: s for s in spans if s.context.trace_id == root.context.trace_id}
    parent = span.parent
    while parent is not None and parent.trace_id == root.context.trace_id:
        if parent.span_id == root.context.span_id:
            return True
        above = by_id.get(parent.span_id)
        parent = above.parent if above is not None else None
    return False


def traceparent(trace_id: str, span_id: str, sampled: bool = True) -> dict[str, str]:
    return {"traceparent": f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}"}


async def test_a_placement_is_one_trace_of_its_sql_redis_and_instacart_calls(
    open_checkout: Callable[..., Any],
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    user: str,
) -> None:
    async with open_checkout(tracer_provider=provider) as checkout:
        reservation = await checkout.reserve("delivery", user)
        exporter.clear()
        placed = await checkout.place(reservation, user)
        assert placed.status_code == 201, placed.text
        received = (await checkout.stats())["traceparents"]["createDeliveryOrder"]

    spans = exporter.get_finished_spans()
    place = server_span(spans, "POST /v1/orders")
    assert place.parent is None  # the request came without a traceparent
    sql = [s for s in scoped(spans, SQL) if descends_from(s, place, spans)]
    cache = [s for s in scoped(spans, REDIS) if descends_from(s, place, spans)]
    assert {s.attributes.get("db.system") for s in sql} == {"postgresql"}
    assert any("INSERT" in s.name or "UPDATE" in s.name for s in sql), [s.name for s in sql]
    assert cache, [s.name for s in spans]
    creates = [
        s
        for s in scoped(spans, HTTPX)
        if s.kind is SpanKind.CLIENT and "/orders/delivery" in str(s.attributes.get("http.url"))
    ]
    assert len(creates) == 1, [(s.name, s.attributes) for s in scoped(spans, HTTPX)]
    assert descends_from(creates[0], place, spans)
    # What Instacart (the sandbox) received: this trace, with the create call's span as parent.
    _, trace_id, parent_id, flags = received.split("-")
    assert trace_id == format(place.context.trace_id, "032x")
    assert parent_id == format(creates[0].context.span_id, "016x")
    assert int(flags, 16) & 1  # sampled
    # No span outside the request's trace: everything it did is in the tree.
    assert {s.context.trace_id for s in spans} == {place.context.trace_id}


async def test_the_storefronts_traceparent_becomes_the_parent_and_decides_sampling(
    open_checkout: Callable[..., Any], exporter: InMemorySpanExporter, user: str
) -> None:
    # Samples nothing of its own: only a storefront's sampled trace is recorded.
    provider = TracerProvider(sampler=ParentBasedTraceIdRatio(0.0))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace_id, span_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    try:
        async with open_checkout(tracer_provider=provider) as checkout:
            store_id = await checkout.first_store("pickup", user)
            path = f"/v1/stores/{store_id}/slots"
            params = {"fulfillment": "pickup"}
            unsampled = traceparent(uuid.uuid4().hex, span_id, sampled=False)
            for headers in ({}, unsampled):
                response = await checkout.bff.get(
                    path, params=params, headers=checkout.auth(user) | headers
                )
                assert response.status_code == 200
            assert exporter.get_finished_spans() == ()
            response = await checkout.bff.get(
                path, params=params, headers=checkout.auth(user) | traceparent(trace_id, span_id)
            )
            assert response.status_code == 200
    finally:
        provider.shutdown()

    spans = exporter.get_finished_spans()
    slots = server_span(spans, "GET /v1/stores/{store_id}/slots")
    assert slots.parent is not None
    assert format(slots.parent.trace_id, "032x") == trace_id
    assert format(slots.parent.span_id, "016x") == span_id
    assert {format(s.context.trace_id, "032x") for s in spans} == {trace_id}


async def test_a_trace_the_service_starts_is_sampled_by_its_own_trace_id(
    open_checkout: Callable[..., Any], exporter: InMemorySpanExporter, user: str
) -> None:
    # The sampler is asked before the span exists (ServerSpans): the span must then carry the
    # trace id the sampler said yes to, or the ratio would apply twice.
    sampler = ParentBasedTraceIdRatio(0.5)
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        async with open_checkout(tracer_provider=provider) as checkout:
            store_id = await checkout.first_store("pickup", user)
            exporter.clear()
            for _ in range(200):
                await checkout.first_slot("pickup", store_id, user)
    finally:
        provider.shutdown()
    spans = scoped(exporter.get_finished_spans(), SERVER)
    bound = TraceIdRatioBased.get_bound_for_rate(0.5)
    assert all(s.context.trace_id & TraceIdRatioBased.TRACE_ID_LIMIT < bound for s in spans)
    assert 60 <= len(spans) <= 140  # half of 200, give or take six standard deviations


async def test_a_warm_slot_preview_from_the_fast_lane_gets_a_server_span(
    checkout_traced: tuple[Checkout, InMemorySpanExporter], user: str
) -> None:
    checkout, exporter = checkout_traced
    store_id = await checkout.first_store("pickup", user)
    await checkout.first_slot("pickup", store_id, user)  # fills the cache
    exporter.clear()
    await checkout.first_slot("pickup", store_id, user)
    spans = exporter.get_finished_spans()
    slots = server_span(spans, "GET /v1/stores/{store_id}/slots")
    assert slots.attributes.get("http.route") == "/v1/stores/{store_id}/slots"
    assert slots.attributes.get("http.response.status_code") == 200


async def test_the_hot_lane_answers_inside_one_server_span_of_the_storefronts_trace(
    checkout_traced: tuple[Checkout, InMemorySpanExporter], user: str
) -> None:
    checkout, exporter = checkout_traced
    # As served: the hot lane in front of the app, time standing still for its in-process tier.
    checkout.app.state.bff.checkout.catalog.slot_cache.clock = FakeClock().time
    lane = with_hot_previews(checkout.app)
    transport = httpx.ASGITransport(app=lane)
    async with httpx.AsyncClient(transport=transport, base_url="http://bff.test") as client:
        store_id = await checkout.first_store("pickup", user)
        url = f"/v1/stores/{store_id}/slots"
        params = {"fulfillment": "pickup"} | SF_ADDRESS
        assert (await client.get(url, params=params, headers=checkout.auth(user))).is_success
        exporter.clear()
        trace_id, parent_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
        headers = checkout.auth(user) | traceparent(trace_id, parent_id)
        hot = await client.get(url, params=params, headers=headers)
        assert hot.status_code == 200
        spans = exporter.get_finished_spans()
        # Held in process: answered by the lane, so no SQL, no Redis, only its server span.
        assert [s.kind for s in spans] == [SpanKind.SERVER], [s.name for s in spans]
        assert spans[0].context.trace_id == int(trace_id, 16)
        assert spans[0].parent is not None and spans[0].parent.span_id == int(parent_id, 16)

        exporter.clear()  # and what goes on to the app has one server span, not two
        assert (await client.get("/v1/stores", headers=checkout.auth(user))).status_code < 500
        assert len([s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]) == 1


async def test_probes_metrics_and_the_event_stream_make_no_spans(
    checkout_traced: tuple[Checkout, InMemorySpanExporter], user: str
) -> None:
    checkout, exporter = checkout_traced
    for path in ("/livez", "/readyz", "/healthz/dependencies", "/metrics"):
        response = await checkout.bff.get(path)
        assert response.status_code in (200, 401, 403), (path, response.status_code)
    # Refused (no ticket), but past every middleware, its own lookups included.
    stream = await checkout.bff.get(
        f"/v1/orders/{uuid.uuid4()}/events", headers=checkout.auth(user)
    )
    assert stream.status_code >= 400
    assert exporter.get_finished_spans() == ()
    # The same app does trace its other routes.
    await checkout.bff.get("/v1/orders", headers=checkout.auth(user))
    assert server_span(exporter.get_finished_spans(), "GET /v1/orders")


async def test_a_log_line_written_during_a_request_carries_its_trace_id(
    checkout_traced: tuple[Checkout, InMemorySpanExporter], user: str
) -> None:
    checkout, exporter = checkout_traced
    stream = io.StringIO()
    configure_logging(checkout.settings, stream=stream)
    response = await checkout.bff.get("/v1/orders", headers=checkout.auth(user))
    assert response.status_code == 200
    request = server_span(exporter.get_finished_spans(), "GET /v1/orders")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [line for line in lines if line.get("request_id") == response.headers["x-request-id"]]
    assert access, lines
    for line in access:
        assert line["trace_id"] == format(request.context.trace_id, "032x")
        assert len(line["span_id"]) == 16
    outside = json.loads(_log_outside_a_span(checkout, stream))
    assert "trace_id" not in outside


def _log_outside_a_span(checkout: Checkout, stream: io.StringIO) -> str:
    before = len(stream.getvalue())
    structlog.get_logger("tests.tracing").info("tests.outside_a_span")
    return stream.getvalue()[before:].strip()


async def test_a_waiter_polling_a_lock_makes_no_spans(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    client = redis.Redis.from_url(suite_redis_url())
    Tracing(provider, owns_provider=False).instrument_redis(client)
    name = f"tests:tracing:{uuid.uuid4().hex}:lock"
    try:
        holder = client.lock(name, timeout=5, thread_local=False)
        assert await holder.acquire(blocking=False)
        waiter = client.lock(name, timeout=5, sleep=0.005, thread_local=False)
        # About 20 tries before it gives up, the holder never letting go.
        assert not await waiter.acquire(blocking_timeout=0.1)
        await holder.release()
        await client.set(f"{name}:not-a-lock", "1", ex=5)  # a plain command is traced
    finally:
        await client.aclose()
    names = [s.name for s in exporter.get_finished_spans()]
    assert names.count("SET") == 1, names


async def test_a_replica_waiting_for_anothers_token_makes_no_span_per_poll(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    client, other_replica = (redis.Redis.from_url(suite_redis_url()) for _ in range(2))
    Tracing(provider, owns_provider=False).instrument_redis(client)
    clock = FakeClock()
    key = token_key(f"tests:tracing:{uuid.uuid4().hex}", "c")
    await other_replica.set(f"{key}:lock", "another-process", px=60_000)

    async def sleep(seconds: float) -> None:
        await clock.sleep(seconds)
        if clock.slept >= 1.0:  # the other replica stores its token after 20 polls
            token = AccessToken("winners-token", clock.time() + 86400, 86400)
            await other_replica.set(key, token.to_json(), px=60_000)

    async def fetch() -> TokenResponse:
        raise AssertionError("the waiter fetched a token of its own")

    tokens = TokenProvider(
        fetch,
        client,
        client_id="c",
        key_prefix=key.rsplit(":", 1)[0],
        clock=clock.time,
        monotonic=clock.monotonic,
        sleep=sleep,
    )
    try:
        assert await tokens.get() == "winners-token"
    finally:
        await client.aclose()
        await other_replica.aclose()
    # The first read only: the lock's tries and the waiter's reads make none.
    assert [s.name for s in exporter.get_finished_spans()] == ["GET"]


async def test_without_an_endpoint_nothing_is_instrumented(
    open_checkout: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, user: str
) -> None:
    for variable in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(variable, raising=False)
    assert Tracing.start(None) is None
    async with open_checkout() as checkout:
        await checkout.reserve("pickup", user)
        state = checkout.app.state.bff
        assert not hasattr(state.redis.execute_command, "__wrapped__")
        pools = state.instacart._pools
        for pool in (pools.default, pools.create):
            assert not hasattr(pool._transport.handle_async_request, "__wrapped__")
        assert not isinstance(checkout.app.middleware_stack, ServerSpans)


async def test_closing_the_app_removes_its_server_spans(
    open_checkout: Callable[..., Any],
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    async with open_checkout(tracer_provider=provider) as checkout:
        assert isinstance(checkout.app.middleware_stack, ServerSpans)
    assert not isinstance(checkout.app.middleware_stack, ServerSpans)


@pytest.fixture
async def checkout_traced(
    open_checkout: Callable[..., Any], provider: TracerProvider, exporter: InMemorySpanExporter
) -> Any:
    async with open_checkout(tracer_provider=provider) as checkout:
        yield checkout, exporter
