"""OpenTelemetry tracing: a tracer provider built from the standard ``OTEL_*`` environment, and
the instrumentation that gives a checkout's trace its hops (server spans, Instacart over httpx,
SQL, Redis).

Off unless an OTLP endpoint is configured: then nothing is instrumented at all, so a process
without a collector pays nothing. The provider and every instrumented object are passed
explicitly, never installed globally, so that tests can give each app its own provider (an
in-memory exporter) and one app's spans never reach another's. docs/tracing.md says what is
traced and what it costs.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient
from opentelemetry import context, propagate, trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.instrumentation.sqlalchemy.version import __version__ as sqlalchemy_version
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from wrapt import wrap_function_wrapper

DEFAULT_SERVICE_NAME = "instacart-checkout-bff"
# The specification's default sampler is parent-based "always on"; ours samples by trace id
# with the same default ratio (1.0), so that OTEL_TRACES_SAMPLER_ARG alone sets the ratio.
DEFAULT_SAMPLER = "parentbased_traceidratio"
SAMPLERS: dict[str, Callable[[float], Sampler]] = {
    "always_on": lambda _: ALWAYS_ON,
    "always_off": lambda _: ALWAYS_OFF,
    "traceidratio": TraceIdRatioBased,
    "parentbased_always_on": lambda _: ParentBased(ALWAYS_ON),
    "parentbased_always_off": lambda _: ParentBased(ALWAYS_OFF),
    "parentbased_traceidratio": ParentBasedTraceIdRatio,
}
# No spans at all for these, neither a server span nor its SQL and Redis: the event stream lives
# for minutes (one span would say nothing, and it polls), probes and scrapes come every few
# seconds from every kubelet and Prometheus.
UNTRACED_PATHS = re.compile(
    r"^/(livez|readyz|healthz/dependencies|metrics)/?$|^/v1/orders/[^/]+/events/?$"
)
# A redis-py Lock's acquire is one `SET <name> <token> [PX ms] NX`; our locks' names end so.
_LOCK_NAME = re.compile(rb":lock$")
# Metrics come from our own Prometheus module; the instrumentations' own go nowhere.
_NO_METRICS = NoOpMeterProvider()


def endpoint_configured(environ: Mapping[str, str]) -> bool:
    """Whether the environment asks for traces: an OTLP endpoint, and the SDK not disabled."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
        or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    )


def sampler_from(environ: Mapping[str, str]) -> Sampler:
    """OTEL_TRACES_SAMPLER (parent-based trace-id ratio by default) with its ratio from
    OTEL_TRACES_SAMPLER_ARG (1.0 by default). A wrong value stops the start, not the traces."""
    name = environ.get("OTEL_TRACES_SAMPLER", "").strip().lower() or DEFAULT_SAMPLER
    if name not in SAMPLERS:
        raise ValueError(f"OTEL_TRACES_SAMPLER={name!r} is not one of {', '.join(SAMPLERS)}")
    raw = environ.get("OTEL_TRACES_SAMPLER_ARG", "").strip() or "1.0"
    try:
        ratio = float(raw)
    except ValueError:
        raise ValueError(f"OTEL_TRACES_SAMPLER_ARG={raw!r} is not a number") from None
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"OTEL_TRACES_SAMPLER_ARG={raw!r} is not between 0 and 1")
    return SAMPLERS[name](ratio)


def provider_from(environ: Mapping[str, str]) -> TracerProvider | None:
    """A provider exporting over OTLP/HTTP in batches, or None when no endpoint is set."""
    if not endpoint_configured(environ):
        return None
    # Imported here: a process that traces nothing never loads the exporter and its protobufs.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    name = environ.get("OTEL_SERVICE_NAME", "").strip() or DEFAULT_SERVICE_NAME
    provider = TracerProvider(
        sampler=sampler_from(environ), resource=Resource.create({SERVICE_NAME: name})
    )
    # The exporter reads the endpoint, headers, timeout and compression from OTEL_* itself,
    # the batch processor its queue and delays from OTEL_BSP_*.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


