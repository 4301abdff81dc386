"""The history: every storefront request and its answer, as the checker reads them later."""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
import orjson

from app.settings import Settings
from tests.support.addresses import SF_ADDRESS
from tests.support.tokens import bearer

ITEMS = [{"upc": "0001111041700", "quantity": 2}]

# What a 5xx from the BFF may be (API.md): the code for each status, and Retry-After on 503.
DOCUMENTED_5XX = {
    502: {"upstream_error"},
    503: {"upstream_unavailable", "dependency_unavailable"},
    504: {"upstream_timeout"},
}
# 4xx answers worth another try with the same key: the first request still runs, or a limit.
RETRYABLE_4XX = {(409, "request_in_progress"), (429, "rate_limited")}


@dataclass
class Exchange:
    """One request and what came back (or the transport error instead)."""

    seq: int
    op: str  # reserve, place, list, get, ready, ...
    method: str
    path: str
    replica: str
    user: str | None
    phase: str
    key: str | None = None
    reservation_id: str | None = None
    body_tag: str | None = None  # which body a placement sent ("a", "b", ...)
    started: float = 0.0
    ended: float = 0.0
    status: int | None = None
    code: str | None = None
    order_id: str | None = None
    replayed: bool = False
    retry_after: str | None = None
    error: str | None = None
    order_ids: list[str] = field(default_factory=list)  # a list's orders
    order_status: str | None = None  # the status an order's read showed

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Checkout:
    """One user's single checkout: the reservation, the key and the body it places."""

    user: str
    fulfillment: str
    key: str
    reservation: dict[str, Any] | None = None

    def body(self, tag: str = "a") -> dict[str, Any]:
        assert self.reservation is not None
        quantity = {"a": 2, "b": 3}[tag]
        body: dict[str, Any] = {
            "reservation_id": self.reservation["id"],
            "items": [{**ITEMS[0], "quantity": quantity}],
        }
        if self.fulfillment != "pickup":
            body["address"] = SF_ADDRESS
        return body


class History:
    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []
        self.t0 = time.monotonic()
        self.phase = "setup"

    def new(self, **fields: Any) -> Exchange:
        exchange = Exchange(seq=len(self.exchanges), phase=self.phase, **fields)
        exchange.started = round(time.monotonic() - self.t0, 4)
        self.exchanges.append(exchange)
        return exchange

    def of(self, op: str | None = None, phase: str | None = None) -> list[Exchange]:
        return [
            e
            for e in self.exchanges
            if (op is None or e.op == op) and (phase is None or e.phase == phase)
        ]

    def dump(self, path: Any) -> None:
        with open(path, "wb") as out:
            for e in self.exchanges:
                out.write(orjson.dumps(e.as_json()) + b"\n")


class Storefront:
    """The storefront's client for the BFF replicas; records every exchange in the history."""

    def __init__(self, history: History, replicas: dict[str, str], timeout: float = 30) -> None:
        self.history = history
        self.replicas = replicas
        self.settings = Settings()
        self.http = httpx.AsyncClient(
            timeout=timeout,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=0),
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    def auth(self, user: str) -> dict[str, str]:
        return bearer(user, self.settings)

    async def call(
        self,
        op: str,
        replica: str,
        method: str,
        path: str,
        user: str | None,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        **tags: Any,
    ) -> tuple[Exchange, httpx.Response | None]:
        exchange = self.history.new(
            op=op, method=method, path=path, replica=replica, user=user, **tags
        )
        all_headers = (self.auth(user) if user else {}) | (headers or {})
        response = None
        try:
            response = await self.http.request(
                method,
                self.replicas[replica] + path,
                json=json,
                params=params,
                headers=all_headers,
            )
        except httpx.HTTPError as exc:
            exchange.error = type(exc).__name__
        exchange.ended = round(time.monotonic() - self.history.t0, 4)
        if response is not None:
            self._note(exchange, response)
        return exchange, response

    @staticmethod
    def _note(exchange: Exchange, response: httpx.Response) -> None:
        exchange.status = response.status_code
        exchange.retry_after = response.headers.get("retry-after")
        exchange.replayed = response.headers.get("idempotent-replayed") == "true"
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return
        exchange.code = body.get("code")
        if exchange.op in ("place", "get") and response.status_code in (200, 201):
            exchange.order_id = body.get("id")
            exchange.order_status = body.get("status")
        if exchange.op == "list" and response.status_code == 200:
            exchange.order_ids = [o["id"] for o in body.get("orders", [])]

    # --- the storefront's operations ---------------------------------------------------------

    async def find_slot(self, replica: str, user: str, fulfillment: str) -> tuple[str, str]:
        """(store_id, slot_id) of the first store and slot for this fulfillment."""
        _, stores = await self.call(
            "stores",
            replica,
            "GET",
            "/v1/stores",
            user,
            params={"fulfillment": fulfillment, "postal_code": SF_ADDRESS["postal_code"]},
        )
        assert stores is not None and stores.status_code == 200, stores and stores.text
        store_id = stores.json()["stores"][0]["id"]
        params = {"fulfillment": fulfillment}
        if fulfillment != "pickup":
            params |= SF_ADDRESS
        _, slots = await self.call(
            "slots", replica, "GET", f"/v1/stores/{store_id}/slots", user, params=params
        )
        assert slots is not None and slots.status_code == 200, slots and slots.text
        return store_id, slots.json()["slots"][0]["id"]

    async def reserve(
        self, replica: str, checkout: Checkout, store_id: str, slot_id: str
    ) -> Exchange:
        body: dict[str, Any] = {
            "fulfillment": checkout.fulfillment,
            "store_id": store_id,
            "slot_id": slot_id,
        }
        if checkout.fulfillment != "pickup":
            body["address"] = SF_ADDRESS
        exchange, response = await self.call(
            "reserve", replica, "POST", "/v1/reservations", checkout.user, json=body
        )
        if response is not None and response.status_code == 201:
            checkout.reservation = response.json()
            exchange.reservation_id = checkout.reservation["id"]
        return exchange

    async def place(self, replica: str, checkout: Checkout, body_tag: str = "a") -> Exchange:
        assert checkout.reservation is not None
        exchange, _ = await self.call(
            "place",
            replica,
            "POST",
            "/v1/orders",
            checkout.user,
            json=checkout.body(body_tag),
            headers={"Idempotency-Key": checkout.key},
            key=checkout.key,
            reservation_id=checkout.reservation["id"],
            body_tag=body_tag,
        )
        return exchange

    async def list_orders(self, replica: str, user: str) -> Exchange:
        exchange, _ = await self.call(
            "list", replica, "GET", "/v1/orders", user, params={"limit": 100}
        )
        return exchange

    async def get_order(self, replica: str, user: str, order_id: str) -> Exchange:
        exchange, _ = await self.call("get", replica, "GET", f"/v1/orders/{order_id}", user)
        return exchange

    async def ready(self, replica: str) -> Exchange:
        exchange, _ = await self.call("ready", replica, "GET", "/readyz", None)
        return exchange


def new_checkouts(scenario: str, count: int, fulfillments: tuple[str, ...]) -> list[Checkout]:
    run = uuid.uuid4().hex[:8]
    return [
        Checkout(
            user=f"{scenario}-{run}-u{i:02d}",
            fulfillment=fulfillments[i % len(fulfillments)],
            key=f"key-{run}-{i:02d}",
        )
        for i in range(count)
    ]
