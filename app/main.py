"""The app factory: routers, middleware and error handlers around the one lifespan."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import stamina
import structlog
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from app.api_reference import new_app
from app.authenticate_first import AuthenticateFirst
from app.callbacks.routes import router as callbacks_router
from app.lifespan import Lifecycle, lifespan
from app.live_status.routes import router as live_status_router
from app.ops.error_reference import router as errors_router
from app.ops.index import router as index_router
from app.ops.routes import router as ops_router
from app.orders.routes import router as orders_router
from app.orders.routes import staff_router
from app.platform.admission import AdmissionControl
from app.platform.logging import configure_logging
from app.platform.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from app.platform.problem_docs import problem_media_types
from app.platform.problems import install_error_handlers
from app.reservations.routes import router as reservations_router
from app.settings import Settings
from app.stores.fast_lane import SlotFastLane
from app.stores.routes import router as stores_router

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

log = structlog.get_logger("app.main")


def create_app(
    settings: Settings | None = None,
    *,
    instacart_transport: httpx.AsyncBaseTransport | None = None,
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """Build the service. No I/O happens here; the lifespan opens connections.

    ``instacart_transport`` lets tests and demos talk to the sandbox in-process. What is not
    configured is embedded when the lifespan starts (app/lifespan.py, app/dev/).
    ``tracer_provider`` traces with that provider (tests); otherwise the OTEL_* environment
    decides (app/platform/tracing.py).
    """
    settings = settings or Settings()
    configure_logging(settings)
    # The client logs and counts its own retries (with the operation); stamina's default hooks
    # would add a second log line carrying the exception text, and a second counter.
    stamina.instrumentation.set_on_retry_hooks(())

    # Production serves no interactive documentation: the document is published with the
    # storefront clients (openapi/bff.json), not by every replica on the public port.
    app = new_app(public_docs=settings.environment != "production", lifespan=lifespan)
    app.state.instacart_transport = instacart_transport
    app.state.tracer_provider = tracer_provider
    app.state.settings = settings
    app.state.lifecycle = Lifecycle()
    app.state.demo_path = None

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problem_media_types(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI documents this override
    install_error_handlers(app)
    app.include_router(index_router)
    app.include_router(ops_router)
    app.include_router(errors_router)
    app.include_router(stores_router)
    app.include_router(reservations_router)
    app.include_router(orders_router)
    app.include_router(staff_router)
    app.include_router(live_status_router)
    app.include_router(callbacks_router)
    # The demo storefront (README, "Demo storefront") hands out tokens for any user: only where
    # tokens are signed with a development secret anyone can have, never beside a real one.
    if settings.environment != "production" and settings.uses_development_secret:
        from app.dev.demo import router as demo_router  # production never loads development mode

        app.include_router(demo_router)
        app.state.demo_path = demo_router.prefix  # where GET / sends a browser
    # Innermost: inside CORS, the body cap and the request context, like any route.
    app.add_middleware(SlotFastLane, fastapi_app=app)
    # Before anything is read or parsed, but after the request id (a refusal carries one too).
    app.add_middleware(AuthenticateFirst, fastapi_app=app)
    app.add_middleware(
        AdmissionControl,
        max_in_flight=settings.admission_max_in_flight,
        lag_budget_seconds=settings.admission_lag_budget_ms / 1000,
        busy_budget=settings.admission_loop_busy_percent / 100,
        loop=app.state.lifecycle.loop_load,
    )
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
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        read_timeout_seconds=settings.body_read_timeout_seconds,
    )
    app.add_middleware(RequestContextMiddleware, access_log_enabled=settings.access_log)
    return app
