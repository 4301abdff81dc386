"""Every Prometheus metric of the service, defined once."""

from __future__ import annotations

from typing import Any, TypeVar

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

_Metric = TypeVar("_Metric", bound=MetricWrapperBase)
# (metric, label values) -> its child. `.labels()` checks, stringifies and locks on every call;
# on the per-request path a dictionary lookup does. The keys are the series themselves, as
# bounded as the metric's labels are.
_CHILDREN: dict[tuple[Any, ...], Any] = {}


def labelled(metric: _Metric, *values: object) -> _Metric:
    """``metric.labels(*values)``, remembered: for label values that recur on hot paths."""
    key = (metric, *values)
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN[key] = metric.labels(*(str(v) for v in values))
    return child


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
    "What the reconciler finds waiting, measured on every replica each interval, by kind: "
    "placements (unresolved, past the grace period, no live lease) and callbacks (stored, not "
    "applied, past the retry delay).",
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

# The process's own pools (app/platform/pool_gauges.py): the gauges read from the pools when
# Prometheus scrapes, the timeouts counted as they happen. Each replica has its own pools, so
# saturation is in use / connections per pod.
DATABASE_POOL_CONNECTIONS = Gauge(
    "bff_database_pool_connections",
    "The most connections the Postgres pool opens: BFF_DATABASE_POOL_SIZE plus as many in "
    "overflow (saturation = in use / this).",
)
DATABASE_POOL_OPEN = Gauge(
    "bff_database_pool_open",
    "Connections the Postgres pool holds open, idle or in use (those past the pool size are "
    "overflow, closed when given back).",
)
DATABASE_POOL_IN_USE = Gauge(
    "bff_database_pool_in_use",
    "Postgres connections checked out of the pool; past the limit a caller waits up to 5 s, "
    "then is answered 503.",
)
DATABASE_POOL_WAITING = Gauge(
    "bff_database_pool_waiting",
    "Callers waiting for a Postgres connection to come free (the pool at its limit).",
)
DATABASE_POOL_TIMEOUTS = Counter(
    "bff_database_pool_timeouts_total",
    "Waits for a Postgres connection that ran out (5 s): the caller fails, a request with 503.",
)
REDIS_POOL_CONNECTIONS = Gauge(
    "bff_redis_pool_connections",
    "The connection limit of the Redis pool of commands (BFF_REDIS_MAX_CONNECTIONS; on a "
    "Redis Cluster, per node).",
)
REDIS_POOL_OPEN = Gauge(
    "bff_redis_pool_open",
    "Connections the Redis pool of commands holds open, idle or in use (on a Redis Cluster, "
    "those of its busiest node).",
)
REDIS_POOL_IN_USE = Gauge(
    "bff_redis_pool_in_use",
    "Redis connections in use by commands; past the limit a caller waits up to "
    "BFF_REDIS_POOL_TIMEOUT_SECONDS, then Redis counts as down (on a Redis Cluster, the "
    "busiest node's).",
)

# Set by every replica's reconciler loop, each interval, from one indexed query.
PLACEMENTS_UNRESOLVED_OLDEST_AGE = Gauge(
    "bff_placements_unresolved_oldest_age_seconds",
    "Age of the oldest placement still pending or unknown (0 when there is none), as this "
    "replica last measured it, every BFF_RECONCILE_INTERVAL_SECONDS.",
)
RECONCILE_GRACE = Gauge(
    "bff_reconcile_grace_seconds",
    "BFF_RECONCILE_GRACE_SECONDS: how long an unresolved placement is left alone before the "
    "reconciler looks it up (the unresolved-placements alert compares ages with it).",
)
