"""An app in single-process development mode: nothing configured but a data folder of its own."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.main import create_app
from app.settings import Settings
from tests.system.embedded.bare_environment import EMBEDDED


@pytest.fixture
def embedded_settings(tmp_path: Path) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "environment": "development",
            "log_json": True,
            "data_dir": tmp_path / ".data",
            # Tests move orders themselves (the sandbox's auto_advance_tick).
            "sandbox_auto_advance_seconds": 0,
        }
        return Settings(**(values | EMBEDDED | overrides))

    return build


@pytest.fixture
def open_embedded(
    embedded_settings: Callable[..., Settings],
) -> Callable[..., contextlib.AbstractAsyncContextManager[tuple[FastAPI, httpx.AsyncClient]]]:
    """``async with open_embedded(**overrides) as (app, client)``, its lifespan running."""

    @contextlib.asynccontextmanager
    async def build(**overrides: Any) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
        app = create_app(embedded_settings(**overrides))
        async with (
            LifespanManager(app) as manager,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=manager.app), base_url="http://bff.test"
            ) as client,
        ):
            yield app, client

    return build
