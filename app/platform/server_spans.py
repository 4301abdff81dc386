"""Server spans: one per request, the fast lanes' included, cheap for the requests the sampler
drops (most of them). Built by `Tracing.instrument_app` (app/platform/tracing.py) around the
app's whole middleware stack; docs/tracing.md says why it is not the FastAPI instrumentation's.
"""

from __future__ import annotations

import re
from contextvars import ContextVar

from opentelemetry import context, propagate, trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# No spans at all for these, neither a server span nor its SQL and Redis: the event stream lives
# for minutes (one span would say nothing, and it polls), probes and scrapes come every few
# seconds from every kubelet and Prometheus.
UNTRACED_PATHS = re.compile(
    r"^/(livez|readyz|healthz/dependencies|metrics)/?$|^/v1/orders/[^/]+/events/?$"
)


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
        if scope["type"] != "http" or scope.get(_SPANNED):
            # Not HTTP, or a ServerSpans further out (the hot lane's) already handled it.
            await self.app(scope, receive, send)
            return
        scope[_SPANNED] = True
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

    def around(self, app: ASGIApp) -> ServerSpans:
        """The same spans around another ASGI app: the hot lane, which answers in front of the
        FastAPI app these spans were built for (app/stores/fast_lane.py)."""
        spans = object.__new__(ServerSpans)
        spans.__dict__.update(self.__dict__)
        spans.app = app
        return spans

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


# Marks a request's scope once a ServerSpans has taken it, so that an inner one (FastAPI's own,
# behind the hot lane's) does not start a second server span for the same request.
_SPANNED = "bff.server_span"

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
