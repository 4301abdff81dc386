"""The app factory and the lifespan that owns every long-lived resource."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import stamina
import structlog
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.middleware.cors import CORSMiddleware

from app.auth.tokens import TokenVerifier
from app.callbacks.inbox import CallbackApplier, CallbackInbox
from app.callbacks.routes import router as callbacks_router
from app.callbacks.token_server import CallbackTokens
from app.dev.demo import router as demo_router
from app.dev.embedded import EmbeddedParts, build_sandbox, log_single_process_mode, migrate, resolve
from app.instacart.client import InstacartClient
from app.instacart.policy import BreakerConfig, create_deadlines
from app.live_status.routes import router as live_status_router
from app.ops.routes import router as ops_router
from app.orders.events import OrderEvents
from app.orders.reconciler import Reconciler, run_periodically
from app.orders.routes import router as orders_router
from app.orders.routes import staff_router
from app.platform.connections import build_engine, build_redis
from app.platform.database.session import build_sessionmaker
from app.platform.logging import configure_logging
from app.platform.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from app.platform.problem_docs import problem_media_types
from app.platform.problems import install_error_handlers
from app.platform.rate_limits import RateLimiter
from app.reservations.routes import router as reservations_router
from app.services import build_services
from app.settings import Settings
from app.stores.fast_lane import SlotFastLane
from app.stores.routes import router as stores_router

log = structlog.get_logger("app.main")


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


def _open_callbacks(
    app: FastAPI, settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """What Instacart's callbacks need: tokens for it, a limit on asking, and the inbox."""
    redis = app.state.redis
    app.state.callback_tokens = CallbackTokens(
        redis,
        namespace=settings.cache_namespace,
        client_id=settings.callback_client_id,
        client_secret=settings.callback_client_secret,
        ttl_seconds=settings.callback_token_ttl_seconds,
    )
    app.state.callback_token_limiter = RateLimiter(
        redis,
        "callback-tokens",
        settings.rate_limit_callback_tokens_per_minute,
        namespace=settings.cache_namespace,
    )
    applier = CallbackApplier(app.state.instacart, sessions, app.state.checkout.events)
    app.state.callback_inbox = CallbackInbox(sessions, applier)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open every long-lived resource, keep it in app state, close all in reverse order."""
    settings: Settings = app.state.settings
    instacart_transport = app.state.instacart_transport
    embedded = EmbeddedParts.of(settings, instacart_transport=instacart_transport)
    app.state.embedded = embedded
    if embedded:
        # Every reader of app.state.settings (routers' lifespans, the demo) sees the filled-in
        # values: the SQLite URL, the development secret.
        settings = app.state.settings = await asyncio.to_thread(resolve, settings, embedded)
        log_single_process_mode(embedded, settings)
        if embedded.database:
            await migrate(settings.database_url)
    async with AsyncExitStack() as stack:
        app.state.draining = False
        app.state.redis = build_redis(settings)
        stack.push_async_callback(app.state.redis.aclose)
        app.state.engine = build_engine(settings)
        stack.push_async_callback(app.state.engine.dispose)
        sessions = build_sessionmaker(app.state.engine)
        sandbox = build_sandbox(settings, app) if embedded.instacart else None
        if sandbox is not None:
            instacart_transport = httpx.ASGITransport(app=sandbox)
            app.state.sandbox = sandbox
        app.state.instacart = build_instacart_client(settings, app.state.redis, instacart_transport)
        stack.push_async_callback(app.state.instacart.aclose)
        app.state.verifier = TokenVerifier.from_settings(settings)
        stack.push_async_callback(app.state.verifier.aclose)
        app.state.checkout = build_services(
            settings, redis=app.state.redis, sessions=sessions, client=app.state.instacart
        )
        stack.push_async_callback(app.state.checkout.aclose)
        _open_callbacks(app, settings, sessions)
        stack.push_async_callback(app.state.callback_inbox.aclose)
        if settings.reconciler_enabled:
            task = asyncio.create_task(
                run_periodically(
                    build_reconciler(settings, app.state.instacart, sessions, app.state.redis),
                    app.state.redis,
                    lock_key=f"{settings.cache_namespace}:reconciler:lock",
                    interval_seconds=settings.reconcile_interval_seconds,
                )
            )
            stack.push_async_callback(_cancel, task)
        if sandbox is not None:
            # Last in, first out: its timer and callbacks stop before what they call closes.
            await stack.enter_async_context(sandbox.router.lifespan_context(sandbox))
        log.info("app.started", environment=settings.environment, embedded=embedded.names)
        try:
            yield
        finally:
            # Readiness answers 503 from here on so the ingress stops routing to us.
            app.state.draining = True
            log.info("app.stopping")


def create_app(
    settings: Settings | None = None,
    *,
    instacart_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """Build the service. No I/O happens here; the lifespan opens connections.

    ``instacart_transport`` lets tests and demos talk to the sandbox in-process. What is not
    configured is embedded when the lifespan starts (app/dev/embedded.py).
    """
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_json)
    # The client logs and counts its own retries (with the operation); stamina's default hooks
    # would add a second log line carrying the exception text, and a second counter.
    stamina.instrumentation.set_on_retry_hooks(())

    app = FastAPI(
        title="Checkout BFF for Instacart Connect",
        version="1.0.0",
        lifespan=lifespan,
    )
    app.state.instacart_transport = instacart_transport
    app.state.settings = settings

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problem_media_types(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    install_error_handlers(app)
    app.include_router(ops_router)
    app.include_router(stores_router)
    app.include_router(reservations_router)
    app.include_router(orders_router)
    app.include_router(staff_router)
    app.include_router(live_status_router)
    app.include_router(callbacks_router)
    if settings.environment != "production":  # the demo storefront: README, "Demo storefront"
        app.include_router(demo_router)
    # Innermost: inside CORS, the body cap and the request context, like any route.
    app.add_middleware(SlotFastLane, fastapi_app=app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "If-None-Match",
                "X-Request-ID",
            ],
            expose_headers=["X-Request-ID", "ETag", "Retry-After", "Idempotent-Replayed"],
            max_age=600,
        )
    # Added last, so it runs first: every response, errors included, carries the request id.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware, access_log_enabled=settings.access_log)
    return app


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
