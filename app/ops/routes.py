"""Operational endpoints: liveness, readiness, dependency health and Prometheus metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text

from app.lifespan import settings_of, state_of
from app.platform.connections import ping_redis
from app.platform.errors import NotFound
from app.platform.metrics import DEPENDENCY_UP

router = APIRouter(tags=["ops"])


class Health(BaseModel):
    status: str
    checks: dict[str, str] = {}


@router.get("/livez", operation_id="ops-livez", response_model=Health)
async def livez() -> Health:
    """The process is alive; no I/O, so a slow dependency never gets the pod killed."""
    return Health(status="ok")


async def _check(
    name: str, probe: Callable[[], Awaitable[object]], limit_seconds: float
) -> tuple[str, str]:
    try:
        async with asyncio.timeout(limit_seconds):
            await probe()
    except Exception as exc:  # any failure means "down"; the kind is enough for operators
        DEPENDENCY_UP.labels(name).set(0)
        return name, f"failed: {type(exc).__name__}"
    DEPENDENCY_UP.labels(name).set(1)
    return name, "ok"


async def _dependencies(request: Request) -> dict[str, str]:
    state = state_of(request.app)
    timeout = state.settings.readiness_timeout_seconds

    async def ping_postgres() -> None:
        async with state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    return dict(
        await asyncio.gather(
            _check("postgres", ping_postgres, timeout),
            _check("redis", lambda: ping_redis(state.redis), timeout),
        )
    )


@router.get(
    "/readyz",
    operation_id="ops-readyz",
    response_model=Health,
    responses={503: {"model": Health, "description": "Not ready: the process is draining"}},
)
async def readyz(request: Request, response: Response) -> Health:
    """Ready while the process serves and is not draining. Postgres and Redis are reported in
    the body but decide nothing: the service degrades without either (slot previews need
    neither, orders answer 503 without Postgres), and a blip of a shared dependency must not
    take every replica out of the load balancer at once."""
    results = await _dependencies(request)
    if state_of(request.app).lifecycle.draining:
        results["lifecycle"] = "draining"
        response.status_code = 503
        return Health(status="unavailable", checks=results)
    return Health(status="ok", checks=results)


@router.get(
    "/healthz/dependencies",
    operation_id="ops-dependencies",
    response_model=Health,
    responses={503: {"model": Health, "description": "A dependency does not answer"}},
)
async def dependencies(request: Request, response: Response) -> Health:
    """Whether Postgres and Redis answer, for operators and alerts (never for routing)."""
    results = await _dependencies(request)
    healthy = all(value == "ok" for value in results.values())
    response.status_code = 200 if healthy else 503
    return Health(status="ok" if healthy else "unavailable", checks=results)


@router.get("/metrics", operation_id="ops-metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    if settings_of(request.app).metrics_port is not None:
        # Served on its own port (BFF_METRICS_PORT); the public port never shows it.
        raise NotFound("not found")
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
