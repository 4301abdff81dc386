"""Order callbacks (webhooks) sent the way Instacart sends them (UPSTREAM.md section 3).

When `callback_url` is configured, every order status change becomes an event
`{"event_id", "event_name": "fulfillment.<status>", "event_timestamp", "event_metadata",
"retailer_id"?}`. A background task sends them: it obtains a token from the retailer's OAuth
endpoint (form POST, client credentials), then POSTs each event with
`Authorization: Bearer <token>`. A 401 drops the token; any failure (transport error, non-2xx,
a token endpoint that fails) is retried after a jittered exponential backoff, up to
`callback_max_attempts` attempts in all, then the event is counted as failed and logged. Status
changes only enqueue, so a slow or absent receiver never slows the API.

Delivery is at least once and in no guaranteed order when the `callbacks` faults say so
(`PUT /sandbox/faults`, see `models.CallbackFaults`): events go out in batches of up to
`reorder_window`, shuffled with the faults' seeded generator; a delivered event is sent again
later, same `event_id`, with probability `duplicate_rate` (a duplicate is never duplicated
again); `drop_token_rate` makes the sender ask for a new token before an event.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import secrets
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import httpx

from sandbox.config import SandboxConfig
from sandbox.faults import Faults
from sandbox.order_book import StatusChange
from sandbox.response_bodies import iso, service_option_json
from sandbox.state import SandboxState

log = logging.getLogger("sandbox.callbacks")


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


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event to send; `duplicate` marks a second sending of an event already delivered."""

    event: dict[str, Any]
    duplicate: bool = False


class CallbackSender:
    """Queues an event per status change and delivers them in the background."""

    def __init__(self, config: SandboxConfig, state: SandboxState, faults: Faults) -> None:
        self.config = config
        self._faults = faults
        first = config.first_event_id
        self._ids = itertools.count(first if first is not None else secrets.randbits(52) + 1)
        self._queue: asyncio.Queue[Delivery] | None = None
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._token: tuple[str, float] | None = None
        # backoff jitter has its own generator, so that retries never shift the faults' draws
        self._jitter = random.Random(config.seed)
        self._stopped = False
        self.pending = 0
        self.delivered = 0
        self.duplicates = 0
        self.retries = 0
        self.failed = 0
        self.recent: deque[dict[str, Any]] = deque(maxlen=50)
        state.listeners.append(self._on_change)

    def _on_change(self, change: StatusChange) -> None:
        event = build_event(next(self._ids), change, self.config.retailer_id)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a change made outside the server's event loop
            loop = None
        if loop is None or self._stopped:
            log.warning("sandbox.callback.dropped event_id=%s", event["event_id"])
            return
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._client = httpx.AsyncClient(
                transport=self.config.callback_transport,
                timeout=httpx.Timeout(self.config.callback_timeout_seconds),
            )
            self._task = loop.create_task(self._run(), name="sandbox-callbacks")
        self._enqueue(Delivery(event))

    def _enqueue(self, delivery: Delivery) -> None:
        assert self._queue is not None
        self.pending += 1
        self._queue.put_nowait(delivery)

    def summary(self) -> dict[str, Any]:
        return {
            "enabled": True,
            "pending": self.pending,
            "delivered": self.delivered,
            "duplicates": self.duplicates,
            "retries": self.retries,
            "failed": self.failed,
            "recent": list(self.recent),
        }

    async def drain(self) -> None:
        """Waits until every queued event (duplicates too) was delivered or given up on."""
        if self._queue is not None:
            await self._queue.join()

    async def stop(self) -> None:
        """Stops sending: events still queued are abandoned (and logged as a count)."""
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.pending:
            log.info("sandbox.callback.abandoned pending=%s", self.pending)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            batch = await self._next_batch()
            for delivery in batch:
                try:
                    status = await self._deliver(delivery)
                finally:
                    self.pending -= 1
                    self._queue.task_done()
                event = delivery.event
                self.recent.append(
                    {
                        "event_id": event["event_id"],
                        "event_name": event["event_name"],
                        "order_id": event["event_metadata"]["order_id"],
                        "status": status,
                        "duplicate": delivery.duplicate,
                    }
                )

    async def _next_batch(self) -> list[Delivery]:
        """The next events to send: one, or up to `reorder_window` of them, shuffled."""
        assert self._queue is not None
        batch = [await self._queue.get()]
        faults = self._faults.callbacks
        if faults.reorder_window <= 1:
            return batch
        loop = asyncio.get_running_loop()
        deadline = loop.time() + faults.reorder_wait_ms / 1000
        while len(batch) < faults.reorder_window:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                async with asyncio.timeout(left):
                    batch.append(await self._queue.get())
            except TimeoutError:
                break
        self._faults.callback_rng.shuffle(batch)
        return batch

    def _backoff_seconds(self, retry: int) -> float:
        """Exponential with "equal jitter": between half and all of the capped exponential."""
        ceiling: float = min(
            self.config.callback_backoff_max_seconds,
            self.config.callback_backoff_seconds * 2 ** (retry - 1),
        )
        jitter: float = self._jitter.uniform(0, ceiling / 2)
        return ceiling / 2 + jitter

    async def _deliver(self, delivery: Delivery) -> int | None:
        assert self._client is not None and self.config.callback_url is not None
        event, faults, rng = delivery.event, self._faults.callbacks, self._faults.callback_rng
        if faults.drop_token_rate and rng.random() < faults.drop_token_rate:
            self._token = None
        status: int | None = None
        for attempt in range(1, self.config.callback_max_attempts + 1):
            if attempt > 1:
                self.retries += 1
                await asyncio.sleep(self._backoff_seconds(attempt - 1))
            try:
                token = await self._access_token()
                response = await self._client.post(
                    self.config.callback_url,
                    json=event,
                    headers={"Authorization": f"Bearer {token}"},
                )
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                status = None
                log.info(
                    "sandbox.callback.error event_id=%s attempt=%s error=%s",
                    event["event_id"],
                    attempt,
                    type(exc).__name__,
                )
                continue
            status = response.status_code
            if status == 401:
                self._token = None
            if 200 <= status < 300:
                break
            log.info(
                "sandbox.callback.refused event_id=%s attempt=%s status=%s",
                event["event_id"],
                attempt,
                status,
            )
        else:
            self.failed += 1
            log.warning("sandbox.callback.failed event_id=%s status=%s", event["event_id"], status)
            return status
        if delivery.duplicate:
            self.duplicates += 1
        else:
            self.delivered += 1
            if faults.duplicate_rate and rng.random() < faults.duplicate_rate:
                self._enqueue(Delivery(event, duplicate=True))
        log.info(
            "sandbox.callback.sent event_id=%s name=%s duplicate=%s",
            event["event_id"],
            event["event_name"],
            delivery.duplicate,
        )
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
