"""The OAuth access tokens the sandbox has issued (generateAccessToken), and their expiry.

A token is random and opaque; the sandbox keeps only its expiry. Revoking forgets them all,
so a client can be made to meet a 401 on a token it believed good.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta


class AccessTokens:
    """Issued tokens by value, with the count issued since the last reset."""

    def __init__(self) -> None:
        self.expiries: dict[str, datetime] = {}
        self.issued = 0

    def issue(self, now: datetime, ttl_seconds: int) -> str:
        token = secrets.token_urlsafe(32)
        self.expiries[token] = now + timedelta(seconds=ttl_seconds)
        self.issued += 1
        return token

    def valid(self, token: str, now: datetime) -> bool:
        expires_at = self.expiries.get(token)
        return expires_at is not None and now < expires_at

    def active(self, now: datetime) -> int:
        return sum(1 for expires_at in self.expiries.values() if expires_at > now)

    def revoke_all(self) -> int:
        count = len(self.expiries)
        self.expiries.clear()
        return count

    def prune(self, now: datetime) -> None:
        """Forgets the tokens that have expired."""
        for token in [t for t, expires_at in self.expiries.items() if expires_at < now]:
            del self.expiries[token]
