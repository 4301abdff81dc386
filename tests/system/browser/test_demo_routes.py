"""The demo's routes without a browser: served outside production only, its files by name only,
and its tokens accepted by the service itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from app.auth.tokens import TokenVerifier
from app.main import create_app
from app.settings import Settings
from tests.support.settings import production_values

DEMO_PATHS = ["/demo", "/demo/", "/demo/assets/demo.js", "/demo/assets/demo.css"]


def client_of(settings: Settings) -> httpx.AsyncClient:
    # No lifespan: the demo's routes need no connection, and a 404 needs none either.
    app = create_app(settings)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bff.test")


@pytest.mark.parametrize("path", DEMO_PATHS)
async def test_the_demo_is_not_served_in_production(
    make_settings: Callable[..., Settings], path: str
) -> None:
    settings = make_settings(**production_values())
    async with client_of(settings) as client:
        assert (await client.get(path)).status_code == 404
        token = await client.post("/demo/token", json={"user": "alice"})
    assert token.status_code == 404
    assert token.headers["content-type"] == "application/problem+json"
    assert "token" not in token.json()


async def test_the_page_and_its_assets_are_served_with_a_strict_policy(
    make_settings: Callable[..., Settings],
) -> None:
    async with client_of(make_settings(environment="development")) as client:
        page = await client.get("/demo")
        assets = {
            name: await client.get(f"/demo/assets/{name}") for name in ("demo.js", "demo.css")
        }
        slash = await client.get("/demo/")
        unknown = await client.get("/demo/assets/index.html")
        traversal = await client.get("/demo/assets/..%2F..%2Fsettings.py")
        schema = (await client.get("/openapi.json")).json()
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script type="module" src="/demo/assets/demo.js">' in page.text
    assert assets["demo.js"].headers["content-type"].startswith("text/javascript")
    assert assets["demo.css"].headers["content-type"].startswith("text/css")
    assert (slash.status_code, slash.headers["location"]) == (308, "/demo")
    assert unknown.status_code == 404
    assert traversal.status_code == 404
    # a development aid, not part of the storefront API (nor of openapi/bff.json)
    assert not [path for path in schema["paths"] if path.startswith("/demo")]


async def test_a_demo_token_is_one_the_service_accepts(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(environment="development")
    async with client_of(settings) as client:
        answer = await client.post("/demo/token", json={"user": " alice "})
    assert answer.status_code == 201
    body: dict[str, Any] = answer.json()
    assert body["user_id"] == "alice"
    principal = await TokenVerifier.from_settings(settings).verify(body["token"])
    assert (principal.user_id, principal.is_staff) == ("alice", False)


@pytest.mark.parametrize(
    "body", [{"user": ""}, {"user": "x" * 65}, {"user": "a\nb"}, {"name": "alice"}, {}]
)
async def test_a_bad_demo_user_name_is_a_validation_problem(
    make_settings: Callable[..., Settings], body: dict[str, Any]
) -> None:
    async with client_of(make_settings(environment="development")) as client:
        answer = await client.post("/demo/token", json=body)
    assert answer.status_code == 422
    assert answer.json()["code"] == "validation_failed"


async def test_with_an_identity_providers_keys_there_is_no_demo(
    make_settings: Callable[..., Settings],
) -> None:
    # Tokens come from the retailer's identity provider: nobody may mint one here.
    settings = make_settings(environment="development", auth_jwks_url="https://idp.test/jwks")
    async with client_of(settings) as client:
        answer = await client.post("/demo/token", json={"user": "alice"})
    assert answer.status_code == 404
