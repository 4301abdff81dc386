"""The machine's own Chromium (Debian's; Playwright never downloads one here) and how the
browser tests open it."""

from __future__ import annotations

import os

CHROMIUM = os.environ.get("BFF_TEST_CHROMIUM", "/usr/bin/chromium")
# The flags the machine's own browser check uses: no sandbox as root, and no calls home, which
# this machine's closed network would refuse many at a time.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
# A phone (an iPhone 12/13's CSS size) and a desktop; the demo must work at both.
VIEWPORTS = {"mobile": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 1000}}
# Two shoppers eight hours apart in winter; the stores are San Francisco's (America/Los_Angeles).
BROWSER_ZONES = ["America/Los_Angeles", "Europe/London"]
