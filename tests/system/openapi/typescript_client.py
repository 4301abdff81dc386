"""The TypeScript client's folder and npm, for the tests that compile or run it."""

from __future__ import annotations

import subprocess

from tests.support.paths import REPO_ROOT

CLIENT = REPO_ROOT / "clients" / "typescript"


def npm(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["npm", *args], cwd=CLIENT, env=env, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
