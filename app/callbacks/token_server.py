"""Tokens for Instacart's callbacks: OAuth 2.0 client credentials in, opaque bearer tokens out.

Instacart is the OAuth client here and this service the authorization server (UPSTREAM.md
section 3). A token is random and kept only as its SHA-256 in Redis, with its lifetime, so every
replica accepts what any replica issued and a copy of Redis gives nobody a usable token. Losing
Redis costs Instacart one more token request, never an event: it retries a refused callback.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from pydantic import SecretStr
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.platform.errors import DependencyUnavailable


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class CallbackTokens:
    def __init__(
        self,
        redis: Redis,
        *,
        namespace: str,
        client_id: str,
        client_secret: SecretStr,
        ttl_seconds: int,
    ) -> None:
        self.redis = redis
        self.prefix = f"{namespace}:callback-token:"
        self._client_id = client_id.encode()
        self._client_secret = client_secret
        self.ttl = ttl_seconds

    def credentials_match(self, client_id: str, client_secret: str) -> bool:
        """Constant time, and both compared always, so timing tells neither half."""
        id_ok = hmac.compare_digest(client_id.encode(), self._client_id)
        secret_ok = hmac.compare_digest(
            client_secret.encode(), self._client_secret.get_secret_value().encode()
        )
        return id_ok & secret_ok

    async def issue(self) -> IssuedToken:
        token = secrets.token_urlsafe(32)
        try:
            await self.redis.set(self.prefix + _digest(token), b"1", ex=self.ttl)
        except (RedisError, OSError) as exc:
            raise DependencyUnavailable("Callback tokens cannot be issued right now.") from exc
        return IssuedToken(token, self.ttl)

    async def accepts(self, token: str) -> bool:
        if not token or len(token) > 512:
            return False
        try:
            return bool(await self.redis.exists(self.prefix + _digest(token)))
        except (RedisError, OSError) as exc:
            raise DependencyUnavailable("Callback tokens cannot be checked right now.") from exc
