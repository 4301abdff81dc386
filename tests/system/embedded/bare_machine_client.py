"""The storefront's side of the bare-machine check, run inside the network namespace:
`python bare_machine_client.py probe`, then `python bare_machine_client.py checkout URL`.

probe: this machine's Postgres (5432) and Redis (6379) cannot be reached, and loopback is the
only interface. checkout: a token from `python -m app token` (the same data folder as the
server), then a whole checkout over HTTP, and a status change the sandbox's callbacks bring.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

# Run as a script inside the namespace: the repository is not on the path by itself.
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from local_processes.waiting import wait_until
from tests.support.paths import REPO_ROOT
from tests.system.embedded.checkout_steps import (
    new_key,
    order_body,
    reservation_body,
    slots_params,
    stores_params,
)


def probe() -> None:
    for port in (5432, 6379):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError as exc:
            print(f"probe: 127.0.0.1:{port} unreachable ({type(exc).__name__})")
        else:
            raise SystemExit(f"probe: 127.0.0.1:{port} is reachable: not a bare machine")
    interfaces = sorted(name for _, name in socket.if_nameindex())
    if interfaces != ["lo"]:
        raise SystemExit(f"probe: interfaces {interfaces}, expected only lo")
    print("probe: interfaces ['lo']")


class HonoursRetryAfter(httpx.HTTPTransport):
    """What a storefront does with 503 over_capacity: wait Retry-After, send it again."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for _ in range(5):
            response = super().handle_request(request)
            if response.status_code != 503 or b"over_capacity" not in response.read():
                return response
            # the storefront's behaviour under test: it waits as long as it was told to
            time.sleep(float(response.headers.get("retry-after", "1")))
        return response


def wait_ready(client: httpx.Client, seconds: float = 20) -> None:
    wait_until(
        lambda: client.get("/readyz").status_code == 200,
        what="checkout: the server to become ready",
        timeout=seconds,
        interval=0.1,
        ignoring=(httpx.TransportError,),
    )


def place(client: httpx.Client, auth: dict[str, str]) -> dict[str, object]:
    stores = client.get("/v1/stores", params=stores_params(), headers=auth)
    assert stores.status_code == 200, stores.text
    store_id = stores.json()["stores"][0]["id"]
    slots = client.get(f"/v1/stores/{store_id}/slots", params=slots_params(), headers=auth)
    assert slots.status_code == 200, slots.text
    reserved = client.post(
        "/v1/reservations",
        json=reservation_body(store_id, slots.json()["slots"][0]["id"]),
        headers=auth,
    )
    assert reserved.status_code == 201, reserved.text
    body, key = order_body(reserved.json()["id"]), new_key()
    placed = client.post("/v1/orders", json=body, headers=auth | key)
    assert placed.status_code == 201, placed.text
    replayed = client.post("/v1/orders", json=body, headers=auth | key)
    assert replayed.status_code == 201 and replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json() == placed.json()
    print(f"checkout: placed {placed.json()['id']} ({placed.json()['status']}), replayed")
    return placed.json()


def checkout(url: str) -> None:
    token = subprocess.run(
        [sys.executable, "-m", "app", "token", "--user", "alice"],
        cwd=REPO_ROOT,
        env=os.environ,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, timeout=10, transport=HonoursRetryAfter()) as client:
        wait_ready(client)
        print("checkout: ready", client.get("/readyz").json())
        # Canceled while still brand new (orders advance every few seconds).
        for _ in range(3):  # the sandbox's timer may move an order on first, rarely
            first = place(client, auth)
            canceled = client.post(f"/v1/orders/{first['id']}/cancel", headers=auth)
            if canceled.status_code != 409:
                break
        assert canceled.status_code == 200, canceled.text
        print(f"checkout: canceled {first['id']} -> {canceled.json()['status']}")
        second = place(client, auth)
        listed = client.get("/v1/orders", headers=auth)
        assert listed.status_code == 200, listed.text
        ids = [order["id"] for order in listed.json()["orders"]]
        assert ids[:2] == [second["id"], first["id"]], ids
        print(f"checkout: listed {ids}")
        # The in-process sandbox moves it on and calls this server back; the stream shows it.
        with client.stream(
            "GET", f"/v1/orders/{second['id']}/events", headers=auth, timeout=30
        ) as stream:
            assert stream.status_code == 200, stream.read()
            statuses: list[str] = []
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    statuses.append(json.loads(line.removeprefix("data:"))["status"])
                    if statuses[-1] != "brand_new":
                        break
        print(f"checkout: event stream {statuses}")
        assert statuses[-1] != "brand_new", statuses
        seen = client.get(f"/v1/orders/{second['id']}", headers=auth).json()["status"]
        assert seen != "brand_new", seen
        print(f"checkout: GET shows {seen}")
    print("checkout: ok")


if __name__ == "__main__":
    if sys.argv[1] == "probe":
        probe()
    else:
        checkout(sys.argv[2])
