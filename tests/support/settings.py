"""The suite's settings: the Redis it runs against, and settings production accepts (for tests
that check what production does)."""

from __future__ import annotations

import os
from typing import Any


def production_values(**overrides: Any) -> dict[str, Any]:
    """Every setting production requires, with values that pass its rules (app/settings.py),
    on the suite's Postgres and Redis; `overrides` replace or add."""
    values: dict[str, Any] = {
        "environment": "production",
        "database_url": os.environ["BFF_DATABASE_URL"],
        "redis_url": os.environ["BFF_REDIS_URL"],
        "instacart_base_url": "http://127.0.0.1:9",
        "instacart_client_id": "retailer-client",
        "instacart_client_secret": "retailer-secret",
        "auth_jwt_secret": "s" * 40,
        "auth_issuer": "https://id.retailer.example",
        "auth_audience": "checkout",
        "callback_client_secret": "c" * 40,
        "reconciler_enabled": False,
    }
    return values | overrides


def suite_redis_url() -> str:
    """The Redis the suite runs against (tests/conftest.py sets BFF_REDIS_URL unless it is set)."""
    return os.environ["BFF_REDIS_URL"]
