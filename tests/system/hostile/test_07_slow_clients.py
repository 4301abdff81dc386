"""Finding 7: slow clients. An unauthenticated slow body on `POST /v1/orders` was held 40 s and
then parsed before authentication (422, not 401); idle connections were held 290 s.

Raw sockets against the target (body read timeout 1 s, header read timeout 2 s): an anonymous
slow body is 401 at once, an authenticated one that stalls is 408, and a connection that sends
nothing, idles between requests or trickles its headers is closed after the header timeout.
"""

from __future__ import annotations

import itertools
import select
import socket
import time

from tests.system.hostile.target import (
    BODY_READ_TIMEOUT_SECONDS,
    HEADER_READ_TIMEOUT_SECONDS,
    Target,
)

# How much later than its setting a bound may act on a busy machine.
SLACK_SECONDS = 3.0


def _connect(target: Target) -> socket.socket:
    return socket.create_connection(("127.0.0.1", target.port), timeout=30)


def _post_a_stalled_body(target: Target, authorization: str | None) -> tuple[int, float]:
    """POST /v1/orders announcing 1,000 bytes and sending 16; (status, seconds to answer)."""
    headers = [
        "POST /v1/orders HTTP/1.1",
        f"Host: 127.0.0.1:{target.port}",
        "Content-Type: application/json",
        "Content-Length: 1000",
        "Idempotency-Key: stalled-body",
    ]
    if authorization:
        headers.append(f"Authorization: {authorization}")
    with _connect(target) as conn:
        started = time.monotonic()
        conn.sendall(("\r\n".join(headers) + "\r\n\r\n").encode() + b'{"reservation_id')
        status_line = conn.recv(4096).split(b"\r\n", 1)[0]
        return int(status_line.split()[1]), time.monotonic() - started


def _seconds_until_closed(conn: socket.socket, trickle: bytes = b"") -> float:
    """How long the server keeps `conn` open; `trickle` is sent a byte every quarter second."""
    started = time.monotonic()
    deadline = started + HEADER_READ_TIMEOUT_SECONDS + SLACK_SECONDS
    for byte in itertools.chain(trickle, itertools.repeat(None)):
        assert time.monotonic() < deadline, "the server kept the connection open"
        try:
            if byte is not None:
                conn.sendall(bytes([byte]))
            readable, _, _ = select.select([conn], [], [], 0.25)
            if readable and conn.recv(4096) == b"":
                break
        except (BrokenPipeError, ConnectionResetError):
            break
    return time.monotonic() - started


def test_an_anonymous_slow_body_is_401_before_it_is_read(target: Target) -> None:
    status, _ = _post_a_stalled_body(target, authorization=None)
    assert status == 401  # had the body been awaited, the answer would be 408 (or 422 parsed)


def test_an_authenticated_stalled_body_is_408_after_the_read_timeout(target: Target) -> None:
    token = target.idp.token("slow-uploader")
    status, seconds = _post_a_stalled_body(target, authorization=f"Bearer {token}")
    assert status == 408
    assert BODY_READ_TIMEOUT_SECONDS <= seconds < BODY_READ_TIMEOUT_SECONDS + SLACK_SECONDS


def test_a_connection_that_sends_nothing_is_closed(target: Target) -> None:
    with _connect(target) as conn:
        seconds = _seconds_until_closed(conn)
    assert seconds >= HEADER_READ_TIMEOUT_SECONDS - 0.1


def test_an_idle_keep_alive_connection_is_closed(target: Target) -> None:
    with _connect(target) as conn:
        conn.sendall(f"GET /livez HTTP/1.1\r\nHost: 127.0.0.1:{target.port}\r\n\r\n".encode())
        assert conn.recv(4096).startswith(b"HTTP/1.1 200")
        seconds = _seconds_until_closed(conn)
    assert seconds >= HEADER_READ_TIMEOUT_SECONDS - 0.1


def test_headers_trickled_a_byte_at_a_time_are_cut_off(target: Target) -> None:
    trickle = f"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: {'a' * 200}\r\n\r\n"
    with _connect(target) as conn:
        seconds = _seconds_until_closed(conn, trickle.encode())
    assert seconds >= HEADER_READ_TIMEOUT_SECONDS - 0.1
