"""The steps a shopper takes on the demo page, for the browser tests that click through it:
each waits until the page shows its outcome, so a test reads as the checkout it drives."""

from __future__ import annotations

import re
import uuid
from typing import Any

from tests.system.browser.shop import Shop


def open_shop(page: Any, shop: Shop) -> None:
    """The demo, signed in as a user of the test's own (so the order history is its own too)."""
    from playwright.sync_api import expect

    page.goto(f"{shop.bff}/demo")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    page.get_by_label("Shopping as").fill(f"shopper-{uuid.uuid4().hex[:8]}")
    page.get_by_role("button", name="Switch user").click()
    expect(page.locator("#signin-state")).to_contain_text("Signed in as shopper-")
    expect(page.locator("#orders")).to_contain_text("No orders yet.")


def find_stores(page: Any, fulfillment: str, postal_code: str, street: str | None) -> None:
    from playwright.sync_api import expect

    page.locator("label.choice", has_text=fulfillment).click()
    if street is None:
        expect(page.get_by_label("Street address")).to_be_hidden()
    else:
        page.get_by_label("Street address").fill(street)
    page.get_by_label("Postal code").fill(postal_code)
    page.get_by_role("button", name="Find stores").click()
    expect(page.locator("#stores .store").first).to_be_visible()


def show_first_stores_slots(page: Any) -> None:
    from playwright.sync_api import expect

    page.locator("#stores .store").first.click()
    expect(page.locator("#slots button.slot").first).to_be_visible()


def hold_first_slot(page: Any) -> None:
    from playwright.sync_api import expect

    slot = page.locator("#slots button.slot").first
    slot.click()
    expect(slot).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#hold")).to_contain_text("Held for you")
    expect(page.get_by_role("button", name="Place order")).to_be_enabled()


def reserve_first_slot(page: Any, fulfillment: str, postal_code: str, street: str | None) -> None:
    """Finds the stores near the postal code and holds the first store's first slot."""
    find_stores(page, fulfillment, postal_code, street)
    show_first_stores_slots(page)
    hold_first_slot(page)


def place_order(page: Any) -> str:
    """Places the cart (the button scrolled to and clicked as a shopper would, on any screen);
    answers the order's id, which the page keeps off its text."""
    from playwright.sync_api import expect

    button = page.get_by_role("button", name="Place order")
    button.scroll_into_view_if_needed()
    expect(button).to_be_in_viewport()
    button.click()  # Playwright clicks only what would receive the click: nothing covers it
    tracker = page.locator("#tracker")
    expect(tracker).to_be_visible()
    expect(tracker).to_have_attribute("data-order-id", re.compile(r"\S+"))
    # The shopper reads that it is placed, where and when; not the id.
    expect(page.locator("#live-status")).to_contain_text("Order placed")
    order_id: str = tracker.get_attribute("data-order-id")
    expect(tracker.locator("#tracked-id")).to_be_hidden()  # behind "Order details"
    expect(page.locator("#tracked-when")).to_contain_text(" at ")
    return order_id


def assert_cart_is_empty(page: Any) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#cart-summary")).to_have_text("Your cart is empty.")
    quantities = page.locator("#products .qty").all_inner_texts()
    assert quantities and set(quantities) == {"0"}, quantities
    expect(page.get_by_role("button", name="Place order")).to_be_disabled()


# The elements that reach past the screen's right edge, to say what makes a page scroll sideways.
_PAST_THE_EDGE = """() => {
  const width = document.documentElement.clientWidth;
  const name = (e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "")
    + (e.classList.length ? "." + [...e.classList].join(".") : "");
  return [...document.body.querySelectorAll("*")]
    .filter((e) => e.getBoundingClientRect().right > width + 0.5)
    .map((e) => `${name(e)} to ${Math.round(e.getBoundingClientRect().right)} px`);
}"""


def assert_no_sideways_scroll(page: Any) -> None:
    scroll, client = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    if scroll > client:
        wide = page.evaluate(_PAST_THE_EDGE)
        raise AssertionError(f"the page scrolls sideways: {scroll} px in {client} px: {wide}")
