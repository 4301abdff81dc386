"""Single-process development mode in-process: SQLite, the in-process Redis, the sandbox inside
the service with its callbacks, and the development secret, with nothing configured."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import pytest
from pydantic import ValidationError

from app.dev.embedded import SECRET_FILE, in_process_redis
from app.live_status.fan_out import OrderEventsFanOut
from app.orders.events import OrderEvents
from app.settings import Settings
from local_processes.waiting import wait_until_async
from tests.support.event_streams import EventReader, events_path, serving
from tests.support.paths import REPO_ROOT
from tests.support.tokens import bearer
from tests.system.embedded.bare_environment import EMBEDDED, bare_environment
from tests.system.embedded.checkout_steps import (
    new_key,
    order_body,
    reservation_body,
    slots_params,
    stores_params,
)


def bearer_of(app: Any, user: str) -> dict[str, str]:
    # The settings the lifespan filled in: they hold the data folder's development secret.
    return bearer(user, app.state.settings)


async def place_order(client: httpx.AsyncClient, auth: dict[str, str]) -> httpx.Response:
    stores = await client.get("/v1/stores", params=stores_params(), headers=auth)
    assert stores.status_code == 200, stores.text
    store_id = stores.json()["stores"][0]["id"]
    slots = await client.get(f"/v1/stores/{store_id}/slots", params=slots_params(), headers=auth)
    assert slots.status_code == 200, slots.text
    slot_id = slots.json()["slots"][0]["id"]
    reserved = await client.post(
        "/v1/reservations", json=reservation_body(store_id, slot_id), headers=auth
    )
    assert reserved.status_code == 201, reserved.text
    body = order_body(reserved.json()["id"])
    key = new_key()
    placed = await client.post("/v1/orders", json=body, headers=auth | key)
    assert placed.status_code == 201, placed.text
    replayed = await client.post("/v1/orders", json=body, headers=auth | key)
    assert replayed.status_code == 201, replayed.text
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json() == placed.json()
    return placed


async def test_a_whole_checkout_runs_with_nothing_configured(
    open_embedded: Callable[..., Any], tmp_path: Path
) -> None:
    # No refresh from Instacart on reads and no Postgres re-check on streams: a status change
    # can only come from the sandbox's callback, then the in-process Redis's pub/sub.
    overrides = {"order_refresh_seconds": 3600, "event_stream_recheck_seconds": 600}
    async with open_embedded(**overrides) as (app, client):
        assert app.state.bff.embedded == ("database", "redis", "instacart", "auth")
        assert app.state.settings.database_url.startswith("sqlite+aiosqlite:///")
        assert (tmp_path / ".data" / "bff.sqlite3").is_file()
        assert (await client.get("/readyz")).status_code == 200
        auth = bearer_of(app, "alice")

        first = (await place_order(client, auth)).json()
        assert first["status"] == "brand_new"
        canceled = await client.post(f"/v1/orders/{first['id']}/cancel", headers=auth)
        assert canceled.status_code == 200, canceled.text
        assert canceled.json()["status"] == "canceled"

        second = (await place_order(client, auth)).json()
        listed = await client.get("/v1/orders", headers=auth)
        assert listed.status_code == 200, listed.text
        assert [o["id"] for o in listed.json()["orders"]] == [second["id"], first["id"]]

        async with (
            serving(app) as url,  # ASGITransport buffers a stream; a real socket does not
            httpx.AsyncClient(base_url=url, timeout=10) as live,
            live.stream("GET", events_path(second["id"]), headers=auth) as stream,
        ):
            assert stream.status_code == 200
            events = EventReader(stream)
            shown = await events.status()
            assert shown is not None and shown["order"]["status"] == "brand_new"
            # One step along the workflow at Instacart (the sandbox's timer does the same).
            moved = app.state.bff.sandbox.state.sandbox.auto_advance_tick()
            assert moved == [(second["id"], "acknowledged")]
            changed = await events.status()
            assert changed is not None and changed["order"]["status"] == "acknowledged"

        seen = await client.get(f"/v1/orders/{second['id']}", headers=auth)
        assert seen.status_code == 200 and seen.json()["status"] == "acknowledged"
        sandbox = app.state.bff.sandbox.state  # the callbacks went to this BFF, in-process
        assert sandbox.config.callback_url == "http://bff.embedded/callbacks/instacart"
        assert sandbox.callbacks.delivered >= 3 and sandbox.callbacks.failed == 0


async def test_the_sandbox_timer_moves_orders_and_callbacks_show_them(
    open_embedded: Callable[..., Any],
) -> None:
    overrides = {"order_refresh_seconds": 3600, "sandbox_auto_advance_seconds": 0.2}
    async with open_embedded(**overrides) as (app, client):
        auth = bearer_of(app, "bob")
        order = (await place_order(client, auth)).json()

        async def delivered() -> bool:
            seen = await client.get(f"/v1/orders/{order['id']}", headers=auth)
            return bool(seen.json()["status"] == "delivered")

        await wait_until_async(delivered, what="the timer to bring the order to delivered")


async def test_the_development_secret_and_the_orders_outlive_a_restart(
    open_embedded: Callable[..., Any], tmp_path: Path
) -> None:
    async with open_embedded() as (app, client):
        secret = app.state.settings.auth_jwt_secret.get_secret_value()
        order = (await place_order(client, bearer_of(app, "alice"))).json()
    path = tmp_path / ".data" / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(secret) >= 40

    # What a developer types in the same directory, with nothing configured.
    printed = subprocess.run(
        [sys.executable, "-m", "app", "token", "--user", "alice"],
        cwd=tmp_path,
        env=bare_environment(PYTHONPATH=str(REPO_ROOT)),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()
    assert jwt.decode(printed, secret, algorithms=["HS256"])["sub"] == "alice"

    async with open_embedded() as (again, client):
        assert again.state.settings.auth_jwt_secret.get_secret_value() == secret
        listed = await client.get("/v1/orders", headers={"Authorization": f"Bearer {printed}"})
        assert listed.status_code == 200, listed.text
        assert [o["id"] for o in listed.json()["orders"]] == [order["id"]]
        forged = jwt.encode({"sub": "alice", "exp": 4102444800}, "another-" * 5, algorithm="HS256")
        refused = await client.get("/v1/orders", headers={"Authorization": f"Bearer {forged}"})
        assert refused.status_code == 401


async def test_the_in_process_redis_runs_locks_scripts_and_pub_sub() -> None:
    first, second = in_process_redis(), in_process_redis(max_connections=2)
    try:
        # One Redis for the whole process: a lock taken by one client holds for the other.
        async with first.lock("embedded-test:lock", timeout=5):
            assert not await second.lock("embedded-test:lock", timeout=5).acquire(blocking=False)
        assert await second.eval("return redis.call('incr', KEYS[1])", 1, "embedded-test:n") >= 1
        events = OrderEvents(second, "embedded-test")
        fan_out = OrderEventsFanOut(second, events.channel)
        fan_out.start()
        try:
            async with fan_out.subscribe("ord_x") as subscription:
                assert subscription.live
                message = {"version": 7, "order": {"id": "ord_x", "status": "picking"}}
                assert await first.publish(events.channel("ord_x"), orjson.dumps(message)) == 1
                change = await subscription.next_change(2)
        finally:
            await fan_out.aclose()
        assert change is not None and change.version == 7
        assert change.order["status"] == "picking"
    finally:
        await first.aclose()
        await second.aclose()


def test_production_refuses_development_mode_and_names_what_to_set() -> None:
    production = {"environment": "production", "callback_client_secret": "a-real-one-" * 3}
    with pytest.raises(ValidationError) as refused:
        Settings(**(production | EMBEDDED))
    message = str(refused.value)
    assert "development mode is refused" in message
    for name in ("BFF_DATABASE_URL", "BFF_REDIS_URL", "BFF_INSTACART_BASE_URL"):
        assert name in message
    assert "BFF_AUTH_JWT_SECRET or BFF_AUTH_JWKS_URL" in message

    with pytest.raises(ValidationError) as one_missing:
        # The database and Instacart from the suite's environment.
        Settings(**(production | {"redis_url": None, "auth_jwt_secret": "a-real-secret-" * 3}))
    assert "set BFF_REDIS_URL" in str(one_missing.value)
    assert "BFF_DATABASE_URL" not in str(one_missing.value)


def test_the_server_refuses_to_start_in_production_with_nothing_configured(
    tmp_path: Path,
) -> None:
    env = bare_environment(PYTHONPATH=str(REPO_ROOT), BFF_ENVIRONMENT="production")
    started = subprocess.run(
        [sys.executable, "-m", "app", "serve", "--port", "1"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert started.returncode != 0
    assert "development mode is refused" in started.stderr
    assert "Traceback" not in started.stderr
    assert "BFF_DATABASE_URL" in started.stderr
    assert not (tmp_path / ".data").exists()  # refused before touching anything
    assert os.listdir(tmp_path) == []


def test_the_reconcile_command_says_the_embedded_sandbox_lives_in_the_server(
    tmp_path: Path,
) -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "app", "reconcile"],
        cwd=tmp_path,
        env=bare_environment(PYTHONPATH=str(REPO_ROOT), BFF_ENVIRONMENT="development"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert ran.returncode == 2
    assert "BFF_INSTACART_BASE_URL is not set" in ran.stderr
