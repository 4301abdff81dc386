"""A customer clicks through the demo storefront in Chromium: delivery and pickup checkouts to a
live status change, a cancel, and a problem+json shown on the page."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from tests.system.browser.shop import Shop


def open_shop(page: Any, shop: Shop) -> None:
    from playwright.sync_api import expect

    page.goto(f"{shop.bff}/demo")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    # each test shops as a user of its own, so the order history is its own too
    page.get_by_label("Shopping as").fill(f"shopper-{uuid.uuid4().hex[:8]}")
    page.get_by_role("button", name="Switch user").click()
    expect(page.locator("#signin-state")).to_contain_text("Signed in as shopper-")
    expect(page.locator("#orders")).to_contain_text("No orders yet.")


def reserve_first_slot(page: Any, fulfillment: str, postal_code: str, street: str | None) -> None:
    from playwright.sync_api import expect

    page.locator("label.choice", has_text=fulfillment).click()
    if street is None:
        expect(page.get_by_label("Street address")).to_be_hidden()
    else:
        page.get_by_label("Street address").fill(street)
    page.get_by_label("Postal code").fill(postal_code)
    page.get_by_role("button", name="Find stores").click()
    stores = page.locator("#stores .store")
    expect(stores.first).to_be_visible()
    stores.first.click()
    slot = page.locator("#slots button.slot").first
    expect(slot).to_be_visible()
    slot.click()
    expect(slot).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#hold")).to_contain_text("Held for you")
    expect(page.get_by_role("button", name="Place order")).to_be_enabled()


def place_and_follow_to_the_end(
    page: Any, final_text: str, midway_picture: Path | None = None
) -> list[str]:
    """Places the cart; answers the statuses the page showed, which must end delivered."""
    from playwright.sync_api import expect

    page.get_by_role("button", name="One more Hass Avocados, 4 ct").click()
    page.get_by_label("Notes for your shopper").fill("Ripe ones, please")
    page.get_by_role("button", name="Place order").click()
    tracker = page.locator("#tracker")
    expect(tracker).to_be_visible()
    expect(page.locator("#tracked-id")).to_have_text(re.compile(r"\S+"))
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
    order_id = page.locator("#tracked-id").inner_text()
    # the history lists the order, its status kept up to date by the stream
    row = page.locator(f'#orders li[data-order-id="{order_id}"]')
    expect(row).to_contain_text(final_text)
    return statuses


def test_delivery_checkout_shows_the_status_move_live_to_delivered(
    page: Any, live_shop: Shop, artifacts: Path
) -> None:
    open_shop(page, live_shop)
    reserve_first_slot(page, "Delivery", "94105", "101 Spear St")
    page.screenshot(path=artifacts / "delivery-reserved.png", full_page=True)
    # demo.png: the README's picture (docs/demo.png)
    statuses = place_and_follow_to_the_end(page, "Delivered", artifacts / "demo.png")
    assert "delivering" in statuses or "picking" in statuses, statuses
    page.screenshot(path=artifacts / "delivery-delivered.png", full_page=True)


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
    # a postal code the API refuses: its problem+json on the page, with the field named
    page.get_by_label("Postal code").fill("94105!")
    page.get_by_role("button", name="Find stores").click()
    problem = page.get_by_role("alert")
    expect(problem).to_be_visible()
    expect(problem).to_contain_text("Finding stores: The request is not valid")
    expect(problem).to_contain_text("postal_code")
    expect(problem).to_contain_text("validation_failed")
    expect(page.get_by_label("Postal code")).to_have_attribute("aria-invalid", "true")
    page.screenshot(path=artifacts / "problem.png", full_page=True)

    reserve_first_slot(page, "Last mile", "94612", "2001 Broadway")
    expect(problem).to_be_hidden()
    page.get_by_role("button", name="Place order").click()
    live = page.locator("#live-status")
    expect(live).to_have_attribute("data-status", "brand_new")
    expect(page.locator("#stream-state")).to_have_attribute("data-state", "live")
    page.get_by_role("button", name="Cancel order").click()
    expect(live).to_have_attribute("data-status", "canceled")
    expect(live).to_contain_text("Canceled")
    expect(page.get_by_role("button", name="Cancel order")).to_be_hidden()
    order_id = page.locator("#tracked-id").inner_text()
    expect(page.locator(f'#orders li[data-order-id="{order_id}"]')).to_contain_text("Canceled")
    page.screenshot(path=artifacts / "canceled.png", full_page=True)
