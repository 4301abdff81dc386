"""Order callbacks sent to the retailer with OAuth client credentials."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from sandbox import SandboxConfig, create_sandbox_app
from tests.sandbox.conftest import TOKEN_BODY, FakeClock
from tests.sandbox.helpers import place_order


class Retailer:
    """A stand-in for the BFF's token endpoint and callback receiver."""

    def __init__(self) -> None:
        self.token_requests: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.reject_next = 0
        self.app = FastAPI()

        @self.app.post("/callbacks/instacart/token")
        async def token(request: Request) -> JSONResponse:
            self.token_requests.append(dict(await request.form()))
            n = len(self.token_requests)
            return JSONResponse(
                {"access_token": f"t{n}", "token_type": "Bearer", "expires_in": 3600}
            )

        @self.app.post("/callbacks/instacart")
        async def receive(request: Request) -> JSONResponse:
            if self.reject_next:
                self.reject_next -= 1
                return JSONResponse({"error": "unauthorized"}, status_code=401)
            expected = f"Bearer t{len(self.token_requests)}"
            if request.headers.get("authorization") != expected:
                return JSONResponse({"error": "bad token"}, status_code=401)
            self.events.append(await request.json())
            return JSONResponse({})


@pytest.fixture
def retailer() -> Retailer:
    return Retailer()


@pytest.fixture
def app(clock: FakeClock, retailer: Retailer) -> Any:
    config = SandboxConfig(
        clock=clock,
        callback_url="http://retailer/callbacks/instacart",
        callback_client_id="instacart",
        callback_client_secret="shh",
        retailer_id="retailer-1",
        callback_transport=httpx.ASGITransport(app=retailer.app),
    )
    return create_sandbox_app(config)


@pytest.fixture
async def sandbox_client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as c:
        yield c
    await app.state.callbacks.stop()


async def token_headers(client: httpx.AsyncClient) -> dict[str, str]:
    body = (await client.post("/v2/oauth/token", json=TOKEN_BODY)).json()
    return {"Authorization": f"Bearer {body['access_token']}"}


async def test_status_changes_are_sent_as_callbacks_with_a_client_credentials_token(
    app: Any, sandbox_client: httpx.AsyncClient, retailer: Retailer
) -> None:
    auth = await token_headers(sandbox_client)
    order = await place_order(sandbox_client, auth, order_id="R-cb")
    await sandbox_client.post("/sandbox/orders/R-cb/advance")
    await sandbox_client.post("/sandbox/orders/R-cb/advance", json={"status": "rescheduled"})
    await app.state.callbacks.drain()

    assert retailer.token_requests == [
        {"grant_type": "client_credentials", "client_id": "instacart", "client_secret": "shh"}
    ]
    names = [e["event_name"] for e in retailer.events]
    assert names == ["fulfillment.brand_new", "fulfillment.acknowledged", "fulfillment.rescheduled"]
    assert [e["event_id"] for e in retailer.events] == [1, 2, 3]
    first = retailer.events[0]
    assert first["event_metadata"]["order_id"] == "R-cb"
    assert first["event_metadata"]["delivery_window"] == order["service_option"]
    assert first["event_timestamp"] == "2025-06-02T16:00:00Z"
    assert first["retailer_id"] == "retailer-1"
    summary = (await sandbox_client.get("/sandbox/callbacks")).json()
    assert summary["delivered"] == 3 and summary["failed"] == 0


async def test_a_rejected_token_is_renewed_and_the_event_retried(
    app: Any, sandbox_client: httpx.AsyncClient, retailer: Retailer
) -> None:
    retailer.reject_next = 1
    auth = await token_headers(sandbox_client)
    await place_order(sandbox_client, auth, order_id="R-retry")
    await app.state.callbacks.drain()
    assert len(retailer.token_requests) == 2
    assert [e["event_name"] for e in retailer.events] == ["fulfillment.brand_new"]
