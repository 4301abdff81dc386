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
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.instrumentation.sqlalchemy.version import __version__ as sqlalchemy_version
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    TraceIdRatioBased,
)
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from app.platform.server_spans import ServerSpans

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


def _without_lock_attempts(
    execute: Callable[..., Awaitable[Any]],
) -> Callable[..., Awaitable[Any]]:
    """``execute`` (a client's execute_command), making no span for a lock's attempts: a
    waiter tries the lock every few milliseconds."""

    async def execute_command(*args: Any, **options: Any) -> Any:
        if args and args[0] == "SET" and "NX" in args[3:] and _is_lock_name(args[1]):
            with suppress_instrumentation():
                return await execute(*args, **options)
        return await execute(*args, **options)

    return execute_command


def _is_lock_name(name: Any) -> bool:
    raw = name.encode() if isinstance(name, str) else name
    return isinstance(raw, bytes) and _LOCK_NAME.search(raw) is not None


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
            # Around the instrumentation's own wrapper, so that it sees the suppression; on the
            # instance, as the instrumentation's own is.
            lockless = _without_lock_attempts(client.execute_command)
            client.execute_command = lockless  # type: ignore[method-assign,assignment]

    async def aclose(self) -> None:
        for app in self._apps:
            app.middleware_stack = app.build_middleware_stack()
        self._apps.clear()
        if self._owns_provider:
            # Exports what is queued over HTTP, a blocking call: off the event loop.
            await asyncio.to_thread(self.provider.shutdown)
