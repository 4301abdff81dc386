"""`--auto-advance SECONDS`: orders move along their workflows by themselves.

The timer calls `SandboxState.auto_advance_tick()`; most tests call it directly, so that
nothing sleeps. One test runs the timer for real, over a socket, polling with a deadline.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from local_processes.checkout_stack import sandbox_server
from local_processes.ports import free_port
from local_processes.waiting import wait_until
from sandbox import SandboxConfig, create_sandbox_app
from sandbox.order_workflow import WORKFLOWS
from tests.sandbox.helpers import TOKEN_BODY, place_order
from tests.sandbox.retailer import DELIVERY_EVENTS, Retailer, callback_config
from tests.support.clock import FakeClock


async def test_each_tick_moves_every_unfinished_order_one_step_along_its_workflow(
    app: Any, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    kinds = ("delivery", "pickup", "last_mile")
    for kind in kinds:
        await place_order(client, auth, fulfillment=kind, order_id=f"R-{kind}", user=kind)
    await place_order(client, auth, order_id="R-canceled", user="c")
    await client.post("/v2/fulfillment/users/c/orders/R-canceled/cancel", headers=auth)
    await place_order(client, auth, order_id="R-resched", user="r")
    await client.post("/sandbox/orders/R-resched/advance", json={"status": "rescheduled"})

    seen: dict[str, list[str]] = {f"R-{kind}": ["brand_new"] for kind in kinds}
    for _ in range(10):
        moved = app.state.sandbox.auto_advance_tick()
        if not moved:
            break
        for order_id, status in moved:
            seen[order_id].append(status)  # canceled and rescheduled orders never move
    assert seen == {f"R-{kind}": list(WORKFLOWS[kind]) for kind in kinds}
    listed = (await client.get("/sandbox/orders")).json()["orders"]
    assert {o["id"]: o["status"] for o in listed} == {
        "R-delivery": "delivered",
        "R-pickup": "delivered",
        "R-last_mile": "delivered",
        "R-canceled": "canceled",
        "R-resched": "rescheduled",
    }


async def test_a_tick_moves_the_oldest_order_first_and_answers_what_moved(
    app: Any, client: httpx.AsyncClient, auth: dict[str, str], clock: FakeClock
) -> None:
    await place_order(client, auth, order_id="R-old", user="a")
    clock.advance(minutes=1)
    await place_order(client, auth, order_id="R-new", user="b")
    await client.post("/sandbox/orders/R-new/advance")
    assert app.state.sandbox.auto_advance_tick() == [
        ("R-old", "acknowledged"),
        ("R-new", "picking"),
    ]
    assert app.state.sandbox.auto_advance_tick() == [("R-old", "picking"), ("R-new", "delivering")]


async def test_each_tick_sends_its_callbacks_like_a_manual_advance(
    clock: FakeClock,
) -> None:
    retailer = Retailer()
    app = create_sandbox_app(callback_config(clock, retailer, auto_advance_seconds=20))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sandbox"
    ) as client:
        token = (await client.post("/v2/oauth/token", json=TOKEN_BODY)).json()["access_token"]
        await place_order(client, {"Authorization": f"Bearer {token}"}, order_id="R-auto")
        while app.state.auto_advance.tick():
            pass
        await app.state.callbacks.drain()
    await app.state.callbacks.stop()
    assert retailer.names == DELIVERY_EVENTS
    assert {e["event_metadata"]["order_id"] for e in retailer.events} == {"R-auto"}


def test_auto_advance_is_off_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    assert create_sandbox_app(SandboxConfig()).state.auto_advance is None
    assert create_sandbox_app(SandboxConfig(auto_advance_seconds=0)).state.auto_advance is None
    monkeypatch.setenv("SANDBOX_AUTO_ADVANCE_SECONDS", "2.5")
    assert SandboxConfig.from_env().auto_advance_seconds == 2.5
    assert SandboxConfig.from_env(auto_advance_seconds=0).auto_advance_seconds == 0
    with pytest.raises(ValueError, match="auto_advance_seconds"):
        SandboxConfig(auto_advance_seconds=-1)


async def test_the_lifespan_starts_the_timer_and_stops_it_and_the_callbacks(
    clock: FakeClock,
) -> None:
    app = create_sandbox_app(callback_config(clock, Retailer(), auto_advance_seconds=3600))
    async with LifespanManager(app):
        timer_task = app.state.auto_advance._task
        assert timer_task is not None and not timer_task.done()
    assert timer_task.done() and app.state.auto_advance._task is None
    assert app.state.callbacks._stopped


@pytest.fixture(scope="module")
def auto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # callbacks to a port nobody listens on: deliveries fail, and the sandbox carries on
    nobody = f"http://127.0.0.1:{free_port()}/callbacks/instacart"
    with sandbox_server(
        tmp_path_factory.mktemp("sandbox"),
        auto_advance_seconds=0.2,
        callback_url=nobody,
        callback_max_attempts=2,
        callback_backoff_seconds=0.01,
    ) as sandbox:
        yield sandbox.url


def test_over_a_socket_an_order_reaches_delivered_by_itself(auto_url: str) -> None:
    with httpx.Client(base_url=auto_url, timeout=10) as client:
        token = client.post("/v2/oauth/token", json=TOKEN_BODY).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        users = "/v2/fulfillment/users/walker"
        option = client.post(
            f"{users}/service_options/delivery", json={"store_id": "store-sf-001"}
        ).json()["service_options"][0]
        hold_id = client.post(
            f"{users}/service_options/delivery/hold", json={"service_option_id": option["id"]}
        ).json()["hold_id"]
        body = {"hold_id": hold_id, "order_id": "R-walk", "cart": {"items": [{"upc": "1"}]}}
        assert client.post(f"{users}/orders/delivery", json=body).status_code == 200

        def delivered() -> bool:
            return client.get(f"{users}/orders/R-walk").json()["status"] == "delivered"

        wait_until(delivered, what="R-walk delivered by the timer", timeout=20)

        def all_failed() -> dict[str, Any] | None:
            summary = client.get("/sandbox/callbacks").json()
            return summary if summary["failed"] == len(DELIVERY_EVENTS) else None

        summary = wait_until(all_failed, what="every callback given up on", timeout=20)
    assert [r["event_name"] for r in summary["recent"]] == DELIVERY_EVENTS
    assert summary["delivered"] == 0 and summary["pending"] == 0
