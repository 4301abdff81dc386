"""ShardedPool over real sockets: every connection usable at once, the wait in front bounded,
permits given back whatever ends a request, connections kept and reused."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from app.instacart.sharded_pool import ShardedPool
from local_processes.waiting import wait_until_async


class HoldingServer:
    """An HTTP/1.1 upstream that holds every request until the test lets it answer."""

    def __init__(self) -> None:
        self.held: asyncio.Queue[asyncio.Event] = asyncio.Queue()
        self.holding = 0
        self.connections = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()

    async def answer(self, count: int) -> None:
        for _ in range(count):
            (await self.held.get()).set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                release = asyncio.Event()
                self.holding += 1
                await self.held.put(release)
                await release.wait()
                self.holding -= 1
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[HoldingServer, str]]:
    server = HoldingServer()
    url = await server.start()
    yield server, url
    await server.stop()


def client(pool: ShardedPool, url: str, wait: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, transport=pool, timeout=httpx.Timeout(10.0, pool=wait))


async def test_every_connection_is_in_use_at_once_and_one_more_waits_then_is_refused(
    upstream: tuple[HoldingServer, str],
) -> None:
    server, url = upstream
    pool = ShardedPool(40, shard_size=16)
    assert pool.shard_count == 3
    async with client(pool, url, wait=0.2) as http:
        sent = [asyncio.create_task(http.post("/x", content=b"{}")) for _ in range(40)]
        # No shard queues any of them: the 40 are at the upstream together, on 40 connections.
        await wait_until_async(lambda: server.holding == 40, what="40 requests held upstream")
        assert pool.in_flight == 40
        started = time.monotonic()
        with pytest.raises(httpx.PoolTimeout):
            await http.post("/x", content=b"{}")
        assert time.monotonic() - started < 1.5  # the pool wait, not the upstream's hold
        assert server.holding == 40  # the refused request never reached the upstream

        await server.answer(40)
        assert [r.status_code for r in await asyncio.gather(*sent)] == [200] * 40
        assert pool.in_flight == 0

        # A second round reuses the kept-alive connections instead of opening more.
        again = [asyncio.create_task(http.post("/x", content=b"{}")) for _ in range(40)]
        await wait_until_async(lambda: server.holding == 40, what="the second round held")
        await server.answer(40)
        await asyncio.gather(*again)
    assert server.connections == 40


async def test_a_waiting_request_takes_the_first_connection_given_back(
    upstream: tuple[HoldingServer, str],
) -> None:
    server, url = upstream
    pool = ShardedPool(2, shard_size=1)
    async with client(pool, url, wait=5.0) as http:
        first = [asyncio.create_task(http.get("/a")) for _ in range(2)]
        await wait_until_async(lambda: server.holding == 2, what="both connections in use")
        waiting = asyncio.create_task(http.get("/b"))
        await server.answer(1)  # one of the first two ends; its permit goes to the waiter
        await wait_until_async(lambda: server.holding == 2, what="the waiter sent upstream")
        await server.answer(2)
        responses = await asyncio.gather(*first, waiting)
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert pool.in_flight == 0


async def test_permits_come_back_after_failures_and_cancellations(
    upstream: tuple[HoldingServer, str],
) -> None:
    server, url = upstream
    pool = ShardedPool(1)
    # Nothing listens there: each attempt fails to connect, and frees its permit.
    async with httpx.AsyncClient(transport=pool, timeout=httpx.Timeout(2.0, pool=0.1)) as refused:
        stopped = HoldingServer()
        dead_url = await stopped.start()
        await stopped.stop()
        for _ in range(3):
            with pytest.raises(httpx.ConnectError):
                await refused.get(f"{dead_url}/x")
        assert pool.in_flight == 0

        # Cancelled while held upstream, and cancelled while waiting for the permit.
        held = asyncio.create_task(refused.get(f"{url}/x"))
        await wait_until_async(lambda: server.holding == 1, what="the request held upstream")
        waiter = asyncio.create_task(refused.get(f"{url}/y", timeout=httpx.Timeout(2.0, pool=5)))
        await wait_until_async(lambda: pool._permits.locked(), what="the permit taken")
        waiter.cancel()
        held.cancel()
        await asyncio.gather(held, waiter, return_exceptions=True)
        assert pool.in_flight == 0
        await server.answer(1)  # the cancelled request's upstream side ends too

        # The one permit is free again: a new request goes straight through.
        after = asyncio.create_task(refused.get(f"{url}/z"))
        await wait_until_async(lambda: server.holding == 1, what="a request after them")
        await server.answer(1)
        assert (await after).status_code == 200


def test_a_pool_needs_a_connection() -> None:
    with pytest.raises(ValueError):
        ShardedPool(0)
