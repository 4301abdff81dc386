"""Waiting for something another task, thread or process does: poll it until it holds, with a
deadline, and fail naming what was awaited. Never a bare sleep standing in for the event."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

DEFAULT_TIMEOUT = 10.0
DEFAULT_INTERVAL = 0.02


class WaitTimedOut(AssertionError):
    """What was awaited did not happen in time (an assertion: the test or the run fails)."""


def wait_until(
    predicate: Callable[[], T | None],
    *,
    what: str,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = DEFAULT_INTERVAL,
    ignoring: tuple[type[Exception], ...] = (),
    explain: Callable[[], str] | None = None,
) -> T:
    """Call `predicate` until it returns something truthy, and return that.

    `ignoring`: exceptions that mean "not yet" (a server not listening yet); any other one
    propagates at once. `explain`: more to say on failure (a log's tail, say).
    """
    deadline = time.monotonic() + timeout
    while True:
        last_error: Exception | None = None
        try:
            if result := predicate():
                return result
        except ignoring as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            raise _timed_out(what, timeout, last_error, explain)
        time.sleep(interval)


async def wait_until_async(
    predicate: Callable[[], Awaitable[T | None] | T | None],
    *,
    what: str,
    # The deadline is the point, and the failure names what was awaited: asyncio.timeout around
    # the call (which ASYNC109 prefers) could not.
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109
    interval: float = DEFAULT_INTERVAL,
    ignoring: tuple[type[Exception], ...] = (),
    explain: Callable[[], str] | None = None,
) -> T:
    """`wait_until` for the event loop: the predicate may be a coroutine function, and the
    loop runs other tasks between two calls."""
    deadline = time.monotonic() + timeout
    while True:
        last_error: Exception | None = None
        try:
            result = predicate()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
        except ignoring as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            raise _timed_out(what, timeout, last_error, explain)
        await asyncio.sleep(interval)


def _timed_out(
    what: str, timeout: float, last_error: Exception | None, explain: Callable[[], str] | None
) -> WaitTimedOut:
    message = f"waited {timeout:g} s for {what}, in vain"
    if last_error is not None:
        message += f" (last: {type(last_error).__name__}: {last_error})"
    if explain is not None:
        message += f"\n{explain()}"
    return WaitTimedOut(message)
