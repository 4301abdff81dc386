"""The suite's environment, and fixtures shared by every test package: settings and an
in-process BFF. Nothing imports this module: what tests share is in tests/support/."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

from app.settings import DEV_JWT_SECRET

# Set before any Settings() is built (Settings reads the environment then, not at import).
# Unset, these put the service in single-process development mode (SQLite, an in-process
# Redis, an in-process sandbox, a generated secret: app/dev/embedded.py). The suite tests what
# production runs, real Postgres and Redis, so it pins them; tests/system/embedded asks for the
# embedded parts explicitly. The secret is the fixed development one, so that tokens minted here
# and servers started as subprocesses (which inherit this environment) agree. Values set
# beforehand win.
# Production is the default environment (a forgotten variable must never open development's
# shortcuts); the suite is the test environment, as its servers started as subprocesses are.
os.environ.setdefault("BFF_ENVIRONMENT", "test")
os.environ.setdefault("BFF_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/bff")
os.environ.setdefault("BFF_REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ.setdefault("BFF_INSTACART_BASE_URL", "http://127.0.0.1:8081")
os.environ.setdefault("BFF_AUTH_JWT_SECRET", DEV_JWT_SECRET)
# The suite's own event loop stalls on blocking test code (subprocesses, threads joined): its
# lag and busy share say nothing about a server's load, so admission by them is off unless a
# test asks for it (tests/checkout/test_admission.py). The in-flight limit stays.
os.environ.setdefault("BFF_ADMISSION_LAG_BUDGET_MS", "60000")
os.environ.setdefault("BFF_ADMISSION_LOOP_BUSY_PERCENT", "100")
# Nor are the suite's own bursts (200 cold requests at once) load to shed.
os.environ.setdefault("BFF_ADMISSION_MAX_IN_FLIGHT", "100000")

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.main import create_app
from app.settings import Settings

# Fixtures every package may use: migrated databases, and a BFF wired to a sandbox in-process.
pytest_plugins = ["tests.support.database", "tests.support.checkout"]

DEFAULT_TEST_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def make_settings() -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "environment": "test",
            "log_json": True,
            "database_url": os.environ.get("BFF_TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL),
        }
        values.update(overrides)
        return Settings(**values)

    return build


@contextlib.asynccontextmanager
async def _served_in_process(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://bff.test"
        ) as client,
    ):
        yield client


@pytest.fixture
def open_bff() -> Callable[[Settings], contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]:
    """``async with open_bff(settings) as client``: a BFF of those settings, as ``bff`` is."""
    return _served_in_process


@pytest.fixture
async def bff(make_settings: Callable[..., Settings]) -> AsyncIterator[httpx.AsyncClient]:
    """The BFF in-process with its lifespan running, behind an httpx client."""
    async with _served_in_process(make_settings()) as client:
        yield client
