"""The one lifespan: every long-lived resource is built here once, handed to the app as one
frozen, typed `State`, and closed in reverse order.

Routers and middleware read the state through `state_of(app)`; nothing else is kept on the
app. Development mode (app/dev/) is imported only when a part is left unconfigured outside
production: production's settings refuse to leave one out, so it never loads.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import httpx
import structlog
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.auth.tokens import TokenVerifier
from app.callbacks.inbox import CallbackApplier, CallbackInbox
from app.callbacks.token_server import CallbackTokens
from app.instacart.client import InstacartClient
from app.instacart.policy import BreakerConfig, create_deadlines
from app.live_status.fan_out import OrderEventsFanOut
from app.live_status.streams import OrderStreams, StreamTimings
from app.live_status.tickets import StreamTickets
from app.orders.events import OrderEvents
from app.orders.reconciler import Reconciler, run_periodically
from app.platform.admission import LoopLoad
from app.platform.connections import build_engine, build_redis
from app.platform.database.session import build_sessionmaker
from app.platform.pool_gauges import pools_watched
from app.platform.rate_limits import RateLimiter
from app.platform.tracing import Tracing
from app.services import CheckoutServices, build_services, rate_limiter
from app.settings import Settings
from app.stores.directory import ListedStore, read_store_list

if TYPE_CHECKING:
    from app.dev.embedded import DevelopmentMode

log = structlog.get_logger("app.lifespan")


@dataclass(slots=True)
class Lifecycle:
    """Whether the process is draining, and how late and how busy its event loop runs: made with
    the app (a signal may come before start-up ends, admission control reads the load from the
    first request), told by the server and the lifespan."""

    draining: bool = False
    loop_load: LoopLoad = field(default_factory=LoopLoad)
    _on_drain: list[Callable[[], None]] = field(default_factory=list)

    def on_drain(self, callback: Callable[[], None]) -> None:
        self._on_drain.append(callback)

    def begin_draining(self) -> None:
        self.draining = True
        for callback in self._on_drain:
            callback()


@dataclass(frozen=True, slots=True)
class State:
    """What the running service is made of; built by `lifespan`, read through `state_of`."""

    settings: Settings
    lifecycle: Lifecycle
    redis: Redis
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    instacart: InstacartClient
    verifier: TokenVerifier
    checkout: CheckoutServices
    callback_tokens: CallbackTokens
    callback_token_limiter: RateLimiter
    callback_inbox: CallbackInbox
    order_streams: OrderStreams
    stream_tickets: StreamTickets
    sandbox: FastAPI | None  # development mode's in-process Instacart, when embedded
    embedded: tuple[str, ...]  # the parts development mode runs in-process, if any


def state_of(app: FastAPI) -> State:
    """The running service's state; only valid inside the lifespan (as every request is)."""
    state: State = app.state.bff
    return state


def lifecycle_of(app: FastAPI) -> Lifecycle:
    lifecycle: Lifecycle = app.state.lifecycle
    return lifecycle


def settings_of(app: FastAPI) -> Settings:
    """The settings as served: before start-up the given ones, after it the resolved ones."""
    settings: Settings = app.state.settings
    return settings


def build_instacart_client(
    settings: Settings,
    redis: Redis,
    transport: httpx.AsyncBaseTransport | None = None,
) -> InstacartClient:
    """The process's one Instacart client, with the deadlines and breaker of the settings."""
    return InstacartClient.from_settings(
        settings,
        redis=redis,
        transport=transport,
        policies=create_deadlines(settings.instacart_create_deadline_seconds),
        breaker=BreakerConfig(
            failure_threshold=settings.instacart_breaker_failure_threshold,
            cooldown_seconds=settings.instacart_breaker_cooldown_seconds,
        ),
    )


