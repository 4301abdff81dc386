"""Instacart's side of the callbacks, for tests: tokens, events, a sandbox wired to the BFF."""

from __future__ import annotations

import contextlib
import random
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from sandbox.app import create_sandbox_app
from sandbox.config import SandboxConfig
from tests.support.checkout import Checkout

CLIENT_ID = "instacart-sandbox"
CLIENT_SECRET = "sandbox-callback-secret"  # the BFF's development default
T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


class LateASGITransport(httpx.AsyncBaseTransport):
    """An ASGI transport to an app built after the sandbox that calls it."""

    app: Any = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await httpx.ASGITransport(app=self.app).handle_async_request(request)


@contextlib.asynccontextmanager
async def wired_checkout(
    open_checkout: Callable[..., Any], **overrides: Any
) -> AsyncIterator[Checkout]:
    """A BFF and a sandbox that sends it Instacart's callbacks, in-process."""
    late = LateASGITransport()
    sandbox = create_sandbox_app(
        SandboxConfig(
            client_id=f"test-{uuid.uuid4().hex[:12]}",
            slot_capacity=20,
            callback_url="http://bff.test/callbacks/instacart",
            callback_token_url="http://bff.test/callbacks/instacart/token",
            callback_client_id=CLIENT_ID,
            callback_client_secret=CLIENT_SECRET,
            callback_transport=late,
            callback_backoff_seconds=0.01,
        )
    )
    async with open_checkout(sandbox_app=sandbox, **overrides) as checkout:
        late.app = checkout.app
        yield checkout


async def callback_token(checkout: Checkout) -> str:
    response = await checkout.bff.post(
        "/callbacks/instacart/token",
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def new_event_id() -> int:
    return random.getrandbits(62)


def event(order_id: str, status: str, at: datetime, event_id: int | None = None) -> dict[str, Any]:
    return {
        "event_id": event_id if event_id is not None else new_event_id(),
        "event_name": f"fulfillment.{status}",
        "event_timestamp": at.isoformat(),
        "event_metadata": {"order_id": order_id},
    }


async def send(checkout: Checkout, body: dict[str, Any], token: str) -> httpx.Response:
    return await checkout.bff.post(
        "/callbacks/instacart", json=body, headers={"Authorization": f"Bearer {token}"}
    )


async def applied(checkout: Checkout) -> None:
    """Wait until every callback received so far is applied."""
    await checkout.app.state.bff.callback_inbox.drain()


def later(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)
