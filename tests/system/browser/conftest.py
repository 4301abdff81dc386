"""The demo storefront in a real browser: Debian's Chromium driven by Playwright, against the
BFF and the sandbox as real processes, the sandbox's callbacks wired to the BFF.

Chromium is the machine's own (/usr/bin/chromium, which scripts/test installs when missing);
Playwright never downloads a browser here. Without either, the tests skip locally and fail
under CI. Screenshots and the servers' logs are kept in tests/system/browser/.artifacts/.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.ci import skip_or_fail
from tests.system.browser.accessibility import install_axe
from tests.system.browser.chromium import BROWSER_ZONES, CHROMIUM, CHROMIUM_ARGS, VIEWPORTS
from tests.system.browser.shop import Shop, start_shop

ARTIFACTS = Path(__file__).resolve().parent / ".artifacts"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    print(f"\nbrowser test artifacts (screenshots, server logs): {ARTIFACTS}")
    return ARTIFACTS


@pytest.fixture(scope="module")
def live_shop(migrated_database_url: str, artifacts: Path) -> Iterator[Shop]:
    """Orders move one step a second by themselves, as a shopper would move them."""
    yield from start_shop(migrated_database_url, artifacts / "live", auto_advance_seconds=1)


@pytest.fixture(scope="module")
def still_shop(migrated_database_url: str, artifacts: Path) -> Iterator[Shop]:
    """Orders stay where they are (to cancel one while it is still brand new)."""
    yield from start_shop(migrated_database_url, artifacts / "still", auto_advance_seconds=0)


@pytest.fixture(scope="module")
def browser(migrated_database_url: str) -> Iterator[Any]:
    """Module-scoped: Playwright's sync API keeps an event loop running in this thread while it
    is open, which asyncio tests (and the database fixtures' asyncio.run) cannot share. So the
    database exists before it opens, and it is closed before other modules run."""
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        skip_or_fail(f"the browser tests need Chromium at {CHROMIUM} (Debian's chromium package)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("the browser tests need the playwright package (the dev extra)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def axe_script() -> Path:
    return install_axe()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest, artifacts: Path) -> Iterator[Any]:
    """A fresh browser context; uncaught script errors and CSP violations fail the test.

    Parametrized indirectly with a {"viewport": name in VIEWPORTS, "zone": IANA zone} (either
    may be left out); by default a desktop near the San Francisco stores the tests use."""
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)
    wanted: dict[str, str] = getattr(request, "param", {})
    context = browser.new_context(
        viewport=VIEWPORTS[wanted.get("viewport", "desktop")],
        locale="en-US",
        timezone_id=wanted.get("zone", BROWSER_ZONES[0]),
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    script_errors: list[str] = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            script_errors.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    try:
        yield page
    finally:
        # Whatever happened, the last state of the page is kept to look at.
        page.screenshot(path=artifacts / f"{request.node.name}-last.png", full_page=True)
        context.close()
    assert not script_errors, f"the page had script errors: {script_errors}"
