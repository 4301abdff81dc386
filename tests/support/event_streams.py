"""Following an order's live status as a browser does: the app on a real socket (httpx's
ASGITransport buffers a streaming answer whole) and a reader of Server-Sent Events frames."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import uvicorn

from local_processes.waiting import wait_until_async


def events_path(order_id: str) -> str:
    return f"/v1/orders/{order_id}/events"


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """Serve an app whose lifespan already runs, on a loopback socket; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, lifespan="off", log_config=None, access_log=False, timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))

    def started() -> bool:
        if task.done():  # it failed to start: say why at once
            raise AssertionError(f"uvicorn ended before it started: {task.exception()!r}")
        return server.started

    try:
        await wait_until_async(started, what="uvicorn to start serving")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


class EventReader:
    """Reads Server-Sent Events frames from a streaming httpx response, with a timeout."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def frame(self, timeout: float = 10) -> dict[str, str] | None:
        """The next frame: its fields, or {"comment": ...}; None when the stream ended."""
        fields: dict[str, str] = {}
        async with asyncio.timeout(timeout):
            async for line in self._lines:
                if line == "":
                    if fields:
                        return fields
                elif line.startswith(":"):
                    return {"comment": line[1:].strip()}
                else:
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
        return fields or None

    async def status(self, timeout: float = 10) -> dict[str, Any] | None:
        """The next `status` event as {"id": int, "order": dict}, skipping the rest."""
        while (frame := await self.frame(timeout)) is not None:
            if frame.get("event") == "status":
                return {"id": int(frame["id"]), "order": orjson.loads(frame["data"])}
        return None