def build_reconciler(
    settings: Settings,
    client: InstacartClient,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
) -> Reconciler:
    events = OrderEvents(redis, settings.cache_namespace)
    return Reconciler(
        client,
        sessions,
        grace_seconds=settings.reconcile_grace_seconds,
        lease_seconds=settings.placement_lease_seconds,
        events=events,
        callbacks=CallbackApplier(client, sessions, events),
        follow_up_after_seconds=settings.follow_up_after_seconds,
        follow_up_batch_size=settings.follow_up_batch_size,
        callback_retry_after_seconds=settings.callback_retry_after_seconds,
    )


async def development_mode(
    settings: Settings, instacart_transport: object = None
) -> DevelopmentMode | None:
    """The embedded parts for what the settings leave out; None when nothing is left out."""
    if settings.environment == "production":
        return None  # its settings refuse to leave anything out (app/settings.py)
    from app.dev.embedded import DevelopmentMode

    return await DevelopmentMode.start(settings, instacart_transport=instacart_transport)


def _token_verifier(settings: Settings, dev: DevelopmentMode | None) -> TokenVerifier:
    if settings.environment != "development":
        return TokenVerifier.from_settings(settings)
    # A development server's 401 for a bad signature says which secret it checks with.
    from app.dev.token_signing import development_verifier

    return development_verifier(settings, embedded=dev is not None and dev.parts.auth)


def open_redis(
    settings: Settings,
    dev: DevelopmentMode | None,
    *,
    max_connections: int | None = None,
    blocking: bool = True,
) -> Redis:
    if dev is not None and dev.parts.redis:
        in_process: Redis = dev.redis(max_connections=max_connections)
        return in_process
    # A Cluster client answers the same commands: the app is written against Redis's.
    return cast(Redis, build_redis(settings, max_connections=max_connections, blocking=blocking))


