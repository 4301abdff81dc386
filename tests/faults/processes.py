"""Kept only for tests/test_live_status.py, which the lead is editing: the last commit of the
tests-support branch moves it onto local_processes and deletes this module."""

from __future__ import annotations

from collections.abc import Callable

from local_processes.ports import free_port
from local_processes.servers import Server
from local_processes.waiting import wait_until

__all__ = ["Server", "free_port", "poll"]


def poll(what: str, ready: Callable[[], object], timeout: float) -> None:
    wait_until(ready, what=what, timeout=timeout)
