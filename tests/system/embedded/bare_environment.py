"""A machine with nothing configured: the settings that put an app in single-process
development mode, and a process environment without any of the suite's settings."""

from __future__ import annotations

import os

# tests/conftest.py pins the real services in the environment; these undo it for one app.
EMBEDDED = {
    "database_url": None,
    "redis_url": None,
    "instacart_base_url": None,
    "auth_jwt_secret": None,
    "auth_jwks_url": None,
}


def bare_environment(**extra: str) -> dict[str, str]:
    """This process's environment without any BFF_* setting, as on a fresh clone."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BFF_", "SANDBOX_"))}
    return env | extra
