"""Operational endpoints: liveness, readiness, dependency health and Prometheus metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Literal

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from sqlalchemy import text

from app.lifespan import settings_of, state_of
from app.platform.connections import ping_redis
from app.platform.errors import NotFound
from app.platform.metrics import DEPENDENCY_UP
from app.platform.problem_docs import answer_example

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    """A probe's answer: for Kubernetes and operators, not for storefronts."""

    status: Literal["ok", "unavailable"] = Field(description="The probe's verdict.")
    checks: dict[str, str] = Field(
        default={},
        description="Each dependency (`postgres`, `redis`) and `ok` or `failed: <kind>`; "
        "`lifecycle: draining` while the process stops.",
    )


_HEALTHY = Health(status="ok", checks={"postgres": "ok", "redis": "ok"})
_DRAINING = Health(status="unavailable", checks={**_HEALTHY.checks, "lifecycle": "draining"})
_REDIS_DOWN = Health(
    status="unavailable", checks={"postgres": "ok", "redis": "failed: ConnectionError"}
)


@router.get(
    "/livez",
    operation_id="ops-livez",
    response_model=Health,
    responses={200: answer_example(Health(status="ok"), "Alive")},
    summary="Liveness probe",
)
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
    responses={
        200: answer_example(_HEALTHY, "Ready"),
        503: {"model": Health} | answer_example(_DRAINING, "Not ready: the process is draining"),
    },
    summary="Readiness probe",
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
    responses={
        200: answer_example(_HEALTHY, "Postgres and Redis answer"),
        503: {"model": Health} | answer_example(_REDIS_DOWN, "A dependency does not answer"),
    },
    summary="Whether Postgres and Redis answer",
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
