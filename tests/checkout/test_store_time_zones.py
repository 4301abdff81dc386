"""Stores and slots carry the store's time zone, slot times its offset (issue 16, item 3):
learned from the stores Instacart finds and shared by the replicas, or stated by the
retailer's store list; reservations and orders keep the zone of the slot they hold."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.stores.directory import read_store_list
from sandbox import SandboxConfig, create_sandbox_app
from sandbox.data import store_catalogue
from tests.support.addresses import SF_POSTAL
from tests.support.checkout import Checkout


def assert_local(slot: dict[str, Any], zone: str) -> None:
    """The slot's times are the same instants, written with the store's offset."""
    assert slot["time_zone"] == zone
    starts = datetime.fromisoformat(slot["starts_at"])
    assert starts.utcoffset() == starts.astimezone(ZoneInfo(zone)).utcoffset()
    assert starts.date().isoformat() == slot["date"]  # the store's day, as Instacart says


async def test_a_zone_one_replica_learned_is_known_to_another(
    open_checkout: Callable[..., Any], user: str
) -> None:
    sandbox = create_sandbox_app(SandboxConfig(client_id=f"test-{uuid.uuid4().hex[:12]}"))
    async with (
        open_checkout(sandbox_app=sandbox) as finder,
        open_checkout(sandbox_app=sandbox) as previewer,
    ):
        stores = await finder.bff.get(
            "/v1/stores",
            params={"fulfillment": "pickup", "postal_code": SF_POSTAL},
            headers=finder.auth(user),
        )
        assert {store["time_zone"] for store in stores.json()["stores"]} == {"America/Los_Angeles"}
        slot = await previewer.first_slot("pickup", stores.json()["stores"][0]["id"], user)
        assert_local(slot, "America/Los_Angeles")


async def test_a_store_never_found_has_no_zone_and_utc_times(checkout: Checkout, user: str) -> None:
    slot = await checkout.first_slot("pickup", "store-phx-001", user)
    assert slot["time_zone"] is None
    assert slot["starts_at"].endswith("Z")


async def test_reservations_and_orders_keep_the_slots_zone(checkout: Checkout, user: str) -> None:
    reservation = await checkout.reserve("pickup", user)
    assert_local(reservation["slot"], "America/Los_Angeles")
    placed = await checkout.place(reservation, user)
    assert placed.status_code == 201, placed.text
    assert placed.json()["slot"] == reservation["slot"]


async def test_a_zone_the_store_list_states_wins_over_the_address(
    open_checkout: Callable[..., Any], user: str, tmp_path: Path
) -> None:
    stores = store_catalogue()
    for store in stores:
        if store["id"] == "store-phx-001":
            store["time_zone"] = "America/Denver"  # as if it kept daylight saving time
    path = tmp_path / "stores.json"
    path.write_text(json.dumps({"stores": stores}))
    async with open_checkout(stores_file=path) as checkout:
        # Known from the list alone, before any search found it.
        assert_local(await checkout.first_slot("pickup", "store-phx-001", user), "America/Denver")
        assert_local(
            await checkout.first_slot("pickup", "store-sf-001", user), "America/Los_Angeles"
        )


def test_a_store_list_with_an_unknown_zone_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "stores.json"
    path.write_text(json.dumps({"stores": [{"id": "s1", "time_zone": "Mars/Olympus_Mons"}]}))
    with pytest.raises(ValueError, match=r"stores\.json.*Mars/Olympus_Mons"):
        read_store_list(path)
