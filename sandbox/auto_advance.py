"""`--auto-advance SECONDS`: a timer that moves orders along their workflows by itself.

Every `auto_advance_seconds` the timer calls `SandboxState.auto_advance_tick()`, which moves
each order that is not at the end of its workflow one step, exactly as
`POST /sandbox/orders/{id}/advance` without a body does (and so sends the same callbacks).
Tests call `tick()` (or the state's method) directly instead of waiting for the timer.
"""

from __future__ import annotations

import asyncio
import logging

from sandbox.state import SandboxState

log = logging.getLogger("sandbox")


class AutoAdvance:
    """The timer; `start()` in the app's lifespan, `stop()` at shutdown."""

    def __init__(self, state: SandboxState, seconds: float) -> None:
        self.state = state
        self.seconds = seconds
        self._task: asyncio.Task[None] | None = None

    def tick(self) -> list[tuple[str, str]]:
        """One step for every order that has one; answers the (order id, status) moved."""
        moved = self.state.auto_advance_tick()
        if moved:
            log.info("sandbox.auto_advance.tick moved=%s", len(moved))
        return moved

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="sandbox-auto-advance"
            )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time() + self.seconds
        while True:
            # a fixed cadence: a slow tick does not push every later one back
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            next_at += self.seconds
            try:
                self.tick()
            except Exception:  # a bug in one tick must not stop the timer
                log.exception("sandbox.auto_advance.error")
