"""The TypeScript client's packages, installed once for the tests that compile or run it."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.support.ci import skip_or_fail
from tests.system.openapi.typescript_client import CLIENT, npm


@pytest.fixture(scope="session")
def installed() -> None:
    """clients/typescript's pinned packages (`npm ci` from the lock when one is missing)."""
    if shutil.which("npm") is None:
        skip_or_fail("node and npm are needed for clients/typescript")
    package = json.loads((CLIENT / "package.json").read_text())
    wanted = {**package["dependencies"], **package["devDependencies"]}
    if not all((CLIENT / "node_modules" / name / "package.json").exists() for name in wanted):
        result = npm("ci", "--no-audit", "--no-fund")
        assert result.returncode == 0, result.stdout + result.stderr
