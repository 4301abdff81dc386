"""Slow clients (issue 14, finding 7): an anonymous write is refused before its body is read,
and a body that stalls is answered 408 instead of holding the request open."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from asgi_lifespan import LifespanManager

from app.auth.tokens import mint_token
from app.main import create_app
from app.platform.middleware import BodySizeLimitMiddleware
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


def _scope() -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/v1/orders", "headers": []}


async def _echo_length(scope: Any, receive: Any, send: Any) -> None:
    """An app that reads the whole body and answers its length."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(len(body)).encode()})


async def test_a_body_whose_chunks_each_come_in_time_is_read_whole() -> None:
    # The deadline is per chunk: 4 chunks 0.15 s apart take longer than the 0.4 s limit.
    chunks = [b"a" * 10] * 4
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(0.15)
        return {"type": "http.request", "body": chunks.pop(), "more_body": bool(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    app = BodySizeLimitMiddleware(_echo_length, max_bytes=1000, read_timeout_seconds=0.4)
    await app(_scope(), receive, send)
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == b"40"


async def test_a_request_cancelled_while_its_body_is_awaited_is_cancelled_not_408() -> None:
    # Cancellation from outside (the client gone, shutdown) is not the body's deadline.
    waiting = asyncio.Event()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        waiting.set()
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    app = BodySizeLimitMiddleware(_echo_length, max_bytes=1000, read_timeout_seconds=30)
    request = asyncio.create_task(app(_scope(), receive, send))
    await waiting.wait()
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    assert sent == []
    assert request.cancelled()


async def test_a_stalled_body_ends_the_read_and_leaves_the_task_uncancelled() -> None:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    app = BodySizeLimitMiddleware(_echo_length, max_bytes=1000, read_timeout_seconds=0.05)
    await app(_scope(), receive, send)
    assert sent[0]["status"] == 408
    # The deadline's cancellation was consumed: the request's task may await on afterwards.
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0)
