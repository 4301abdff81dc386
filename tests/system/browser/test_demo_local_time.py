"""The demo shows a store's slots at the store's own time, whatever the browser's zone: the
same San Francisco slot reads "8:00 AM" to a shopper in Los Angeles and to one in London."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.system.browser.chromium import BROWSER_ZONES
from tests.system.browser.shop import Shop

POSTAL_CODE = "94110"
EN_DASH = "\u2013"  # between a window's two times


def _plain(text: str) -> str:
    """Intl's narrow and no-break spaces, as plain ones."""
    return text.replace("\u202f", " ").replace("\u00a0", " ").strip()


def _store_clock(iso: str, zone: str) -> datetime:
    return datetime.fromisoformat(iso).astimezone(ZoneInfo(zone))


def _hour(moment: datetime) -> str:
    return f"{moment.hour % 12 or 12}:{moment:%M} {moment:%p}"


def expected_window(slot: dict[str, Any]) -> str:
    """What en-US shows for a slot in its store's zone: "8:00 AM \u2013 10:00 AM PST"."""
    starts = _store_clock(slot["starts_at"], slot["time_zone"])
    ends = _store_clock(slot["ends_at"], slot["time_zone"])
    return f"{_hour(starts)} {EN_DASH} {_hour(ends)} {ends.tzname()}"


def expected_day(slot: dict[str, Any]) -> str:
    starts = _store_clock(slot["starts_at"], slot["time_zone"])
    return f"{starts:%a}, {starts:%b} {starts.day}"


def first_pickup_slot(shop: Shop) -> tuple[str, dict[str, Any]]:
    """The first store near POSTAL_CODE and its first pickup slot, as the API gives them."""
    with httpx.Client(base_url=shop.bff, timeout=10) as client:
        token = client.post("/demo/token", json={"user": f"clock-{uuid.uuid4().hex[:8]}"})
        headers = {"Authorization": f"Bearer {token.json()['token']}"}
        stores = client.get(
            "/v1/stores",
            params={"fulfillment": "pickup", "postal_code": POSTAL_CODE},
            headers=headers,
        ).json()["stores"]
        slots = client.get(
            f"/v1/stores/{stores[0]['id']}/slots",
            params={"fulfillment": "pickup"},
            headers=headers,
        ).json()["slots"]
    return stores[0]["id"], slots[0]


@pytest.mark.parametrize(
    "page",
    [{"zone": zone} for zone in BROWSER_ZONES],
    ids=[zone.split("/")[-1] for zone in BROWSER_ZONES],
    indirect=True,
)
def test_slots_show_the_stores_local_time_in_any_browser_zone(page: Any, still_shop: Shop) -> None:
    from playwright.sync_api import expect

    store_id, slot = first_pickup_slot(still_shop)
    assert slot["time_zone"] == "America/Los_Angeles"
    # The API says it too: the slot's times carry the store's offset, not UTC's Z.
    assert slot["starts_at"].endswith(("-08:00", "-07:00")), slot

    page.goto(f"{still_shop.bff}/demo")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    page.locator("label.choice", has_text="Pickup").click()
    page.get_by_label("Postal code").fill(POSTAL_CODE)
    page.get_by_role("button", name="Find stores").click()
    page.locator(f'#stores .store[data-store-id="{store_id}"]').click()
    button = page.locator(f'#slots button.slot[data-slot-id="{slot["id"]}"]')
    expect(button).to_be_visible()

    assert _plain(button.inner_text()) == expected_window(slot)
    day = page.locator(
        ".slot-day", has=page.locator(f'button.slot[data-slot-id="{slot["id"]}"]')
    ).locator("h3")
    assert _plain(day.inner_text()) == expected_day(slot)

    button.click()
    expect(page.locator("#hold")).to_contain_text("Held for you")
    held = _plain(page.locator("#hold").inner_text())
    assert f"{expected_day(slot)}, {expected_window(slot)}" in held, held
