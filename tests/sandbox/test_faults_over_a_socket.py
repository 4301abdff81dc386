"""Faults whose point is a client that gives up, against the sandbox as a real server.

In-process (`httpx.ASGITransport`) a client timeout cancels the sandbox's own task, so only a
socket shows what the fault suite relies on: the sandbox carries on after the client left.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from local_processes.checkout_stack import sandbox_server
from local_processes.waiting import wait_until
from tests.sandbox.helpers import TOKEN_BODY

ITEMS = {"items": [{"upc": "041234100012", "quantity": 1}]}


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with sandbox_server(tmp_path_factory.mktemp("sandbox")) as sandbox:
        yield sandbox.url


@pytest.fixture
def sandbox(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=10) as client:
        client.post("/sandbox/reset")
        token = client.post("/v2/oauth/token", json=TOKEN_BODY).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def _hold(client: httpx.Client, user: str) -> str:
    users = f"/v2/fulfillment/users/{user}/service_options/delivery"
    option = client.post(users, json={"store_id": "store-sf-001"}).json()["service_options"][0]
    held = client.post(f"{users}/hold", json={"service_option_id": option["id"]})
    assert held.status_code == 200, held.text
    return held.json()["hold_id"]


def _create_with_timeout(client: httpx.Client, user: str, order_id: str, timeout: float) -> None:
    body = {"hold_id": _hold(client, user), "order_id": order_id, "cart": ITEMS}
    with pytest.raises(httpx.ReadTimeout):
        client.post(f"/v2/fulfillment/users/{user}/orders/delivery", json=body, timeout=timeout)


def _wait_for_order(client: httpx.Client, order_id: str, within: float) -> list[dict]:
    def listed() -> list[dict] | None:
        orders: list[dict] = client.get("/sandbox/orders").json()["orders"]
        return orders if any(o["id"] == order_id for o in orders) else None

    return wait_until(listed, what=f"{order_id} in GET /sandbox/orders", timeout=within)


def test_a_slow_create_the_client_gave_up_on_still_creates_the_order(
    sandbox: httpx.Client,
) -> None:
    faults = {"operations": {"createDeliveryOrder": {"latency_ms": 1000}}}
    assert sandbox.put("/sandbox/faults", json=faults).status_code == 200
    _create_with_timeout(sandbox, "slow", "R-slow", timeout=0.2)
    assert sandbox.get("/sandbox/orders").json()["orders"] == []  # still waiting
    listed = _wait_for_order(sandbox, "R-slow", within=10)
    assert [(o["id"], o["user_id"], o["status"]) for o in listed] == [
        ("R-slow", "slow", "brand_new")
    ]
    assert sandbox.get("/sandbox/stats").json()["responses"]["createDeliveryOrder"] == {"200": 1}


def test_hang_after_create_creates_and_never_answers(sandbox: httpx.Client) -> None:
    faults = {"operations": {"createDeliveryOrder": {"hang_after_create": True}}}
    assert sandbox.put("/sandbox/faults", json=faults).status_code == 200
    _create_with_timeout(sandbox, "lost", "R-lost", timeout=0.5)
    _wait_for_order(sandbox, "R-lost", within=10)
    fetched = sandbox.get("/v2/fulfillment/users/lost/orders/R-lost")
    assert fetched.status_code == 200
