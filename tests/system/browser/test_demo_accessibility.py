"""The demo on a phone and on a desktop, in two time zones: every view a checkout passes through
(stores, slots, the cart with a held slot, the placed order, a problem with its details open)
has 0 axe-core violations, and none scrolls sideways."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.system.browser.accessibility import axe_violations
from tests.system.browser.chromium import BROWSER_ZONES, VIEWPORTS
from tests.system.browser.shop import Shop
from tests.system.browser.storefront_steps import (
    assert_cart_is_empty,
    assert_no_sideways_scroll,
    find_stores,
    hold_first_slot,
    open_shop,
    place_order,
    show_first_stores_slots,
)

SCREENS = [{"viewport": name, "zone": zone} for name in VIEWPORTS for zone in BROWSER_ZONES]


@pytest.mark.parametrize(
    "page",
    SCREENS,
    ids=[f"{s['viewport']}-{s['zone'].split('/')[-1]}" for s in SCREENS],
    indirect=True,
)
def test_every_view_of_a_checkout_is_accessible_and_fits_the_screen(
    page: Any, still_shop: Shop, axe_script: Path
) -> None:
    from playwright.sync_api import expect

    found: dict[str, list[str]] = {}

    def scan(view: str) -> None:
        assert_no_sideways_scroll(page)
        found[view] = axe_violations(page, axe_script)

    open_shop(page, still_shop)
    page.get_by_label("Postal code").fill("94105!")
    page.get_by_role("button", name="Find stores").click()
    expect(page.get_by_role("alert")).to_be_visible()
    page.get_by_role("alert").locator("summary").click()
    scan("problem, its details open")

    find_stores(page, "Pickup", "94110", street=None)
    scan("store list")
    show_first_stores_slots(page)
    scan("slots")
    hold_first_slot(page)
    scan("cart, a slot held")
    order_id = place_order(page)
    assert_cart_is_empty(page)
    # the history's row too, with its Follow button (whose name once hid its visible word)
    expect(page.locator(f'#orders li[data-order-id="{order_id}"] button')).to_have_text("Following")
    page.locator("#tracker summary").click()
    scan("order, its details open")

    assert found == {view: [] for view in found}
