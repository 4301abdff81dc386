"""Operational endpoints: liveness, readiness and Prometheus metrics."""

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
    except Exception as exc:  # any failure means "not ready"; the kind is enough for operators
        return name, f"failed: {type(exc).__name__}"
    return name, "ok"


@router.get(
    "/readyz",
    operation_id="ops-readyz",
    response_model=Health,
    responses={503: {"model": Health, "description": "Not ready: draining or a dependency down"}},
)
async def readyz(request: Request, response: Response) -> Health:
    """Ready when Postgres and Redis answer quickly and the process is not draining."""
    state = state_of(request.app)
    timeout = state.settings.readiness_timeout_seconds

    async def ping_postgres() -> None:
        async with state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    results = dict(
        await asyncio.gather(
            _check("postgres", ping_postgres, timeout),
            _check("redis", lambda: ping_redis(state.redis), timeout),
        )
    )
    ready = all(v == "ok" for v in results.values()) and not state.lifecycle.draining
    if state.lifecycle.draining:
        results["lifecycle"] = "draining"
    response.status_code = 200 if ready else 503
    return Health(status="ok" if ready else "unavailable", checks=results)


@router.get("/metrics", operation_id="ops-metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    if settings_of(request.app).metrics_port is not None:
        # Served on its own port (BFF_METRICS_PORT); the public port never shows it.
        raise NotFound("not found")
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
