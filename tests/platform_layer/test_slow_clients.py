"""Slow clients (issue 14, finding 7): an anonymous write is refused before its body is read,
and a body that stalls is answered 408 instead of holding the request open."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from asgi_lifespan import LifespanManager

from app.auth.tokens import mint_token
from app.main import create_app
from app.settings import Settings


async def _post_with_a_stalled_body(app: Any, headers: list[tuple[bytes, bytes]]) -> dict:
    """POST /v1/orders whose body sends its first bytes and then nothing more."""
    sent: list[dict[str, Any]] = []
    chunks = [{"type": "http.request", "body": b'{"reservation_id":', "more_body": True}]
    body_reads = 0

    async def receive() -> dict[str, Any]:
        nonlocal body_reads
        body_reads += 1
        if chunks:
            return chunks.pop(0)
        await asyncio.sleep(3600)  # the client never sends the rest
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/orders",
        "raw_path": b"/v1/orders",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bff.test"), (b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 1234),
        "server": ("bff.test", 80),
        "state": {},
    }
    started = time.monotonic()
    await asyncio.wait_for(app(scope, receive, send), timeout=10)
    start = next(m for m in sent if m["type"] == "http.response.start")
    return {
        "status": start["status"],
        "seconds": time.monotonic() - started,
        "body_reads": body_reads,
    }


async def test_an_anonymous_slow_body_is_401_before_it_is_read(
    make_settings: Callable[..., Settings],
) -> None:
    app = create_app(make_settings(body_read_timeout_seconds=5))
    async with LifespanManager(app) as manager:
        answer = await _post_with_a_stalled_body(manager.app, [])
    assert answer["status"] == 401
    assert answer["body_reads"] == 0
    assert answer["seconds"] < 1


async def test_a_stalled_body_is_408_after_the_read_timeout(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(body_read_timeout_seconds=0.3)
    app = create_app(settings)
    token = mint_token(settings, "slow-client")
    headers = [(b"authorization", f"Bearer {token}".encode()), (b"idempotency-key", b"k1")]
    async with LifespanManager(app) as manager:
        answer = await _post_with_a_stalled_body(manager.app, headers)
    assert answer["status"] == 408
    assert 0.3 <= answer["seconds"] < 3
