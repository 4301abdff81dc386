"""The access token as the fleet shares it, and when a process refreshes it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import orjson


@dataclass(frozen=True)
class AccessToken:
    value: str = field(repr=False)
    expires_at: float  # unix time, shared between processes
    lifetime: float  # seconds the upstream granted (expires_in), to place the refresh point

    def to_json(self) -> bytes:
        return orjson.dumps(
            {"access_token": self.value, "expires_at": self.expires_at, "lifetime": self.lifetime}
        )

    @classmethod
    def from_json(cls, raw: bytes | str, now: float) -> AccessToken | None:
        try:
            data = orjson.loads(raw)
            expires_at = float(data["expires_at"])
            lifetime = float(data.get("lifetime") or max(expires_at - now, 0.0))
            return cls(value=str(data["access_token"]), expires_at=expires_at, lifetime=lifetime)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            return None


@dataclass(frozen=True)
class RefreshPolicy:
    """When to refresh: ``fraction`` of the lifetime early, within [floor, ceiling], + jitter."""

    fraction: float = 1 / 24
    floor_seconds: float = 1.0
    ceiling_seconds: float = 3600.0
    jitter: float = 0.25  # each process adds up to this fraction to the margin, at random

    def margin(self, lifetime: float, jitter_draw: float) -> float:
        """``jitter_draw`` in [0, 1] is drawn once per process, so its refresh point is stable."""
        # The floor never eats more than a quarter of a (very short) lifetime.
        floor = min(self.floor_seconds, lifetime / 4)
        base = min(max(lifetime * self.fraction, floor), self.ceiling_seconds)
        return base * (1 + self.jitter * jitter_draw)


def token_key(prefix: str, client_id: str) -> str:
    digest = hashlib.sha256(client_id.encode()).hexdigest()[:16]
    return f"{prefix}:{digest}"
