"""One log stream (issue 16): whoever logs (structlog, a standard-library logger, the server,
asyncio, a warning), a served process writes one JSON object per line, with the request id where
one is bound and no secret; a person at a terminal gets readable lines instead."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import structlog
import uvicorn

from app.platform.logging import configure_logging
from app.settings import Settings
from local_processes.servers import Server
from tests.support.settings import production_values

# Set in the served process's environment; none may reach its log.
INSTACART_SECRET = f"instacart-{uuid.uuid4().hex}"
CALLBACK_SECRET = f"callback-{uuid.uuid4().hex}"


def _json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` as a JSON object with the fields every line carries."""
    records = []
    for line in text.splitlines():
        record = json.loads(line)  # fails on any line that is not JSON
        assert isinstance(record, dict), line
        assert {"event", "level", "timestamp", "logger"} <= record.keys(), line
        records.append(record)
    return records


def _send_a_malformed_request_line(url: str) -> bytes:
    host, port = httpx.URL(url).host, httpx.URL(url).port
    assert port is not None
    with socket.create_connection((host, port), timeout=5) as connection:
        connection.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        return connection.recv(1024)


def test_a_served_process_writes_only_json_lines_whoever_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Development mode with every part embedded: alembic and the sandbox log through the
    # standard library, granian through its own loggers, the service through structlog.
    for name in ("BFF_DATABASE_URL", "BFF_REDIS_URL", "BFF_INSTACART_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("BFF_AUTH_JWT_SECRET", raising=False)
    data = tmp_path / "data"
    env = {
        "BFF_ENVIRONMENT": "development",
        "BFF_DATA_DIR": str(data),
        "BFF_LOG_JSON": "true",
        "BFF_LOG_LEVEL": "INFO",
        "BFF_INSTACART_CLIENT_SECRET": INSTACART_SECRET,
        "BFF_CALLBACK_CLIENT_SECRET": CALLBACK_SECRET,
        "BFF_SANDBOX_AUTO_ADVANCE_SECONDS": "0",
    }
    log_path = tmp_path / "bff.log"
    request_id = f"logs-{uuid.uuid4().hex[:12]}"
    with Server("bff", ["app", "serve"], env, "/readyz", tmp_path) as bff:
        url = bff.url
        jwt_secret = (data / "jwt-secret").read_text().strip()
        now = int(time.time())
        token = jwt.encode({"sub": "alice", "iat": now, "exp": now + 600}, jwt_secret, "HS256")
        stores = httpx.get(
            f"{url}/v1/stores",
            params={"fulfillment": "delivery", "postal_code": "94105"},
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": request_id},
            timeout=10,
        )
        assert stores.status_code == 200, stores.text
        assert _send_a_malformed_request_line(url).startswith(b"HTTP/1.1 400")
    # The process has stopped: its shutdown lines are in the file too.
    text = log_path.read_text()
    records = _json_lines(text)
    loggers = {record["logger"] for record in records}
    assert {"_granian", "alembic.runtime.migration", "app.access", "sandbox"} <= loggers, loggers
    assert any(r["event"] == "Shutting down granian" for r in records)
    assert not any("experimental" in r["event"] for r in records)
    # The sandbox's standard-library line, logged inside the request, carries its id.
    in_request = [r for r in records if r.get("request_id") == request_id]
    assert {"app.access", "sandbox"} <= {r["logger"] for r in in_request}, in_request
    for secret in (INSTACART_SECRET, CALLBACK_SECRET, jwt_secret, token):
        assert secret not in text


class _Terminal(io.StringIO):
    """A stream that says it is a terminal, as a developer's stderr does."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def log_to() -> Iterator[Callable[..., io.StringIO]]:
    """``log_to(stream, **settings)`` sends the process's logging to ``stream``; the suite's
    own configuration comes back afterwards."""

    def configure(stream: io.StringIO, **values: Any) -> io.StringIO:
        configure_logging(Settings(**({"environment": "test"} | values)), stream=stream)
        return stream

    yield configure
    configure_logging(Settings(environment="test", log_json=True))


def test_stdlib_records_are_redacted_like_structlog_events(
    log_to: Callable[..., io.StringIO],
) -> None:
    secret = f"s3cret-{uuid.uuid4().hex}"
    stream = log_to(io.StringIO(), log_json=True, callback_client_secret=secret)
    library = logging.getLogger("some.library")
    library.warning("connecting with %s", secret, extra={"password": "hunter22", "attempt": 2})
    structlog.get_logger("app.test").warning("login.failed", password="hunter22", user="bob")
    library.warning('quoted "%s"', secret)  # in JSON, a secret with quotes is escaped
    first, second, third = _json_lines(stream.getvalue())
    assert first["logger"] == "some.library" and first["level"] == "warning"
    assert first["event"] == "connecting with [redacted]"
    assert first["password"] == "[redacted]" and first["attempt"] == 2
    assert second["logger"] == "app.test" and second["password"] == "[redacted]"
    assert second["user"] == "bob"
    assert third["event"] == 'quoted "[redacted]"'
    assert secret not in stream.getvalue() and "hunter22" not in stream.getvalue()


def test_asyncio_warnings_and_uvicorn_join_the_stream_with_the_request_id(
    log_to: Callable[..., io.StringIO],
) -> None:
    # uvicorn installs its own handlers when configured; the service's configuration after it
    # (create_app runs after uvicorn's Config) takes its loggers over.
    uvicorn.Config(app=None, log_config=uvicorn.config.LOGGING_CONFIG)
    # pytest records each test's warnings with a hook of its own, installed after the suite's
    # first configuration took the hook: let this one take it again, as a process's only does.
    logging.captureWarnings(False)
    stream = log_to(io.StringIO(), log_json=True)
    structlog.contextvars.bind_contextvars(request_id="req-42")
    try:
        logging.getLogger("uvicorn.error").error("Exception in ASGI application")
        loop = asyncio.new_event_loop()
        loop.call_exception_handler({"message": "Task exception was never retrieved"})
        loop.close()
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("a deprecated call", DeprecationWarning, stacklevel=1)
    finally:
        structlog.contextvars.unbind_contextvars("request_id")
    records = _json_lines(stream.getvalue())
    assert [r["logger"] for r in records] == ["uvicorn.error", "asyncio", "py.warnings"]
    assert all(r["request_id"] == "req-42" for r in records)
    assert "color_message" not in records[0]


def test_a_terminal_gets_readable_lines_outside_production(
    log_to: Callable[..., io.StringIO], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    stream = log_to(_Terminal(), environment="development")
    logging.getLogger("some.library").warning("disk %s full", "nearly")
    structlog.get_logger("app.test").info("order.placed", attempt=2)
    library_line, app_line = stream.getvalue().splitlines()
    assert "[warning  ] disk nearly full" in library_line and "[some.library]" in library_line
    assert "order.placed" in app_line and "attempt=2" in app_line
    assert "\x1b[" not in stream.getvalue()  # NO_COLOR: plain


@pytest.mark.parametrize(
    ("values", "stream", "is_json"),
    [
        ({"environment": "development"}, _Terminal, False),
        ({"environment": "development"}, io.StringIO, True),  # piped: for machines
        ({"environment": "development", "log_json": True}, _Terminal, True),
        ({"environment": "test", "log_json": False}, io.StringIO, False),
    ],
)
def test_json_unless_a_person_reads_or_the_setting_says_otherwise(
    log_to: Callable[..., io.StringIO],
    values: dict[str, Any],
    stream: type[io.StringIO],
    is_json: bool,
) -> None:
    written = log_to(stream(), **values)
    structlog.get_logger("app.test").info("order.placed")
    line = written.getvalue().strip()
    assert line.startswith("{") is is_json, line


def test_production_writes_json_even_to_a_terminal(log_to: Callable[..., io.StringIO]) -> None:
    stream = log_to(_Terminal(), **production_values())
    structlog.get_logger("app.test").info("order.placed")
    assert _json_lines(stream.getvalue())[0]["event"] == "order.placed"
