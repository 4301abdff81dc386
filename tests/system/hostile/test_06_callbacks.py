"""Finding 6: callbacks were trusted beyond reason. Any alphanumeric status name was shown to
the customer as is (`fulfillment.refund_issued_call_555_0100` became the order's status), and
an event dated 9999-12-31 froze the order: every later callback was then recorded `stale`.

Here a holder of a valid callback token (a leaked one, or Instacart's own mistake) sends both;
the customer never sees the forged status, and the order's next real step still shows.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from local_processes.waiting import wait_until
from tests.system.hostile.storefront import place_order
from tests.system.hostile.target import Target


def _callback_token(target: Target, bff: httpx.Client) -> str:
    client_id, secret = target.callback_credentials
    answer = bff.post(
        "/callbacks/instacart/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        headers={"X-Forwarded-For": "198.51.100.20"},
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    target.secrets.append(token)
    return token


def _event(order_id: str, status: str, at: str) -> dict[str, Any]:
    return {
        "event_id": random.getrandbits(62),
        "event_name": f"fulfillment.{status}",
        "event_timestamp": at,
        "event_metadata": {"order_id": order_id},
    }


def test_forged_and_far_future_callbacks_never_reach_the_customer(target: Target) -> None:
    customer = target.idp.bearer(f"customer-{uuid.uuid4().hex[:8]}")
    with target.client() as bff:
        order_id = place_order(bff, customer, "delivery")["id"]
        callback = {"Authorization": f"Bearer {_callback_token(target, bff)}"}

        def send(event: dict[str, Any]) -> None:
            answer = bff.post("/callbacks/instacart", json=event, headers=callback)
            assert answer.status_code == 200, answer.text

        def shown() -> str:
            status: str = bff.get(f"/v1/orders/{order_id}", headers=customer).json()["status"]
            return status

        unknown = target.sample("bff_callbacks_total", event="other", result="unknown_event")
        soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
        send(_event(order_id, "refund_issued_call_555_0100", soon))
        wait_until(
            lambda: (
                target.sample("bff_callbacks_total", event="other", result="unknown_event")
                > unknown
            ),
            what="the forged status counted",
            timeout=15,
        )
        assert shown() == "brand_new"

        send(_event(order_id, "acknowledged", "9999-12-31T00:00:00Z"))
        wait_until(
            lambda: shown() == "acknowledged", what="the far-future event taken as now", timeout=15
        )
        later = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
        send(_event(order_id, "picking", later))
        wait_until(lambda: shown() == "picking", what="the next real step shown", timeout=15)
