"""The HTTP connection pools of the Instacart client, and the User-Agent they announce.

Two pools with the same settings: order creation takes seconds upstream and must not hold
every connection while the storefront searches stores and previews slots.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from typing import Any

import httpx

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
        limits: httpx.Limits | None = None,
        create_limits: httpx.Limits | None = None,
        user_agent: str = USER_AGENT,
    ) -> ConnectionPools:
        common: dict[str, Any] = {
            "base_url": base_url.rstrip("/"),
            "timeout": timeout or DEFAULT_TIMEOUT,
            "headers": {"User-Agent": user_agent, "Accept": "application/json"},
            "transport": transport,
            "follow_redirects": False,
        }
        return cls(
            default=httpx.AsyncClient(
                limits=limits or httpx.Limits(max_connections=50, max_keepalive_connections=50),
                **common,
            ),
            create=httpx.AsyncClient(
                limits=create_limits
                or httpx.Limits(max_connections=20, max_keepalive_connections=20),
                **common,
            ),
        )

    def for_pool(self, name: str) -> httpx.AsyncClient:
        """The pool an ``OperationPolicy.pool`` names."""
        return self.create if name == "create" else self.default

    async def aclose(self) -> None:
        await self.default.aclose()
        await self.create.aclose()
