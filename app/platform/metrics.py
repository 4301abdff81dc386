"""Every Prometheus metric of the service, defined once."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

HTTP_SERVER_DURATION = Histogram(
    "http_server_request_duration_seconds",
    "Time to answer a storefront request, by route template.",
    ["method", "route", "status"],
    buckets=_LATENCY_BUCKETS,
)

UPSTREAM_DURATION = Histogram(
    "bff_upstream_request_duration_seconds",
    "Time of one HTTP attempt against Instacart Connect, by operation and status.",
    ["operation", "status"],
    buckets=_LATENCY_BUCKETS,
)
UPSTREAM_RETRIES = Counter(
    "bff_upstream_retries_total",
    "Upstream attempts made after a retryable failure, by operation.",
    ["operation"],
)
UPSTREAM_CIRCUIT_OPEN = Gauge(
    "bff_upstream_circuit_open",
    "1 while the circuit breaker of an operation class is open, else 0.",
    ["operation_class"],
)
TOKEN_REFRESHES = Counter(
    "bff_instacart_token_refreshes_total",
    "Instacart access-token requests made by this process, by result.",
    ["result"],
)

CACHE_REQUESTS = Counter(
    "bff_cache_requests_total",
    "Shared cache look-ups, by cache and result (hit, miss, stale, coalesced, bypass).",
    ["cache", "result"],
)

SLOT_PREVIEWS = Counter(
    "bff_slot_previews_total",
    "Slot preview requests that reached the catalog, by fulfillment.",
    ["fulfillment"],
)
SLOT_PREVIEW_UPSTREAM_WAITS = Counter(
    "bff_slot_preview_upstream_waits_total",
    "Slot preview requests that waited on Instacart (a cache miss, a load they joined, Redis "
    "down, last mile), by fulfillment.",
    ["fulfillment"],
)

ORDERS_PLACED = Counter(
    "bff_orders_total",
    "Order placements, by outcome (created, failed, unknown, replayed, reconciled, adopted).",
    ["outcome"],
)

ORDER_TRANSITIONS = Counter(
    "bff_order_transitions_total",
    "Writes of order state, by transition, actor and result (applied, refused: the guard in "
    "SQL found the row in another state, attempt or lease than the actor expected).",
    ["transition", "actor", "result"],
)

CALLBACKS = Counter(
    "bff_callbacks_total",
    "Instacart callbacks, by event (the status it names, or other) and result (applied, "
    "duplicate, stale, unknown_order, unknown_event, deferred, unauthorized, clamped).",
    ["event", "result"],
)

RECONCILE_BACKLOG = Gauge(
    "bff_reconcile_backlog",
    "What the last reconciler round found waiting, by kind: placements (unresolved, past the "
    "grace period, no live lease) and callbacks (stored, not applied, past the retry delay).",
    ["kind"],
)

FOLLOW_UPS = Counter(
    "bff_order_follow_ups_total",
    "Orders in flight looked up by the reconciler for want of news, by result (changed, "
    "unchanged, failed).",
    ["result"],
)

EVENT_STREAMS_OPEN = Gauge(
    "bff_event_streams_open",
    "Order event streams (Server-Sent Events) this process holds open.",
)

UPSTREAM_IN_FLIGHT = Gauge(
    "bff_upstream_in_flight",
    "Requests to Instacart holding or waiting for a connection, by pool (create, default).",
    ["pool"],
)

UPSTREAM_POOL_SIZE = Gauge(
    "bff_upstream_pool_connections",
    "The connection limit of each pool to Instacart (saturation = in flight / this).",
    ["pool"],
)

UPSTREAM_POOL_EXHAUSTED = Counter(
    "bff_upstream_pool_exhausted_total",
    "Requests refused with 503 because no connection of the pool came free within the wait.",
    ["pool"],
)

DEPENDENCY_UP = Gauge(
    "bff_dependency_up",
    "Whether a dependency answered its last health check (1) or not (0): postgres, redis. "
    "Reported by /readyz and /healthz/dependencies; readiness does not depend on it.",
    ["dependency"],
)

ADMISSION_IN_FLIGHT = Gauge(
    "bff_admission_in_flight",
    "Storefront API requests in progress in this process (event streams excepted).",
)

ADMISSION_REFUSED = Counter(
    "bff_admission_refused_total",
    "Storefront API requests refused 503 over_capacity before any work, by reason (in_flight: "
    "BFF_ADMISSION_MAX_IN_FLIGHT reached; loop_lag: the event loop past its budget; "
    "loop_busy: its thread busier than BFF_ADMISSION_LOOP_BUSY_PERCENT).",
    ["reason"],
)
