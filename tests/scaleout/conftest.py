"""The scale-out tests reuse the in-process BFF and sandbox of the checkout tests."""

from __future__ import annotations

from tests.checkout.conftest import open_checkout, user

__all__ = ["open_checkout", "user"]