async def _skip_lock_attempts(
    wrapped: Callable[..., Awaitable[Any]], _: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    # A waiter tries the lock every few milliseconds: no span per try.
    if args and args[0] == "SET" and "NX" in args[3:] and _is_lock_name(args[1]):
        with suppress_instrumentation():
            return await wrapped(*args, **kwargs)
    return await wrapped(*args, **kwargs)


def _is_lock_name(name: Any) -> bool:
    raw = name.encode() if isinstance(name, str) else name
    return isinstance(raw, bytes) and _LOCK_NAME.search(raw) is not None


class ServerSpans:
    """A server span around every request but UNTRACED_PATHS', whose requests run with every
    instrumentation suppressed. Outermost, so that it covers the fast lanes and every
    middleware; named by the route template once routing has found it.

    Written here rather than taken from the FastAPI instrumentation, whose middleware builds a
    span's name and attributes before the sampler decides: it made a warm slot preview cost
    2.8 times its CPU at 1% sampling (docs/tracing.md). Here a request that starts its trace
    draws the trace id and asks the sampler first; one that is dropped runs with no span at
    all, and a sampled one gets its span with that very trace id (``_DrawnTraceIds``). A
    request that carries a trace context gets a span, recording or not, as its parent says.
    """

    def __init__(self, app: ASGIApp, provider: TracerProvider) -> None:
        self.app = app
        tracer = provider.get_tracer(__name__)
        self.tracer = tracer
        self.sampler = provider.sampler
        self.ids = provider.id_generator
        self._bound = _root_ratio_bound(provider.sampler)
        if isinstance(tracer, SdkTracer) and not isinstance(tracer.id_generator, _DrawnTraceIds):
            tracer.id_generator = _DrawnTraceIds(tracer.id_generator)
        # The headers the configured propagators read (traceparent, tracestate, baggage).
        self._carried = {f.encode() for f in propagate.get_global_textmap().fields}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if UNTRACED_PATHS.match(scope["path"]):
            with suppress_instrumentation():
                await self.app(scope, receive, send)
            return
        parent = self._incoming(scope)
        if parent is None:
            trace_id = self.ids.generate_trace_id()
            if self._drops(trace_id, scope["method"]):
                await self.app(scope, receive, send)
                return
            drawn = _DRAWN_TRACE_ID.set(trace_id)
            try:
                span = self.tracer.start_span(scope["method"], kind=SpanKind.SERVER)
            finally:
                _DRAWN_TRACE_ID.reset(drawn)
        else:
            span = self.tracer.start_span(scope["method"], context=parent, kind=SpanKind.SERVER)
        token = context.attach(trace.set_span_in_context(span, parent))
        try:
            if span.is_recording():
                await self._recorded(span, scope, receive, send)
            else:
                # The storefront's trace, not sampled: its id still goes to logs and upstream.
                await self.app(scope, receive, send)
        finally:
            context.detach(token)

    def _drops(self, trace_id: int, name: str) -> bool:
        """Whether the sampler drops a trace that starts here with ``trace_id``."""
        if self._bound is not None:
            # The ratio sampler's own rule, without the objects its answer is made of.
            return trace_id & TraceIdRatioBased.TRACE_ID_LIMIT >= self._bound
        sampling = self.sampler.should_sample(None, trace_id, name, SpanKind.SERVER)
        return sampling.decision is Decision.DROP

    def _incoming(self, scope: Scope) -> Context | None:
        """The storefront's trace context, if it sent one."""
        for name, _ in scope["headers"]:
            if name in self._carried:
                return propagate.extract(scope["headers"], getter=_ASGI_HEADERS)
        return None

    async def _recorded(self, span: Span, scope: Scope, receive: Receive, send: Send) -> None:
        status = 0

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        # No query string: a slot preview's carries the shopper's address.
        span.set_attributes(
            {
                "http.request.method": scope["method"],
                "url.scheme": scope.get("scheme", "http"),
                "url.path": scope["path"],
                "network.protocol.version": scope.get("http_version", "1.1"),
            }
        )
        try:
            await self.app(scope, receive, send_noting_status)
        except Exception as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise
        finally:
            route = getattr(scope.get("route"), "path", None)
            if route:
                span.set_attribute("http.route", route)
                span.update_name(f"{scope['method']} {route}")
            if status:
                span.set_attribute("http.response.status_code", status)
                if status >= 500:  # a 4xx is the client's error, not the server's
                    span.set_status(Status(StatusCode.ERROR))
            span.end()


def _root_ratio_bound(sampler: Sampler) -> int | None:
    """The trace-id bound below which a (parent-based) ratio sampler samples a new trace; None
    for any other sampler, which is then asked."""
    # ParentBased keeps its root sampler there and offers no accessor; with no parent (a
    # request that starts its trace, asked before any span is current) it is what decides.
    root = sampler._root if isinstance(sampler, ParentBased) else sampler
    return root.bound if isinstance(root, TraceIdRatioBased) else None


# The trace id ServerSpans drew for the span it is starting; 0 when none.
_DRAWN_TRACE_ID: ContextVar[int] = ContextVar("drawn_trace_id", default=0)


class _DrawnTraceIds(IdGenerator):
    """The SDK's ids, except the trace id ServerSpans drew to ask the sampler before starting
    a span: the span gets the id the sampler said yes to."""

    def __init__(self, ids: IdGenerator) -> None:
        self.ids = ids

    def generate_span_id(self) -> int:
        return self.ids.generate_span_id()

    def generate_trace_id(self) -> int:
        return _DRAWN_TRACE_ID.get() or self.ids.generate_trace_id()

    def is_trace_id_random(self) -> bool:
        return self.ids.is_trace_id_random()


class _AsgiHeaders(Getter[list[tuple[bytes, bytes]]]):
    """Reads a propagator's headers from an ASGI scope's (lower-case) header list."""

    def get(self, carrier: list[tuple[bytes, bytes]], key: str) -> list[str] | None:
        wanted = key.lower().encode()
        found = [value.decode("latin-1") for name, value in carrier if name == wanted]
        return found or None

    def keys(self, carrier: list[tuple[bytes, bytes]]) -> list[str]:
        return [name.decode("latin-1") for name, _ in carrier]


_ASGI_HEADERS = _AsgiHeaders()


class Tracing:
    """The process's tracer provider and what it instruments; ``aclose`` undoes the app's
    instrumentation and, for a provider built here, flushes what is queued."""

    def __init__(self, provider: TracerProvider, *, owns_provider: bool) -> None:
        self.provider = provider
        self._owns_provider = owns_provider
        self._apps: list[FastAPI] = []

    @classmethod
    def start(
        cls, injected: TracerProvider | None, environ: Mapping[str, str] | None = None
    ) -> Tracing | None:
        """Tracing with the injected provider (tests), else as the environment says; None
        when neither asks for it."""
        if injected is not None:
            return cls(injected, owns_provider=False)
        provider = provider_from(os.environ if environ is None else environ)
        return None if provider is None else cls(provider, owns_provider=True)

    def instrument_app(self, app: FastAPI) -> None:
        """Server spans for the app's requests (ServerSpans), until ``aclose``."""
        # The stack is built by the first call, the lifespan's own; later calls use this one.
        app.middleware_stack = ServerSpans(app.build_middleware_stack(), self.provider)
        self._apps.append(app)

    def instrument_httpx(self, *clients: AsyncClient) -> None:
        """Client spans, and the traceparent header, for every request of these clients."""
        transports = set()
        for client in clients:
            # Clients given one transport (an in-process sandbox) share its wrapper: one span.
            if id(client._transport) in transports:
                continue
            transports.add(id(client._transport))
            HTTPXClientInstrumentor.instrument_client(
                client, tracer_provider=self.provider, meter_provider=_NO_METRICS
            )

    def instrument_engine(self, engine: AsyncEngine) -> None:
        """A client span per SQL statement; the async engine's events fire on its sync engine."""
        # Its instrumentor would also patch create_engine for the whole process; the engine's
        # own tracer (what the instrumentor builds for one engine) is all this needs.
        tracer = self.provider.get_tracer(
            "opentelemetry.instrumentation.sqlalchemy", sqlalchemy_version
        )
        usage = _NO_METRICS.get_meter(__name__).create_up_down_counter("db.client.connections")
        EngineTracer(tracer, engine.sync_engine, usage)  # type: ignore[no-untyped-call]  # untyped upstream

    def instrument_redis(self, *clients: Redis) -> None:
        """A client span per Redis command or pipeline, a lock's attempts left out."""
        for client in clients:
            RedisInstrumentor.instrument_client(client, tracer_provider=self.provider)
            # Outside the instrumentation's own wrapper, so that it sees the suppression.
            wrap_function_wrapper(client, "execute_command", _skip_lock_attempts)

    async def aclose(self) -> None:
        for app in self._apps:
            app.middleware_stack = app.build_middleware_stack()
        self._apps.clear()
        if self._owns_provider:
            # Exports what is queued over HTTP, a blocking call: off the event loop.
            await asyncio.to_thread(self.provider.shutdown)
