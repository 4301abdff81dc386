"""Serving the app with granian, and stopping it gracefully.

Granian rather than uvicorn: on the slot preview, the hottest request, it served 1.3 to 3.2
times uvicorn's requests per second on one core, with about a third of its p99 (README, "Hot
path"). It runs embedded (granian calls that mode experimental), in this process's event loop,
so that the signal handling below keeps the app's state in reach.

On SIGTERM (Kubernetes stopping the pod) or Ctrl-C the service, in this order:
1. fails readiness at once (`/readyz` answers 503), so the ingress stops sending it requests;
2. keeps serving for `shutdown_drain_seconds` (0 by default: the pod's preStop pause does this
   job; set it where nothing else delays the signal);
3. stops accepting connections, tells open event streams to end (browsers reconnect to another
   replica with Last-Event-ID), and lets requests in flight finish, an order placement included,
   for up to `shutdown_timeout_seconds` (keep it below the pod's grace period);
4. closes its clients in the lifespan, in reverse order of opening.
A second signal stops at once.

Before it listens, `serve` refuses to start, with one line and status 1, what could only fail
later: invalid settings, a busy port, and token keys it cannot have (a JWKS URL whose keys do
not come within BFF_AUTH_JWKS_STARTUP_DEADLINE_SECONDS).
"""

from __future__ import annotations

import asyncio
import gc
import signal
import socket
from typing import Any

import structlog
import uvloop
from fastapi import FastAPI
from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings
from granian.log import LogLevels
from granian.server.embed import Server
from prometheus_client import start_http_server
from starlette.types import ASGIApp

from app.auth.jwks import JWKSUnavailable
from app.auth.tokens import AuthConfigError, TokenVerifier
from app.lifespan import lifecycle_of
from app.main import create_app
from app.platform.logging import (
    configure_logging,
    granian_log_config,
    skip_unrendered_record_fields,
)
from app.settings import Settings, SettingsError, load_settings
from app.stores.directory import read_store_list
from app.stores.fast_lane import with_hot_previews

log = structlog.get_logger("app.serve")


def freeze_startup_objects() -> None:
    """Keep what start-up built (modules, the app, its clients) out of every later collection.

    Requests in flight outlive young collections, so the collector kept promoting them and
    ran a full collection every second or two under load, each walking the ~140,000 objects
    of the started app: 150 to 240 ms with every request stopped, the whole of the slot
    preview's p99 at 64 connections. Frozen, a full collection walks only what came since.
    """
    gc.collect()
    gc.freeze()


def frozen_after_startup(app: ASGIApp) -> Any:
    """``app``, with start-up's objects frozen once its lifespan has started."""

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return

        async def send_frozen(message: Any) -> None:
            if message["type"] == "lifespan.startup.complete":
                freeze_startup_objects()
            await send(message)

        await app(scope, receive, send_frozen)

    return asgi


class GracefulStop:
    """The signal handling of steps 1 to 3 above, around a running granian server."""

    def __init__(self, server: Server, app: FastAPI, settings: Settings) -> None:
        self.server = server
        self.app = app
        self.drain_seconds = settings.shutdown_drain_seconds
        self.timeout_seconds = settings.shutdown_timeout_seconds
        self._stopping = False

    def handle(self, sig: int) -> None:
        if self._stopping:  # a second signal: stop now (Ctrl-C twice forces)
            for worker in self.server.wrks:
                worker.kill()  # type: ignore[no-untyped-call]  # unannotated in granian
            self.server.stop()  # type: ignore[no-untyped-call]  # unannotated in granian
            return
        self._stopping = True
        lifecycle_of(self.app).begin_draining()
        log.info("app.draining", signal=sig, drain_seconds=self.drain_seconds)
        asyncio.get_running_loop().call_later(max(self.drain_seconds, 0), self.server.stop)


async def _serve(server: Server, stop: GracefulStop) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.handle, sig)
    await server.serve()


class StartupError(Exception):
    """The service cannot start; the message says why in one line, naming what to change."""


