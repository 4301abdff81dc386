"""A customer clicks through the demo storefront in Chromium: delivery and pickup checkouts to a
live status change (on a phone and on a desktop), a cancel, and a problem shown to the shopper
in words, its code and request id behind "Details"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.system.browser.chromium import VIEWPORTS
from tests.system.browser.shop import Shop
from tests.system.browser.storefront_steps import (
    assert_cart_is_empty,
    assert_no_sideways_scroll,
    open_shop,
    place_order,
    reserve_first_slot,
)


def place_and_follow_to_the_end(
    page: Any, final_text: str, midway_picture: Path | None = None
) -> list[str]:
    """Places the cart; answers the statuses the page showed, which must end delivered."""
    from playwright.sync_api import expect

    page.get_by_role("button", name="One more Hass Avocados, 4 ct").click()
    page.get_by_label("Notes for your shopper").fill("Ripe ones, please")
    order_id = place_order(page)
    assert_cart_is_empty(page)  # ordered: the next order starts afresh
    live = page.locator("#live-status")
    if midway_picture is not None:
        # a picture of the order on its way (for the README); where exactly does not matter
        expect(page.locator("#timeline li").nth(2)).to_be_attached()
        page.screenshot(path=midway_picture)
    # The order's answer shows it brand new; every later status arrives over the event stream
    # (the page reads the order no other way), moved along by the sandbox's shoppers.
    expect(live).to_have_attribute("data-status", "delivered", timeout=30_000)
    expect(live).to_contain_text(final_text)
    expect(page.locator("#stream-state")).to_have_attribute("data-state", "ended")
    expect(page.get_by_role("button", name="Cancel order")).to_be_hidden()
    statuses = page.locator("#timeline li").evaluate_all(
        "items => items.map(i => i.dataset.status)"
    )
    assert statuses[0] == "brand_new"
    assert statuses[-1] == "delivered"
    assert len(statuses) >= 3, statuses  # at least two changes seen live, not only the last
    # the history lists the order, its status kept up to date by the stream, its id not shown
    row = page.locator(f'#orders li[data-order-id="{order_id}"]')
    expect(row).to_contain_text(final_text)
    assert order_id not in row.inner_text()
    return statuses


@pytest.mark.parametrize(
    "page", [{"viewport": name} for name in VIEWPORTS], ids=list(VIEWPORTS), indirect=True
)
def test_delivery_checkout_shows_the_status_move_live_to_delivered(
    page: Any, live_shop: Shop, artifacts: Path
) -> None:
    screen = "desktop" if page.viewport_size == VIEWPORTS["desktop"] else "mobile"
    open_shop(page, live_shop)
    reserve_first_slot(page, "Delivery", "94105", "101 Spear St")
    assert_no_sideways_scroll(page)
    page.screenshot(path=artifacts / f"delivery-reserved-{screen}.png", full_page=True)
    # demo.png: the README's picture (docs/demo.png), a desktop's
    picture = artifacts / "demo.png" if screen == "desktop" else None
    statuses = place_and_follow_to_the_end(page, "Delivered", picture)
    assert "delivering" in statuses or "picking" in statuses, statuses
    assert_no_sideways_scroll(page)
    page.screenshot(path=artifacts / f"delivery-delivered-{screen}.png", full_page=True)


def test_pickup_checkout_shows_the_status_move_live_to_picked_up(
    page: Any, live_shop: Shop, artifacts: Path
) -> None:
    open_shop(page, live_shop)
    reserve_first_slot(page, "Pickup", "94110", street=None)
    place_and_follow_to_the_end(page, "Picked up")
    page.screenshot(path=artifacts / "pickup-picked-up.png", full_page=True)


def test_a_brand_new_order_is_canceled_and_a_problem_is_shown_clearly(
    page: Any, still_shop: Shop, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    open_shop(page, still_shop)
    # a postal code the API refuses: a sentence for the shopper, the field marked, and the
    # problem+json's code, status and request id only behind "Details"
    page.get_by_label("Postal code").fill("94105!")
    page.get_by_role("button", name="Find stores").click()
    problem = page.get_by_role("alert")
    expect(problem).to_be_visible()
    expect(page.locator("#problem-title")).to_have_text("Please check the postal code.")
    expect(page.get_by_label("Postal code")).to_have_attribute("aria-invalid", "true")
    details = problem.locator("details")
    expect(details.locator("#problem-meta")).to_be_hidden()
    shown = problem.inner_text()  # what a shopper sees: a closed <details> shows its summary
    for fact in ("validation_failed", "422", "postal_code", "request", "not valid"):
        assert fact not in shown, shown
    details.locator("summary").click()
    expect(details).to_contain_text("Finding stores: The request is not valid")
    expect(details).to_contain_text("postal_code")
    expect(details).to_contain_text("validation_failed")
    expect(details).to_contain_text("HTTP 422")
    expect(details).to_contain_text("request ")
    page.screenshot(path=artifacts / "problem.png", full_page=True)

    reserve_first_slot(page, "Last mile", "94612", "2001 Broadway")
    expect(problem).to_be_hidden()
    order_id = place_order(page)
    live = page.locator("#live-status")
    expect(live).to_have_attribute("data-status", "brand_new")
    expect(page.locator("#stream-state")).to_have_attribute("data-state", "live")
    page.get_by_role("button", name="Cancel order").click()
    expect(live).to_have_attribute("data-status", "canceled")
    expect(live).to_contain_text("Canceled")
    expect(page.get_by_role("button", name="Cancel order")).to_be_hidden()
    expect(page.locator(f'#orders li[data-order-id="{order_id}"]')).to_contain_text("Canceled")
    page.screenshot(path=artifacts / "canceled.png", full_page=True)
