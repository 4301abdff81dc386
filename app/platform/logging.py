"""structlog set-up: JSON for machines, console for people, and no secrets either way."""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson
import structlog

# Keys whose values never reach a log line, whatever logged them. Addresses and phone numbers
# are personal data; tokens and secrets are credentials.
REDACTED_KEYS = frozenset(
    {
        "access_token",
        "ticket",
        "token",
        "authorization",
        "client_secret",
        "secret",
        "password",
        "address",
        "delivery_address",
        "address_line_1",
        "address_line_2",
        "phone",
        "phone_number",
    }
)


def _redact(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for key in event_dict.keys() & REDACTED_KEYS:
        event_dict[key] = "[redacted]"
    return event_dict


def _orjson_dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=default).decode()


def configure_logging(level: str = "INFO", json: bool | None = None) -> None:
    """Configure structlog and the standard library's root logger (uvicorn, httpx) alike."""
    if json is None:
        json = not sys.stderr.isatty()
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
        structlog.processors.format_exc_info,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_orjson_dumps)
        if json
        else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(name)s %(message)s")
    # httpx logs every request line with its full URL at INFO; our own upstream log says more.
    logging.getLogger("httpx").setLevel(logging.WARNING)
