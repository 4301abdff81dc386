"""The one fake clock: time that moves only when the test moves it.

Code under test takes its time sources as callables, by name: wall time (``clock=``, seconds
since the epoch), monotonic time (``monotonic=``), an aware UTC datetime (the sandbox's
``SandboxConfig.clock``) and a sleep (``sleep=``). A test hands it the matching reading:
``clock=fake.time``, ``monotonic=fake.monotonic``, ``clock=fake.utc``, ``sleep=fake.sleep``,
and moves them all together with ``advance``.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta


class FakeClock:
    """Starts at `start` (a datetime, or seconds since the epoch; real time if left out)."""

    def __init__(self, start: datetime | float | None = None) -> None:
        if isinstance(start, datetime):
            start = start.timestamp()
        self.now: float = time.time() if start is None else start
        self.slept = 0.0

    def time(self) -> float:
        """Wall time, seconds since the epoch."""
        return self.now

    def monotonic(self) -> float:
        """Monotonic time: moves with wall time here, since the test moves both."""
        return self.now

    def utc(self) -> datetime:
        """Wall time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.now, UTC)

    def advance(self, seconds: float = 0, **delta: float) -> None:
        """Move on by `seconds`, or by timedelta's keywords (``minutes=11``)."""
        self.now += seconds + timedelta(**delta).total_seconds()

    async def sleep(self, seconds: float) -> None:
        """A sleep that takes no real time: the clock moves on, and other tasks get a turn."""
        self.advance(seconds)
        self.slept += seconds
        await asyncio.sleep(0)
