"""An in-process BFF wired to an in-process sandbox, on a migrated database and real Redis: the
`Checkout` handle and its fixtures (`open_checkout`, `checkout`, `user`), registered for every
test package by tests/conftest.py."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.main import create_app
from app.settings import Settings
from sandbox import SandboxConfig, create_sandbox_app
from tests.support.addresses import SF_ADDRESS, SF_POSTAL
from tests.support.tokens import bearer


@dataclass
class Checkout:
    """Handles on one BFF and its sandbox for a test."""

    bff: httpx.AsyncClient
    sandbox: httpx.AsyncClient
    settings: Settings
    app: Any

    def auth(
        self, user: str, *, staff: bool = False, stores: tuple[str, ...] = ()
    ) -> dict[str, str]:
        return bearer(user, self.settings, staff=staff, stores=stores)

    async def stats(self) -> dict[str, Any]:
        return (await self.sandbox.get("/sandbox/stats")).json()

    async def calls(self, operation: str) -> int:
        return (await self.stats())["calls"].get(operation, 0)

    async def faults(self, body: dict[str, Any]) -> None:
        response = await self.sandbox.put("/sandbox/faults", json=body)
        assert response.status_code == 200, response.text

    async def first_store(self, fulfillment: str, user: str) -> str:
        response = await self.bff.get(
            "/v1/stores",
            params={"fulfillment": fulfillment, "postal_code": SF_POSTAL},
            headers=self.auth(user),
        )
        assert response.status_code == 200, response.text
        return response.json()["stores"][0]["id"]

    async def first_slot(self, fulfillment: str, store_id: str, user: str) -> dict[str, Any]:
        params = {"fulfillment": fulfillment}
        if fulfillment != "pickup":
            params |= SF_ADDRESS
        response = await self.bff.get(
            f"/v1/stores/{store_id}/slots", params=params, headers=self.auth(user)
        )
        assert response.status_code == 200, response.text
        return response.json()["slots"][0]

    async def reserve(self, fulfillment: str, user: str) -> dict[str, Any]:
        store_id = await self.first_store(fulfillment, user)
        slot = await self.first_slot(fulfillment, store_id, user)
        body: dict[str, Any] = {
            "fulfillment": fulfillment,
            "store_id": store_id,
            "slot_id": slot["id"],
        }
        if fulfillment != "pickup":
            body["address"] = SF_ADDRESS
        response = await self.bff.post("/v1/reservations", json=body, headers=self.auth(user))
        assert response.status_code == 201, response.text
        return response.json()

    async def place(
        self, reservation: dict[str, Any], user: str, key: str | None = None, **extra: Any
    ) -> httpx.Response:
        body: dict[str, Any] = {
            "reservation_id": reservation["id"],
            "items": [{"upc": "0001111041700", "quantity": 2}],
        }
        if reservation["fulfillment"] != "pickup":
            body["address"] = SF_ADDRESS
        body |= extra
        headers = self.auth(user) | {"Idempotency-Key": key or uuid.uuid4().hex}
        return await self.bff.post("/v1/orders", json=body, headers=headers)


@pytest.fixture
def user() -> str:
    return f"shopper-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def open_checkout(migrated_database_url: str) -> Callable[..., Any]:
    """``async with open_checkout(**overrides) as checkout``: a BFF wired to its own sandbox.

    Overrides go to the BFF's Settings; ``capacity`` sets the sandbox's slot capacity,
    ``sandbox_app`` shares a sandbox between several BFF instances (replicas) and
    ``tracer_provider`` traces the BFF with it (tests/tracing/).
    """

    @contextlib.asynccontextmanager
    async def build(
        *, sandbox_app: Any = None, capacity: int = 5, tracer_provider: Any = None, **overrides: Any
    ) -> AsyncIterator[Checkout]:
        if sandbox_app is None:
            config = SandboxConfig(
                client_id=f"test-{uuid.uuid4().hex[:12]}", slot_capacity=capacity
            )
            sandbox_app = create_sandbox_app(config)
        values: dict[str, Any] = {
            "environment": "test",
            "log_json": True,
            "database_url": migrated_database_url,
            "instacart_client_id": sandbox_app.state.config.client_id,
            "reconciler_enabled": False,
            # Replicas of one sandbox share a cache; other tests' sandboxes do not.
            "cache_namespace": sandbox_app.state.config.client_id,
        }
        settings = Settings(**(values | overrides))
        app = create_app(
            settings,
            instacart_transport=httpx.ASGITransport(app=sandbox_app),
            tracer_provider=tracer_provider,
        )
        async with (
            LifespanManager(app) as manager,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=manager.app), base_url="http://bff.test"
            ) as bff,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=sandbox_app), base_url="http://sandbox.test"
            ) as sandbox,
        ):
            yield Checkout(bff, sandbox, settings, app)

    return build


@pytest.fixture
async def checkout(open_checkout: Callable[..., Any]) -> AsyncIterator[Checkout]:
    async with open_checkout() as handle:
        yield handle
