"""Every rate, size and time limit a client can run into is in the README's Security table,
with its default, so that the table and app/settings.py cannot drift apart (issue 14).

A setting is taken for a limit by its name; the few such names that bound the service's own
work rather than what a client can make it do are listed below with the reason, so that a new
one must be either documented or exempted here on purpose.
"""

from __future__ import annotations

import re

from app.settings import Settings
from tests.support.paths import REPO_ROOT

README = REPO_ROOT / "README.md"

LIMIT_NAME = re.compile(
    r"^rate_limit_|^max_|_max_|_in_flight$|_budget_ms$|_backlog$|_concurrent_requests$"
    r"|_bytes$|_per_minute$|_timeout_seconds$|_deadline_seconds$|_lifetime_seconds$"
    r"|_ttl_seconds$|_percent$"
)
OWN_WORK = {
    "redis_max_connections": "the service's own Redis pool",
    "redis_pool_timeout_seconds": "the service's own wait for a Redis connection",
    "redis_socket_timeout_seconds": "the service's own Redis calls",
    "readiness_timeout_seconds": "the probe's own checks of Postgres and Redis",
    "instacart_connect_timeout_seconds": "calls to Instacart (docs/degrading.md)",
    "instacart_read_timeout_seconds": "calls to Instacart",
    "instacart_create_deadline_seconds": "calls to Instacart",
    "instacart_max_read_connections": "connections to Instacart",
    "instacart_max_create_connections": "connections to Instacart",
    "store_cache_ttl_seconds": "how long a store search is cached",
    "slot_cache_ttl_seconds": "how long a slot preview is cached",
    "reservation_ttl_seconds": "how long a reservation record is kept",
    "idempotency_ttl_seconds": "how long an idempotency key is kept",
    "shutdown_timeout_seconds": "how long a stopping replica waits for its requests",
}


def _security_table() -> dict[str, str]:
    """{variable: default as shown} of the table in the README's Security section."""
    section = README.read_text().split("\n## Security\n", 1)[1].split("\n## ", 1)[0]
    row = re.compile(r"^\|[^|\n]*\|\s*`(BFF_[A-Z0-9_]+)`\s*\|\s*([^|\n]+?)\s*\|$", re.MULTILINE)
    return dict(row.findall(section))


def test_every_limit_setting_is_in_the_readmes_security_table() -> None:
    limits = {
        f"BFF_{name.upper()}"
        for name in Settings.model_fields
        if LIMIT_NAME.search(name) and name not in OWN_WORK
    }
    missing = limits - _security_table().keys()
    assert not missing, f"add to the README's Security table (or exempt here): {sorted(missing)}"


def test_the_table_names_settings_with_their_defaults() -> None:
    table = _security_table()
    assert len(table) >= 15
    for variable, shown in table.items():
        field = Settings.model_fields.get(variable.removeprefix("BFF_").lower())
        assert field is not None, f"{variable} is not a setting"
        assert float(shown) == float(field.default), f"{variable}: {shown} != {field.default}"


def test_the_exemptions_are_limit_settings() -> None:
    for name in OWN_WORK:
        assert name in Settings.model_fields and LIMIT_NAME.search(name), name
