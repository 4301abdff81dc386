"""The HTTP connection pools of the Instacart client, and the User-Agent they announce.

Two pools with the same settings: order creation takes seconds upstream and must not hold
every connection while the storefront searches stores and previews slots. Each is one
``httpx.AsyncClient`` over a ``ShardedPool`` (sharded_pool.py), whose CPU per request does not
grow with its size as httpcore's single pool's does; a transport given for tests replaces it.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass

import httpx

from app.instacart.sharded_pool import ShardedPool

try:
    _VERSION = importlib.metadata.version("instacart-checkout-bff")
except importlib.metadata.PackageNotFoundError:
    _VERSION = "0.1.0"
USER_AGENT = f"instacart-checkout-bff/{_VERSION}"

DEFAULT_TIMEOUT = httpx.Timeout(connect=2.0, read=10.0, write=10.0, pool=10.0)


@dataclass(frozen=True)
class ConnectionPools:
    """``default`` carries every operation but order creation, which ``create`` carries."""

    default: httpx.AsyncClient
    create: httpx.AsyncClient

    @classmethod
    def open(
        cls,
        base_url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout | None = None,
        max_connections: int = 50,
        create_max_connections: int = 20,
        user_agent: str = USER_AGENT,
    ) -> ConnectionPools:
        """Two clients; ``transport`` (tests: an ASGI or mock transport) is shared by both."""

        def client(connections: int) -> httpx.AsyncClient:
            return httpx.AsyncClient(
                base_url=base_url.rstrip("/"),
                # The pool timeout is the wait for a connection, in ShardedPool's semaphore.
                timeout=timeout or DEFAULT_TIMEOUT,
                headers={"User-Agent": user_agent, "Accept": "application/json"},
                transport=transport or ShardedPool(connections),
                follow_redirects=False,
            )

        return cls(default=client(max_connections), create=client(create_max_connections))

    @property
    def clients(self) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
        """Both clients, for whatever wraps every upstream request (tracing instrumentation)."""
        return (self.default, self.create)

    def for_pool(self, name: str) -> httpx.AsyncClient:
        """The pool an ``OperationPolicy.pool`` names."""
        return self.create if name == "create" else self.default

    async def aclose(self) -> None:
        await self.default.aclose()
        await self.create.aclose()
