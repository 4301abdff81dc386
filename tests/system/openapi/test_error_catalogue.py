"""The error catalogue: one entry per code the service can answer with, served where every
problem's `type` points, and docs/errors.md generated from it (so the two cannot drift)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

import app
from app.main import create_app
from app.platform.error_catalogue import CATALOGUE, CLASSES, catalogue_markdown
from app.platform.errors import AppError
from app.settings import Settings
from tests.support.paths import REPO_ROOT
from tests.support.settings import production_values

DOC = REPO_ROOT / "docs" / "errors.md"


def _every_error_class() -> set[type[AppError]]:
    """Every AppError subclass with a code of its own that any module of the service defines
    (development mode's too); a base that only shares behaviour, such as RetryLater, has none."""
    for module in pkgutil.walk_packages(app.__path__, "app."):
        importlib.import_module(module.name)
    found: set[type[AppError]] = set()
    pending = [AppError]
    while pending:
        for sub in pending.pop().__subclasses__():
            if "code" in vars(sub):
                found.add(sub)
            pending.append(sub)
    return found


def test_every_error_class_has_one_entry_and_every_entry_a_class() -> None:
    assert set(CLASSES) == _every_error_class()
    assert len(CATALOGUE) == len(CLASSES), "two classes share a code"


def test_the_documents_problem_code_enum_holds_every_code_the_service_answers() -> None:
    enum = create_app(Settings(environment="development")).openapi()["components"]["schemas"][
        "ProblemCode"
    ]["enum"]
    assert sorted(enum) == sorted({cls.code for cls in _every_error_class()})


def test_docs_errors_md_is_generated_from_the_catalogue() -> None:
    assert DOC.read_text() == catalogue_markdown(), (
        "docs/errors.md drifted from app/platform/error_catalogue.py; regenerate it with "
        "`python -m app errors > docs/errors.md`"
    )


@pytest.fixture
async def client(make_settings: Callable[..., Settings]) -> AsyncIterator[httpx.AsyncClient]:
    # No lifespan: the catalogue needs no connection. Production: a type must resolve there.
    application = create_app(make_settings(**production_values()))
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://bff.test") as client:
        yield client


async def test_each_code_is_served_at_its_type_in_production(client: httpx.AsyncClient) -> None:
    listed = await client.get("/v1/errors")
    assert listed.status_code == 200
    assert [entry["code"] for entry in listed.json()["errors"]] == list(CATALOGUE)
    for entry in listed.json()["errors"]:
        one = await client.get(entry["type"])
        assert one.status_code == 200, entry["type"]
        assert one.json() == entry
        assert entry["when"] and entry["what_to_do"]


async def test_a_browser_following_a_type_gets_a_page(client: httpx.AsyncClient) -> None:
    page = await client.get("/v1/errors/slot_unavailable", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == "default-src 'none'"
    assert '<h2><a href="/v1/errors/slot_unavailable">slot_unavailable</a></h2>' in page.text
    assert CATALOGUE["slot_unavailable"].what_to_do.split("`")[0] in page.text


async def test_an_unknown_code_is_a_404_naming_the_parameter(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/errors/no_such_code")
    assert response.status_code == 404
    assert response.json()["param"] == "code"
    assert response.json()["type"] == "/v1/errors/not_found"
