"""What CI demands of the suite: nothing may be skipped there. Outside CI a test that lacks a
program or a permission skips, saying which."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import NoReturn

import pytest

from local_processes.tools import ToolMissing, find_tool

IN_CI = os.environ.get("CI", "").lower() == "true"


def skip_or_fail(reason: str) -> NoReturn:
    """Skip locally for want of something; under CI nothing may be skipped, so fail."""
    if IN_CI:
        pytest.fail(f"required under CI: {reason}")
    pytest.skip(reason)


def require_tool(name: str, *, install: str) -> str:
    """The program's path (see local_processes.tools), or skip (fail under CI)."""
    try:
        return find_tool(name, install=install)
    except ToolMissing as missing:
        skip_or_fail(str(missing))


@contextlib.contextmanager
def tools_required() -> Iterator[None]:
    """Around code that finds its programs itself (PrivatePostgres, PrivateRedis): a missing
    one skips the test (fails it under CI)."""
    try:
        yield
    except ToolMissing as missing:
        skip_or_fail(str(missing))
