"""Helpers for the Instacart client tests: sandbox control, log capture, metrics."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client import REGISTRY

SECRET = "test-secret"


class SandboxControl:
    """The sandbox's /sandbox control routes, over any transport."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def stats(self) -> dict[str, Any]:
        response = await self.http.get("/sandbox/stats")
        response.raise_for_status()
        return response.json()

    async def calls(self, operation: str) -> int:
        return (await self.stats())["calls"].get(operation, 0)

    async def tokens_issued(self) -> int:
        return (await self.stats())["tokens_issued"]

    async def faults(self, token_ttl_seconds: int | None = None, **operations: Any) -> None:
        body: dict[str, Any] = {"operations": operations}
        if token_ttl_seconds is not None:
            body["token_ttl_seconds"] = token_ttl_seconds
        response = await self.http.put("/sandbox/faults", json=body)
        response.raise_for_status()

    async def revoke_tokens(self) -> int:
        response = await self.http.post("/sandbox/tokens/revoke")
        response.raise_for_status()
        return response.json()["revoked"]

    async def reset(self) -> None:
        (await self.http.post("/sandbox/reset")).raise_for_status()


class LogRecorder:
    """Stands in for a module's structlog logger and keeps every event."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def _record(self, level: str, event: str, **fields: Any) -> None:
        self.events.append({"level": level, "event": event, **fields})

    def debug(self, event: str, **fields: Any) -> None:
        self._record("debug", event, **fields)

    def info(self, event: str, **fields: Any) -> None:
        self._record("info", event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._record("warning", event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        self._record("error", event, **fields)

    def named(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == event]


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0
