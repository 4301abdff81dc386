"""Order callbacks (webhooks) sent the way Instacart sends them (UPSTREAM.md section 3).

When `callback_url` is configured, every order status change becomes an event
`{"event_id", "event_name": "fulfillment.<status>", "event_timestamp", "event_metadata",
"retailer_id"?}`. A background task sends events in order: it first obtains a token from the
retailer's OAuth endpoint (form POST, client credentials), then POSTs each event with
`Authorization: Bearer <token>`, retrying with backoff.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from typing import Any

import httpx

from sandbox.config import SandboxConfig
from sandbox.state import SandboxState, StatusChange, iso, service_option_json

log = logging.getLogger("sandbox.callbacks")

MAX_ATTEMPTS = 5
FIRST_BACKOFF_SECONDS = 0.2


def token_url_for(config: SandboxConfig) -> str:
    """The retailer's token endpoint: configured, or `<callback_url>/token`."""
    assert config.callback_url is not None
    return config.callback_token_url or config.callback_url.rstrip("/") + "/token"


def build_event(event_id: int, change: StatusChange, retailer_id: str | None) -> dict[str, Any]:
    order = change.order
    metadata: dict[str, Any] = {"order_id": order.id}
    if change.status == "brand_new":
        metadata["delivery_window"] = service_option_json(order.slot)
    if change.status in {"delivered", "staging", "delivering"}:
        metadata["order_items"] = [dict(item) for item in order.items]
    if change.status == "canceled":
        metadata["cancellation_reason"] = "canceled_by_retailer"
    event: dict[str, Any] = {
        "event_id": event_id,
        "event_name": f"fulfillment.{change.status}",
        "event_timestamp": iso(change.at),
        "event_metadata": metadata,
    }
    if retailer_id:
        event["retailer_id"] = retailer_id
    return event


class CallbackSender:
    """Queues an event per status change and delivers them in the background."""

    def __init__(self, config: SandboxConfig, state: SandboxState) -> None:
        self.config = config
        self._ids = itertools.count(1)
        self._queue: asyncio.Queue[dict[str, Any]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._token: tuple[str, float] | None = None
        self.delivered = 0
        self.failed = 0
        self.recent: deque[dict[str, Any]] = deque(maxlen=50)
        state.listeners.append(self._on_change)

    def _on_change(self, change: StatusChange) -> None:
        event = build_event(next(self._ids), change, self.config.retailer_id)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a change made outside the server's event loop
            log.warning("sandbox.callback.dropped event_id=%s", event["event_id"])
            return
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._client = httpx.AsyncClient(
                transport=self.config.callback_transport, timeout=httpx.Timeout(5.0)
            )
            self._task = loop.create_task(self._run())
        self._queue.put_nowait(event)

    def summary(self) -> dict[str, Any]:
        return {
            "enabled": True,
            "pending": self._queue.qsize() if self._queue is not None else 0,
            "delivered": self.delivered,
            "failed": self.failed,
            "recent": list(self.recent),
        }

    async def drain(self) -> None:
        """Waits until every queued event was delivered or given up on (for tests)."""
        if self._queue is not None:
            await self._queue.join()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            event = await self._queue.get()
            try:
                status = await self._deliver(event)
            finally:
                self._queue.task_done()
            outcome = {
                "event_id": event["event_id"],
                "event_name": event["event_name"],
                "order_id": event["event_metadata"]["order_id"],
                "status": status,
            }
            self.recent.append(outcome)

    async def _deliver(self, event: dict[str, Any]) -> int | None:
        assert self._client is not None and self.config.callback_url is not None
        status: int | None = None
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                await asyncio.sleep(FIRST_BACKOFF_SECONDS * 2 ** (attempt - 1))
            try:
                token = await self._access_token()
                response = await self._client.post(
                    self.config.callback_url,
                    json=event,
                    headers={"Authorization": f"Bearer {token}"},
                )
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                log.warning(
                    "sandbox.callback.error event_id=%s error=%s",
                    event["event_id"],
                    type(exc).__name__,
                )
                continue
            status = response.status_code
            if status == 401:
                self._token = None
            if 200 <= status < 300:
                self.delivered += 1
                log.info(
                    "sandbox.callback.sent event_id=%s name=%s",
                    event["event_id"],
                    event["event_name"],
                )
                return status
        self.failed += 1
        log.warning("sandbox.callback.failed event_id=%s status=%s", event["event_id"], status)
        return status

    async def _access_token(self) -> str:
        assert self._client is not None
        if self._token is not None and self._token[1] > time.monotonic():
            return self._token[0]
        form = {
            "grant_type": "client_credentials",
            "client_id": self.config.callback_client_id,
            "client_secret": self.config.callback_client_secret,
        }
        if self.config.callback_scope:
            form["scope"] = self.config.callback_scope
        response = await self._client.post(token_url_for(self.config), data=form)
        response.raise_for_status()
        body = response.json()
        lifetime = float(body.get("expires_in", 3600))
        self._token = (body["access_token"], time.monotonic() + max(lifetime - 60, lifetime / 2))
        return self._token[0]
