"""The interactive documentation loads everything it needs from the service itself (no CDN: it
works without internet and tells no third party who reads it), and production serves none of it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator, Callable
from html.parser import HTMLParser
from urllib.parse import urlsplit

import httpx
import pytest

from app import api_reference
from app.api_reference import ASSETS_PATH, DOCS_PACKAGE
from app.main import create_app
from app.settings import Settings
from tests.support.ci import skip_or_fail
from tests.support.settings import production_values

PAGES = ("/docs", "/redoc")


class _References(HTMLParser):
    """Every URL a page makes the browser load: scripts, styles, icons, images, frames."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and (name == "src" or (name == "href" and tag == "link")):
                self.urls.append(value)


def _references(page: str) -> list[str]:
    parser = _References()
    parser.feed(page)
    return parser.urls


async def _client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    # No lifespan: the pages and their assets touch no connection.
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://bff.test") as client:
        yield client


@pytest.fixture
async def development(make_settings: Callable[..., Settings]) -> AsyncIterator[httpx.AsyncClient]:
    if importlib.util.find_spec("fastapi_offline") is None:
        skip_or_fail(f"{DOCS_PACKAGE} (requirements.lock) ships the documentation's assets")
    async for client in _client(make_settings(environment="development")):
        yield client


@pytest.fixture
async def production(make_settings: Callable[..., Settings]) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(make_settings(**production_values())):
        yield client


@pytest.mark.parametrize("page", PAGES)
async def test_a_page_loads_only_what_the_service_serves(
    development: httpx.AsyncClient, page: str
) -> None:
    answer = await development.get(page)
    assert answer.status_code == 200
    urls = _references(answer.text)
    assert any(url.endswith(".js") for url in urls), urls  # the page's own script is among them
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{page} loads {url} from another host"
        assert parts.path.startswith(ASSETS_PATH + "/"), url
        asset = await development.get(url)
        assert asset.status_code == 200, url
        assert asset.content, url
    assert "cdn" not in answer.text.lower()
    document = await development.get("/openapi.json")
    assert document.status_code == 200
    assert "'/openapi.json'" in answer.text or '"/openapi.json"' in answer.text


async def test_swagger_ui_sends_the_document_to_no_validator(
    development: httpx.AsyncClient,
) -> None:
    # By default Swagger UI asks a public validator for a badge, sending it the document's URL.
    assert '"validatorUrl": null' in (await development.get("/docs")).text


@pytest.mark.parametrize(
    "path",
    [*PAGES, "/openapi.json", f"{ASSETS_PATH}/swagger-ui-bundle.js", "/docs/oauth2-redirect"],
)
async def test_production_serves_no_documentation(production: httpx.AsyncClient, path: str) -> None:
    assert (await production.get(path)).status_code == 404


async def test_without_the_assets_package_a_plain_page_names_it(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api_reference, "_offline_app", lambda: None)  # the package uninstalled
    async for client in _client(make_settings(environment="development")):
        for page in PAGES:
            answer = await client.get(page)
            assert answer.status_code == 200
            assert DOCS_PACKAGE in answer.text
            assert [urlsplit(url).netloc for url in _references(answer.text)] == []
        assert (await client.get("/openapi.json")).status_code == 200
