"""The bearer token on every upstream request, and the one refresh a rejected token earns.

An ``httpx.Auth`` flow, so the refresh-and-resend happens inside one ``request()``: the retry
policy of the operation never sees a 401 it could spend an attempt on.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Generator
from typing import Protocol

import httpx


class TokenSource(Protocol):
    """What the flow needs from ``TokenProvider`` (benchmarks substitute their own)."""

    async def get(self) -> str: ...

    async def invalidate(self, sent: str) -> None: ...


class RequestObserver(Protocol):
    """Told about every HTTP request the flow sends, so each one is timed and logged."""

    def sending(self) -> None:
        """The request is about to leave this process."""

    def token_rejected(self, duration: float) -> None:
        """A 401 came back after ``duration`` seconds; the flow refreshes and resends."""


class BearerTokenAuth(httpx.Auth):
    """Sets ``Authorization: Bearer`` from the shared token; on a 401, refreshes once and resends.

    Build one per call: after it has refreshed once, a 401 is final, and ``refreshed`` tells the
    caller that the upstream rejected a fresh token too (the credentials, not the token).
    """

    def __init__(self, tokens: TokenSource, observer: RequestObserver) -> None:
        self._tokens = tokens
        self._observer = observer
        self.refreshed = False

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        raise RuntimeError("BearerTokenAuth needs an async client: the token provider is async")
        yield request  # pragma: no cover  (makes this a generator, as httpx expects)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._tokens.get()
        request.headers["Authorization"] = f"Bearer {token}"
        self._observer.sending()
        started = time.perf_counter()
        response = yield request
        if response.status_code != 401 or self.refreshed:
            return
        self.refreshed = True
        # Dropped only if it is still the token in use: a 401 on a request that was slow to
        # come back must not throw away the fresh token another request already fetched.
        await self._tokens.invalidate(token)
        self._observer.token_rejected(time.perf_counter() - started)
        token = await self._tokens.get()
        request.headers["Authorization"] = f"Bearer {token}"
        self._observer.sending()
        yield request
