"""The service's operational surface: health, metrics, request ids and problem+json."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.main import create_app


async def test_livez_answers_without_io(bff: httpx.AsyncClient) -> None:
    response = await bff.get("/livez")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_readyz_checks_postgres_and_redis(bff: httpx.AsyncClient) -> None:
    response = await bff.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"postgres": "ok", "redis": "ok"}


@pytest.mark.parametrize(
    ("dependency", "override"),
    [
        ("redis", {"redis_url": "redis://127.0.0.1:1/0"}),
        ("postgres", {"database_url": "postgresql+asyncpg://postgres@127.0.0.1:1/postgres"}),
    ],
)
async def test_a_dependency_down_is_reported_but_the_process_stays_ready(
    make_settings: Any, dependency: str, override: dict[str, str]
) -> None:
    app = create_app(make_settings(**override))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            ready = await client.get("/readyz")
            health = await client.get("/healthz/dependencies")
            scrape = (await client.get("/metrics")).text
    assert ready.status_code == 200
    assert ready.json()["checks"][dependency].startswith("failed")
    assert health.status_code == 503
    assert health.json()["checks"][dependency].startswith("failed")
    assert f'bff_dependency_up{{dependency="{dependency}"}} 0.0' in scrape


async def test_metrics_exposes_server_and_upstream_families(bff: httpx.AsyncClient) -> None:
    await bff.get("/livez")
    response = await bff.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    body = response.text
    assert 'http_server_request_duration_seconds_count{method="GET",route="/livez"' in body
    assert "bff_upstream_request_duration_seconds" in body


async def test_request_id_is_echoed_when_sane(bff: httpx.AsyncClient) -> None:
    response = await bff.get("/livez", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"


async def test_request_id_is_replaced_when_not_sane(bff: httpx.AsyncClient) -> None:
    response = await bff.get("/livez", headers={"X-Request-ID": "bad id\twith spaces"})
    assert response.headers["x-request-id"] != "bad id\twith spaces"
    assert len(response.headers["x-request-id"]) == 32


async def test_generated_request_ids_are_128_random_bits_in_hex(bff: httpx.AsyncClient) -> None:
    ids = {(await bff.get("/livez")).headers["x-request-id"] for _ in range(20)}
    assert len(ids) == 20
    assert all(len(i) == 32 and set(i) <= set("0123456789abcdef") for i in ids)


async def test_unknown_route_is_problem_json_404(bff: httpx.AsyncClient) -> None:
    response = await bff.get("/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "not_found"
    assert body["status"] == 404
    assert body["request_id"] == response.headers["x-request-id"]


async def test_wrong_method_is_problem_json_405(bff: httpx.AsyncClient) -> None:
    response = await bff.post("/livez")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "method_not_allowed"


async def test_declared_oversized_body_is_413(bff: httpx.AsyncClient) -> None:
    response = await bff.post("/livez", content=b"x" * (70 * 1024))
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


async def test_streamed_oversized_body_is_413_for_a_route_that_reads_it() -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from app.platform.middleware import BodySizeLimitMiddleware

    async def echo(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(len(await request.body())))

    app = BodySizeLimitMiddleware(
        Starlette(routes=[Route("/echo", echo, methods=["POST"])]), max_bytes=4096
    )

    async def chunks():
        for _ in range(10):
            yield b"y" * 1024

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        small = await client.post("/echo", content=b"z" * 100)
        big = await client.post("/echo", content=chunks())
    assert small.text == "100"
    assert big.status_code == 413
    assert big.headers["content-type"] == "application/problem+json"


async def test_a_405_names_every_method_the_path_serves(make_settings) -> None:
    app = create_app(make_settings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bff.test") as client:
        response = await client.request("OPTIONS", "/v1/orders")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"  # two routes share the path
    assert response.headers["content-type"] == "application/problem+json"
