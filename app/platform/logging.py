"""One log stream: every line a process writes, whoever logged it, rendered by one pipeline.

structlog's events and the standard library's records (the server's own loggers, asyncio,
alembic, the embedded sandbox, any library) meet in one handler on the root logger, whose
structlog ``ProcessorFormatter`` gives them the same fields (``event``, ``level``, ``logger``,
``timestamp``, the request id where one is bound), the same redaction and the same rendering:
JSON lines for machines, readable lines for a person at a terminal. docs/logging.md says what a
line holds and how to read them.
"""

from __future__ import annotations

import logging
import logging.config
import os
import sys
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson
import structlog
from opentelemetry import trace
from pydantic import SecretStr

if TYPE_CHECKING:
    from app.settings import Settings

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
REDACTED = "[redacted]"
# Shorter values are not worth scrubbing from text: they would match ordinary words.
MIN_SCRUBBED_CHARS = 8

# Loggers that servers give handlers of their own (granian writes to stdout in its own format,
# uvicorn likewise): their records must reach the root's handler instead.
SERVER_LOGGERS = ("_granian", "granian.access", "uvicorn", "uvicorn.error", "uvicorn.access")


def granian_log_config() -> dict[str, Any]:
    """What granian applies with dictConfig when it starts serving, in place of its own
    stdout handlers. It merges this over its defaults section by section and sets its logger's
    level in it (a fresh dict each time, then). Incremental, so that the root's handler stays
    and granian's loggers only propagate to it."""
    return {
        "version": 1,
        "incremental": True,
        "formatters": {},
        "handlers": {},
        "loggers": {name: {"propagate": True} for name in ("_granian", "granian.access")},
    }


def _redact(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for key in event_dict.keys() & REDACTED_KEYS:
        event_dict[key] = REDACTED
    return event_dict


class SecretScrubber:
    """The last step: removes the configured secrets' values from a rendered line, wherever a
    library put them (a message's text, a URL, an exception), in plain or JSON-escaped form."""

    def __init__(self, secrets: Iterable[str]) -> None:
        values = {value for value in secrets if len(value) >= MIN_SCRUBBED_CHARS}
        escaped = {orjson.dumps(value).decode()[1:-1] for value in values}
        # Longest first, so that a secret containing another is removed whole.
        self.values = sorted(values | escaped, key=len, reverse=True)

    def __call__(self, _: Any, __: str, line: str) -> str:
        for value in self.values:
            if value in line:
                line = line.replace(value, REDACTED)
        return line


def secret_values(settings: Settings) -> list[str]:
    """Every secret in the settings: their SecretStr fields and the passwords in their URLs."""
    found = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, str) and "://" in value:
            password = urlsplit(value).password
            if password:
                found.append(password)
    return found


class _DropEmbeddedServerWarning(logging.Filter):
    """Granian warns at every start that its embedded mode is experimental: app/serve.py runs
    it that way on purpose (its docstring says why), and an operator can do nothing about it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Embedded server is experimental")


_DROP_EMBEDDED_SERVER_WARNING = _DropEmbeddedServerWarning()


def _drop_uvicorn_colours(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    # uvicorn passes a coloured copy of each message as an extra field, for its own formatter.
    event_dict.pop("color_message", None)
    return event_dict


def _add_trace_ids(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    # A line logged inside a span leads to its trace (docs/tracing.md); none without tracing.
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict["trace_id"] = format(context.trace_id, "032x")
        event_dict["span_id"] = format(context.span_id, "016x")
    return event_dict


def _orjson_dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=default).decode()


def _every_line() -> list[Any]:
    """What every line gets: the bound context (the request id), the trace, who logged it, its
    level and when."""
    return [
        structlog.contextvars.merge_contextvars,
        _add_trace_ids,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def wants_json(settings: Settings, stream: IO[str]) -> bool:
    """JSON unless a person reads the stream: BFF_LOG_JSON decides when set; otherwise only a
    terminal outside production gets readable lines."""
    if settings.log_json is not None:
        return settings.log_json
    return settings.environment == "production" or not stream.isatty()


def build_formatter(*, json: bool, secrets: Iterable[str] = ()) -> logging.Formatter:
    """The formatter of the one handler: structlog's events and stdlib records alike."""
    # Run on stdlib records only; structlog's events went through the same steps when logged.
    foreign_pre_chain: list[Any] = [
        *_every_line(),
        structlog.stdlib.ExtraAdder(),  # fields given with extra=, redacted like any other
        _drop_uvicorn_colours,
    ]
    renderer: list[Any] = (
        [
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=_orjson_dumps),
        ]
        if json
        # ConsoleRenderer lays out exceptions itself; colours unless NO_COLOR asks for none.
        else [structlog.dev.ConsoleRenderer(colors="NO_COLOR" not in os.environ)]
    )
    # The scrubber takes the rendered line, which structlog's processor type does not foresee.
    processors: list[Any] = [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        _redact,
        *renderer,
        SecretScrubber(secrets),
    ]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=foreign_pre_chain, processors=processors
    )


_handler: logging.Handler | None = None


def configure_logging(settings: Settings, *, stream: IO[str] | None = None) -> None:
    """Send structlog and every standard-library logger to one handler on ``stream``
    (standard error by default), rendered as ``settings`` ask. Safe to call again."""
    global _handler
    stream = stream if stream is not None else sys.stderr
    level = logging.getLevelName(settings.log_level.upper())
    structlog.configure(
        processors=[*_every_line(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        # Events below the level are dropped before any processor runs.
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        build_formatter(json=wants_json(settings, stream), secrets=secret_values(settings))
    )
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    root.addHandler(handler)
    root.setLevel(level)
    _handler = handler
    for name in SERVER_LOGGERS:
        server_logger = logging.getLogger(name)
        server_logger.handlers.clear()
        server_logger.propagate = True
    logging.getLogger("_granian").addFilter(_DROP_EMBEDDED_SERVER_WARNING)
    # Warnings (a coroutine never awaited, a deprecation) become records like any other.
    logging.captureWarnings(True)
    # httpx logs every request line with its full URL at INFO; our own upstream log says more.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def skip_unrendered_record_fields() -> None:
    """For a served process: no line shows a record's caller, process or thread, and not
    computing them saves about a quarter of what a line costs (the logging HOWTO's
    "Optimization" names these switches). Left on elsewhere: pytest's log reports show callers."""
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
