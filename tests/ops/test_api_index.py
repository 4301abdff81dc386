"""`GET /` (issue 16): a browser in development lands on the demo storefront; anything else, and
everything in production, gets the API's name, version and the links that are served there."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx

from app.settings import Settings
from tests.support.settings import production_values

# The fixture of tests/conftest.py: a BFF of the given settings, in-process, its lifespan run.
OpenBff = Callable[[Settings], AbstractAsyncContextManager[httpx.AsyncClient]]

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


async def test_development_sends_a_browser_to_the_demo_and_a_program_the_description(
    make_settings: Callable[..., Settings],
    open_bff: OpenBff,
) -> None:
    async with open_bff(make_settings(environment="development")) as client:
        browser = await client.get("/", headers=BROWSER)
        assert browser.status_code == 307
        assert browser.headers["location"] == "/demo"
        demo = await client.get("/", headers=BROWSER, follow_redirects=True)
        assert demo.status_code == 200 and demo.headers["content-type"].startswith("text/html")

        described = await client.get("/")
        assert described.status_code == 200
        body = described.json()
        assert body["name"] == "Checkout BFF for Instacart Connect"
        assert body["version"] == "1.0.0"
        links = body["links"]
        assert links == {
            "openapi": "/openapi.json",
            "docs": "/docs",
            "demo": "/demo",
            "liveness": "/livez",
            "readiness": "/readyz",
        }
        for path in links.values():  # every link is served
            assert (await client.get(path)).status_code == 200, path
        document = (await client.get(links["openapi"])).json()
        assert document["info"]["version"] == body["version"]
        assert "ops-index" in {op["operationId"] for op in document["paths"]["/"].values()}


async def test_production_describes_the_api_even_to_a_browser_and_links_only_what_it_serves(
    make_settings: Callable[..., Settings],
    open_bff: OpenBff,
) -> None:
    async with open_bff(make_settings(**production_values())) as client:
        for headers in (BROWSER, {}):
            answer = await client.get("/", headers=headers)
            assert answer.status_code == 200
            assert answer.headers["content-type"] == "application/json"
            links = answer.json()["links"]
            assert links == {
                "openapi": None,
                "docs": None,
                "demo": None,
                "liveness": "/livez",
                "readiness": "/readyz",
            }
        assert (await client.get(links["liveness"])).status_code == 200


async def test_without_the_demo_a_development_browser_gets_the_description(
    make_settings: Callable[..., Settings],
    open_bff: OpenBff,
) -> None:
    # A configured secret of the retailer's: the demo, which signs tokens for anyone, is off.
    settings = make_settings(environment="development", auth_jwt_secret="r" * 40)
    async with open_bff(settings) as client:
        answer = await client.get("/", headers=BROWSER)
        assert answer.status_code == 200
        assert answer.json()["links"]["demo"] is None
        assert answer.json()["links"]["docs"] == "/docs"
