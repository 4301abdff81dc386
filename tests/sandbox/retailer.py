"""A stand-in for the retailer the sandbox calls back (the BFF's token endpoint and callback
receiver), and a sandbox configured to call it: shared by the callback and auto-advance tests."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from sandbox import SandboxConfig
from tests.support.clock import FakeClock

DELIVERY_EVENTS = [
    "fulfillment.brand_new",
    "fulfillment.acknowledged",
    "fulfillment.picking",
    "fulfillment.delivering",
    "fulfillment.delivered",
]


class Retailer:
    """A stand-in for the BFF's token endpoint and callback receiver."""

    def __init__(self) -> None:
        self.token_requests: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.attempts = 0
        self.reject_next = 0
        self.fail_next = 0
        # while cleared, the receiver waits before answering (a slow retailer)
        self.open = asyncio.Event()
        self.open.set()
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
            self.attempts += 1
            await self.open.wait()
            if self.reject_next:
                self.reject_next -= 1
                return JSONResponse({"error": "unauthorized"}, status_code=401)
            if self.fail_next:
                self.fail_next -= 1
                return JSONResponse({"error": "unavailable"}, status_code=503)
            expected = f"Bearer t{len(self.token_requests)}"
            if request.headers.get("authorization") != expected:
                return JSONResponse({"error": "bad token"}, status_code=401)
            self.events.append(await request.json())
            return JSONResponse({})

    @property
    def names(self) -> list[str]:
        return [e["event_name"] for e in self.events]

    @property
    def ids(self) -> list[int]:
        return [e["event_id"] for e in self.events]


def callback_config(clock: FakeClock, retailer: Retailer, **overrides: Any) -> SandboxConfig:
    values: dict[str, Any] = {
        "clock": clock.utc,
        "callback_url": "http://retailer/callbacks/instacart",
        "callback_client_id": "instacart",
        "callback_client_secret": "shh",
        "retailer_id": "retailer-1",
        "callback_transport": httpx.ASGITransport(app=retailer.app),
        # retries without waiting; test_backoff_* checks the schedule itself
        "callback_backoff_seconds": 0.0,
        "first_event_id": 1,
    }
    return SandboxConfig(**(values | overrides))
