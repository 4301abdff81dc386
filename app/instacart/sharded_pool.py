"""A large HTTP connection pool made of small ones, with the wait for a connection in front.

httpcore 1.0.9 walks every connection of a pool, and for each idle one counts the idle ones
again, on every request and on every response (``_assign_requests_to_connections``); each waiting
request adds another walk. Its cost per request therefore grows with the pool's size, and a
150-connection create pool held 2 s per order spent a fifth of the service's CPU there
(docs/performance.md, "The upstream connection pool"). Here a pool of N connections is
ceil(N / shard size) httpx transports of at most ``shard_size`` connections each, so that walk
stays short, and the waiting happens on one semaphore of N permits before any shard is chosen.
A request takes a permit (waiting at most the request's pool timeout, then ``httpx.PoolTimeout``
as httpx would raise it), goes to the shard with the fewest requests in flight, which has a free
connection because the shards' sizes add up to N, and gives the permit back when its response is
closed. httpcore's own queue therefore stays empty.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx

# Connections per shard: at 150 connections, shards of 4 to 32 cost about the same CPU per
# request (16 the least), shards of 64 up to three times that (bench/upstream_pool.py,
# docs/performance.md); fewer, larger shards would bring httpcore's walk back.
SHARD_SIZE = 16


class ShardedPool(httpx.AsyncBaseTransport):
    """``max_connections`` connections in shards of at most ``shard_size``; one wait in front."""

    def __init__(self, max_connections: int, *, shard_size: int = SHARD_SIZE) -> None:
        if max_connections < 1 or shard_size < 1:
            raise ValueError("a pool needs at least one connection per shard")
        count = -(-max_connections // shard_size)
        # Sizes that differ by at most one and add up to max_connections.
        sizes = [max_connections // count + (i < max_connections % count) for i in range(count)]
        self.max_connections = max_connections
        self._shards = [
            httpx.AsyncHTTPTransport(
                limits=httpx.Limits(max_connections=size, max_keepalive_connections=size)
            )
            for size in sizes
        ]
        self._in_flight = [0] * count
        self._permits = asyncio.Semaphore(max_connections)

    @property
    def shard_count(self) -> int:
        return len(self._shards)

    @property
    def in_flight(self) -> int:
        """Requests holding a connection (or about to), from sending until the body is closed."""
        return sum(self._in_flight)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await self._acquire(request)
        shard = min(range(len(self._shards)), key=self._in_flight.__getitem__)
        self._in_flight[shard] += 1
        release = _Release(self, shard)
        try:
            response = await self._shards[shard].handle_async_request(request)
        except BaseException:
            release()
            raise
        response.stream = _ReleasingStream(response.stream, release)
        return response

    async def _acquire(self, request: httpx.Request) -> None:
        if not self._permits.locked():
            await self._permits.acquire()  # a free permit: returns without suspending
            return
        wait = request.extensions.get("timeout", {}).get("pool")
        try:
            async with asyncio.timeout(wait):
                await self._permits.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout(
                f"no free connection among {self.max_connections} within {wait}s",
                request=request,
            ) from None

    def _release(self, shard: int) -> None:
        self._in_flight[shard] -= 1
        self._permits.release()

    async def aclose(self) -> None:
        for shard in self._shards:
            await shard.aclose()


class _Release:
    """Gives a request's permit back once, however many times its response is closed."""

    __slots__ = ("_pool", "_shard")

    def __init__(self, pool: ShardedPool, shard: int) -> None:
        self._pool: ShardedPool | None = pool
        self._shard = shard

    def __call__(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool._release(self._shard)


class _ReleasingStream(httpx.AsyncByteStream):
    """The shard's response body; closing it frees the connection, then the permit."""

    def __init__(
        self, stream: httpx.SyncByteStream | httpx.AsyncByteStream, release: Callable[[], None]
    ) -> None:
        assert isinstance(stream, httpx.AsyncByteStream)
        self._stream = stream
        self._release = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            self._release()
