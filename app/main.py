"""The app factory and the lifespan that owns every long-lived resource."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import redis.asyncio as redis
import structlog
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.api import ops
from app.logging import configure_logging
from app.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from app.problems import install_error_handlers
from app.settings import Settings

log = structlog.get_logger("app.main")


def build_redis(settings: Settings) -> redis.Redis:
    """A Redis client over a sized *blocking* pool with timeouts on every step."""
    pool = redis.BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_pool_timeout_seconds,
        socket_timeout=settings.redis_socket_timeout_seconds,
        socket_connect_timeout=settings.redis_socket_timeout_seconds,
    )
    return redis.Redis(connection_pool=pool)


def build_engine(settings: Settings) -> AsyncEngine:
    return create_async_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size,
        pool_pre_ping=True,
        pool_timeout=5,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service. No I/O happens here; the lifespan opens connections."""
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            app.state.draining = False
            app.state.redis = build_redis(settings)
            stack.push_async_callback(app.state.redis.aclose)
            app.state.engine = build_engine(settings)
            stack.push_async_callback(app.state.engine.dispose)
            log.info("app.started", environment=settings.environment)
            try:
                yield
            finally:
                # Readiness answers 503 from here on so the ingress stops routing to us.
                app.state.draining = True
                log.info("app.stopping")

    app = FastAPI(
        title="Checkout BFF for Instacart Connect",
        version="1.0.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(ops.router)
    # Added last, so it runs first: every response, errors included, carries the request id.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware)
    return app