def open_engine(settings: Settings, dev: DevelopmentMode | None) -> AsyncEngine:
    if dev is not None and dev.parts.database:
        return dev.engine()
    return build_engine(settings)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open every long-lived resource, hand them to the app as one State, close in reverse."""
    settings = settings_of(app)
    transport: httpx.AsyncBaseTransport | None = app.state.instacart_transport
    dev = await development_mode(settings, transport)
    if dev is not None:
        # Readers of the settings (the demo) see the filled-in values: the SQLite URL, the secret.
        settings = app.state.settings = dev.settings
    async with AsyncExitStack() as stack:
        # First in, last out: spans that end while the rest closes are still exported.
        tracing = Tracing.start(app.state.tracer_provider)
        if tracing is not None:
            stack.push_async_callback(tracing.aclose)
        redis = open_redis(settings, dev)
        stack.push_async_callback(redis.aclose)
        engine = open_engine(settings, dev)
        stack.push_async_callback(engine.dispose)
        stack.enter_context(pools_watched(engine, redis))
        sessions = build_sessionmaker(engine)
        sandbox = dev.sandbox(app) if dev is not None and dev.parts.instacart else None
        if sandbox is not None:
            transport = httpx.ASGITransport(app=sandbox)
        instacart = build_instacart_client(settings, redis, transport)
        stack.push_async_callback(instacart.aclose)
        verifier = _token_verifier(settings, dev)
        stack.push_async_callback(verifier.aclose)
        checkout = build_services(
            settings,
            redis=redis,
            sessions=sessions,
            client=instacart,
            store_list=_store_list(settings, dev),
        )
        stack.push_async_callback(checkout.aclose)
        inbox = CallbackInbox(sessions, CallbackApplier(instacart, sessions, checkout.events))
        stack.push_async_callback(inbox.aclose)
        # The process's streams share one pub/sub connection, held for the process's life: a
        # client of its own, so that it never takes a place in the cache's and locks' pool.
        stream_redis = open_redis(settings, dev, max_connections=2, blocking=False)
        stack.push_async_callback(stream_redis.aclose)
        fan_out = OrderEventsFanOut(
            stream_redis, OrderEvents(redis, settings.cache_namespace).channel
        )
        fan_out.start()
        stack.push_async_callback(fan_out.aclose)
        lifecycle = lifecycle_of(app)
        lifecycle.loop_load.start()
        stack.push_async_callback(lifecycle.loop_load.aclose)
        order_streams = _order_streams(settings, fan_out, sessions)
        lifecycle.on_drain(order_streams.begin_shutdown)
        app.state.bff = State(
            settings=settings,
            lifecycle=lifecycle,
            redis=redis,
            engine=engine,
            sessions=sessions,
            instacart=instacart,
            verifier=verifier,
            checkout=checkout,
            callback_tokens=_callback_tokens(settings, redis),
            callback_token_limiter=rate_limiter(
                redis, settings, "callback-tokens", settings.rate_limit_callback_tokens_per_minute
            ),
            callback_inbox=inbox,
            order_streams=order_streams,
            stream_tickets=StreamTickets(
                redis,
                settings.cache_namespace,
                settings.stream_ticket_ttl_seconds,
                limiter=rate_limiter(
                    redis, settings, "stream-tickets", settings.rate_limit_stream_tickets_per_minute
                ),
            ),
            sandbox=sandbox,
            embedded=tuple(dev.parts.names) if dev is not None else (),
        )
        if tracing is not None:
            _instrument(tracing, app, redis, engine, instacart)
        if settings.reconciler_enabled:
            task = asyncio.create_task(
                run_periodically(
                    build_reconciler(settings, instacart, sessions, redis),
                    redis,
                    lock_key=f"{settings.cache_namespace}:reconciler:lock",
                    interval_seconds=settings.reconcile_interval_seconds,
                )
            )
            stack.push_async_callback(_cancel, task)
        if sandbox is not None:
            # Last in, first out: its timer and callbacks stop before what they call closes.
            await stack.enter_async_context(sandbox.router.lifespan_context(sandbox))
        if settings.environment == "production" and not (
            settings.auth_issuer and settings.auth_audience
        ):
            # Allowed only by BFF_AUTH_ALLOW_ANY_ISSUER_OR_AUDIENCE: said at every start.
            log.warning("auth.issuer_or_audience_unchecked")
        log.info(
            "app.started", environment=settings.environment, embedded=list(state_of(app).embedded)
        )
        try:
            yield
        finally:
            # Readiness answers 503 from here on so the ingress stops routing to us.
            lifecycle.draining = True
            log.info("app.stopping")


def _instrument(
    tracing: Tracing, app: FastAPI, redis: Redis, engine: AsyncEngine, instacart: InstacartClient
) -> None:
    """Spans for requests, SQL, Redis and Instacart calls (app/platform/tracing.py)."""
    tracing.instrument_redis(redis)
    tracing.instrument_engine(engine)
    # The client's two pools, one httpx client each (not the shards inside them, which would
    # give each request two spans): instacart/ knows nothing of tracing, and the traceparent
    # header is added by this instrumentation.
    tracing.instrument_httpx(*instacart.http_clients)
    tracing.instrument_app(app)


def _store_list(settings: Settings, dev: DevelopmentMode | None) -> dict[str, ListedStore] | None:
    """The retailer's stores: the configured file, else the embedded sandbox's (whose stores
    are all there are), else unknown."""
    if settings.stores_file is not None:
        return read_store_list(settings.stores_file)
    if dev is not None and dev.parts.instacart:
        return dev.store_list()
    return None


def _callback_tokens(settings: Settings, redis: Redis) -> CallbackTokens:
    return CallbackTokens(
        redis,
        namespace=settings.cache_namespace,
        client_id=settings.callback_client_id,
        client_secret=settings.callback_client_secret,
        ttl_seconds=settings.callback_token_ttl_seconds,
    )


def _order_streams(
    settings: Settings, fan_out: OrderEventsFanOut, sessions: async_sessionmaker[AsyncSession]
) -> OrderStreams:
    return OrderStreams(
        fan_out,
        sessions,
        StreamTimings(
            heartbeat_seconds=settings.event_stream_heartbeat_seconds,
            max_seconds=settings.event_stream_max_seconds,
            poll_seconds=settings.event_stream_poll_seconds,
            recheck_seconds=settings.event_stream_recheck_seconds,
        ),
        max_per_user=settings.event_stream_max_per_user,
        max_per_order=settings.event_stream_max_per_order,
    )


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
