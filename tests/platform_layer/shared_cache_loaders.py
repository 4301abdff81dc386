"""A loader for the shared cache's tests that counts its calls (the upstream they stand for)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


def counting_loader(
    body: bytes = b'{"slots":[]}', delay: float = 0.05
) -> tuple[Callable[[], Awaitable[bytes]], dict[str, int]]:
    """A load that takes `delay` (an upstream's answer time) and the count of its calls."""
    calls = {"n": 0}

    async def load() -> bytes:
        calls["n"] += 1
        await asyncio.sleep(delay)  # the upstream's answer time, while other callers arrive
        return body

    return load, calls