def port_is_free(host: str, port: int) -> bool:
    """Whether `host:port` can be bound by a listener that shares it with nobody.

    Granian binds with SO_REUSEPORT, so a second server on a busy port would start and split
    the traffic with the first; a plain bind tells the two apart."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def signing_keys_problem(settings: Settings) -> str | None:
    """Why tokens could not be checked at all, or None: settings no verifier can be built from,
    or a JWKS URL whose keys could not be fetched within the start-up deadline.

    A replica without keys would start, pass its probes and refuse every request; exiting
    instead lets the orchestrator restart it with a back-off, while the replicas already
    running keep the keys they hold (docs/production.md, "Starting")."""
    if settings.auth_jwt_secret is None and settings.auth_jwks_url is None:
        return None  # development mode: its secret is generated when it starts
    try:
        verifier = TokenVerifier.from_settings(settings)
    except AuthConfigError as exc:
        return str(exc)
    jwks = verifier.jwks
    if jwks is None:
        return None

    async def wait() -> None:
        try:
            await jwks.wait_for_keys(settings.auth_jwks_startup_deadline_seconds)
        finally:
            await verifier.aclose()

    try:
        asyncio.run(wait())
    except JWKSUnavailable as exc:
        return f"{exc}; check BFF_AUTH_JWKS_URL (BFF_AUTH_JWKS_STARTUP_DEADLINE_SECONDS: how long)"
    return None


def serve(host: str, port: int) -> None:
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise StartupError(str(exc)) from None
    if settings.environment != "production":
        # production never loads it
        from app.dev.embedded import data_folder_problem, missing_packages_problem

        if problem := missing_packages_problem(settings) or data_folder_problem(settings):
            raise StartupError(problem)
    if settings.stores_file is not None:
        try:
            read_store_list(settings.stores_file)  # read again by the lifespan; here, one line
        except ValueError as exc:
            raise StartupError(str(exc)) from None
    if not port_is_free(host, port):
        raise StartupError(f"port {port} on {host} is already in use (BFF_PORT chooses another)")
    if settings.metrics_port is not None and not port_is_free(host, settings.metrics_port):
        raise StartupError(f"the metrics port {settings.metrics_port} is already in use")
    # The fetch attempts of the wait below are logged as the service logs (stderr).
    configure_logging(settings)
    if problem := signing_keys_problem(settings):
        raise StartupError(problem)
    if settings.metrics_port is not None:
        # prometheus-client's own server, in a thread: the scrape never waits on the app.
        start_http_server(settings.metrics_port, addr=host)
    skip_unrendered_record_fields()
    app = create_app(settings)
    server = Server(
        # Hot slot previews first, before even FastAPI's own per-request work.
        frozen_after_startup(with_hot_previews(app)),
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        # HTTP/1.1 only, as the ingress speaks to it: the automatic mode first sniffs a new
        # connection for HTTP/2's preface with no time limit, so a client that connects and
        # sends nothing was held for good. HTTP/1's header read timeout covers that wait.
        http=HTTPModes.http1,
        # Granian's own lines (start, listening, stop, errors) join the service's log stream at
        # the service's level (notset: the root logger's), not its stdout in a format of its own.
        log_level=LogLevels.notset,
        log_dictconfig=granian_log_config(),
        log_access=False,
        # Granian's defaults (a backlog of 128, and as many requests in progress) cap a replica
        # at about 256 connections, idle keep-alive ones included: a burst of a thousand
        # customers then waits on connect for tens of seconds. Both are settings.
        backlog=settings.server_backlog,
        backpressure=settings.server_max_concurrent_requests,
        # The server (hyper) starts this timer whenever a connection waits for a request: it
        # bounds a new connection that sends nothing, an idle keep-alive one between requests
        # and one that trickles its headers alike. Granian has no other idle timeout.
        http1_settings=HTTP1Settings(
            header_read_timeout=int(settings.header_read_timeout_seconds * 1000)
        ),
    )
    # In-flight requests get this long once the server stops accepting; then they are cut.
    server.workers_kill_timeout = max(1, int(settings.shutdown_timeout_seconds))
    stop = GracefulStop(server, app, settings)
    # One process per pod: replicas scale out, not workers in.
    uvloop.run(_serve(server, stop))
