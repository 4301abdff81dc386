"""The sandbox's app factory: its state, its routers and the handlers that render refusals.

The lifespan starts the auto-advance timer, if configured, and at shutdown stops it and then
the callback sender, so that no task outlives the server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from sandbox.auto_advance import AutoAdvance
from sandbox.callbacks import CallbackSender
from sandbox.config import SandboxConfig
from sandbox.faults import Faults
from sandbox.http import install_error_handlers
from sandbox.routes import control, oauth, orders, service_options, stores
from sandbox.state import SandboxState


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    timer: AutoAdvance | None = app.state.auto_advance
    if timer is not None:
        timer.start()
    try:
        yield
    finally:
        if timer is not None:
            await timer.stop()
        sender: CallbackSender | None = app.state.callbacks
        if sender is not None:
            await sender.stop()


def create_sandbox_app(config: SandboxConfig | None = None) -> FastAPI:
    """A new sandbox with its own state, ready for uvicorn or `httpx.ASGITransport`."""
    config = config or SandboxConfig()
    state = SandboxState(config)
    app = FastAPI(
        title="Instacart Connect sandbox",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.config = config
    app.state.sandbox = state
    faults = Faults(config.seed, config.default_hang_seconds)
    app.state.faults = faults
    # callbacks start with the first status change, so in-process tests need no lifespan
    app.state.callbacks = CallbackSender(config, state, faults) if config.callback_url else None
    # the timer runs only under a lifespan (uvicorn); in-process tests call its tick()
    seconds = config.auto_advance_seconds
    app.state.auto_advance = AutoAdvance(state, seconds) if seconds else None
    install_error_handlers(app)
    for module in (oauth, stores, service_options, orders, control):
        app.include_router(module.router)
    return app
