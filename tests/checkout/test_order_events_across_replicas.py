"""End to end, two replicas: the customer follows an order on one, Instacart's callbacks land
on the other, and the stream shows every status in order to the end, then closes."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path

import httpx

from app.auth.tokens import mint_token
from app.settings import Settings
from local_processes.ports import free_port
from local_processes.servers import Server
from local_processes.waiting import wait_until
from tests.support.storefront_sync import place

SF = {"postal_code": "94105", "address_line_1": "101 Spear St"}


def test_a_stream_on_one_replica_follows_callbacks_received_by_another(
    migrated_database_url: str, tmp_path: Path
) -> None:
    client_id = f"live-{uuid.uuid4().hex[:8]}"
    receiver_port = free_port()  # the sandbox must know where to call back before it starts
    sandbox = Server(
        "sandbox",
        ["sandbox"],
        {
            "SANDBOX_CLIENT_ID": client_id,
            "SANDBOX_SLOT_CAPACITY": "50",
            "SANDBOX_CALLBACK_URL": f"http://127.0.0.1:{receiver_port}/callbacks/instacart",
            "SANDBOX_CALLBACK_TOKEN_URL": (
                f"http://127.0.0.1:{receiver_port}/callbacks/instacart/token"
            ),
        },
        "/sandbox/stats",
        tmp_path,
    )
    env = {
        "BFF_INSTACART_BASE_URL": sandbox.url,
        "BFF_INSTACART_CLIENT_ID": client_id,
        "BFF_DATABASE_URL": migrated_database_url,
        "BFF_CACHE_NAMESPACE": client_id,
        "BFF_RECONCILER_ENABLED": "false",
        # stored statuses are shown as they are: news comes from callbacks, not from reads
        "BFF_ORDER_REFRESH_SECONDS": "3600",
        # long enough that only pub/sub can carry a change this quickly
        "BFF_EVENT_STREAM_RECHECK_SECONDS": "600",
    }
    streamer = Server("streamer", ["app", "serve"], env, "/readyz", tmp_path)
    receiver = Server("receiver", ["app", "serve"], env, "/readyz", tmp_path, port=receiver_port)
    sandbox.start()
    try:
        streamer.start()
        receiver.start()
        headers = {"Authorization": f"Bearer {mint_token(Settings(), 'live-user')}"}
        with httpx.Client(base_url=streamer.url, headers=headers, timeout=10) as client:
            stores = client.get("/v1/stores", params={"fulfillment": "delivery"} | SF).json()
            store_id = stores["stores"][0]["id"]
            slot = client.get(
                f"/v1/stores/{store_id}/slots", params={"fulfillment": "delivery"} | SF
            ).json()["slots"][0]
            reservation = client.post(
                "/v1/reservations",
                json={
                    "fulfillment": "delivery",
                    "store_id": store_id,
                    "slot_id": slot["id"],
                    "address": SF,
                },
            ).json()
            placed = place(client, reservation, address=SF)
            assert placed.status_code == 201, placed.text
            order_id = placed.json()["id"]

            # a browser: a ticket, then the stream without any Authorization header
            ticket = client.post(f"/v1/orders/{order_id}/events/ticket").json()["ticket"]
            statuses: list[str] = []
            ended = threading.Event()

            def follow() -> None:
                url = f"{streamer.url}/v1/orders/{order_id}/events"
                with httpx.stream("GET", url, params={"ticket": ticket}, timeout=30) as response:
                    assert response.status_code == 200
                    for line in response.iter_lines():
                        if line.startswith("data:"):
                            statuses.append(json.loads(line[5:])["status"])
                ended.set()

            threading.Thread(target=follow, daemon=True).start()
            wait_until(lambda: statuses == ["brand_new"], what="the current order first")
            workflow = ["acknowledged", "picking", "delivering", "delivered"]
            for step, status in enumerate(workflow, start=2):
                advanced = httpx.post(f"{sandbox.url}/sandbox/orders/{order_id}/advance", json={})
                assert advanced.json()["status"] == status
                wait_until(lambda n=step: len(statuses) >= n, what=f"{status} on the stream")
            assert ended.wait(10), "the stream did not end after the terminal status"
        assert statuses == ["brand_new", *workflow]
        receiver_log = receiver.log_path.read_text()
        assert receiver_log.count('"route":"/callbacks/instacart"') >= len(workflow)
        # Postgres holds the final status (read as stored: refresh is off for an hour)
        with httpx.Client(base_url=receiver.url, headers=headers, timeout=10) as other:
            final = other.get(f"/v1/orders/{order_id}").json()
        assert (final["status"], final["cancelable"]) == ("delivered", False)
    finally:
        streamer.stop()
        receiver.stop()
        sandbox.stop()
