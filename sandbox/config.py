"""SandboxConfig: everything a test or the CLI may change about a sandbox."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class SandboxConfig:
    """Settings of one sandbox instance; every field has a working default."""

    client_id: str = "sandbox-client"
    client_secret: str = field(default="sandbox-secret", repr=False)
    # scopes a client may request; a token request naming any other scope is refused
    scopes: tuple[str, ...] = ("connect:fulfillment",)
    token_ttl_seconds: int = 86400
    # seeds the generator of order ids, hold ids and fault error draws
    seed: int = 0
    slot_capacity: int = 5
    slot_days: int = 7
    slot_length_hours: int = 2
    # store-local opening hours for slot windows: first window start, last window end
    slot_first_hour: int = 8
    slot_last_hour: int = 22
    hold_ttl_seconds: int = 600
    max_delivery_units: int = 250
    search_radius_miles: float = 25.0
    # how long a `hang` fault waits when the fault names no hang_seconds
    default_hang_seconds: float = 3600.0
    # the sandbox's notion of "now" (an aware UTC datetime); tests inject a fake clock
    clock: Callable[[], datetime] = utc_now
    # callbacks (webhooks); disabled when callback_url is None
    callback_url: str | None = None
    callback_token_url: str | None = None
    # the defaults are the BFF's development defaults (BFF_CALLBACK_CLIENT_ID/_SECRET)
    callback_client_id: str = "instacart-sandbox"
    callback_client_secret: str = field(default="sandbox-callback-secret", repr=False)
    callback_scope: str | None = None
    retailer_id: str | None = None
    # delivery of one event: this many attempts in all, the n-th retry after a jittered
    # backoff * 2**(n-1) seconds, capped at callback_backoff_max_seconds
    callback_max_attempts: int = 5
    callback_backoff_seconds: float = 0.2
    callback_backoff_max_seconds: float = 30.0
    callback_timeout_seconds: float = 5.0
    # the first event's id; None: a random start, so that ids stay unique across sandboxes
    # (and restarts) as Instacart's are across its fleet, and a retailer's inbox keyed on them
    # never mistakes a new event for one it has stored
    first_event_id: int | None = None
    # every this many seconds, each order that is not terminal moves one step along its
    # workflow (as POST /sandbox/orders/{id}/advance does); None or 0: off
    auto_advance_seconds: float | None = None
    # an httpx transport for callbacks (tests pass an ASGI transport); None means the network
    callback_transport: Any = field(default=None, repr=False)

    @classmethod
    def from_env(cls, **overrides: object) -> SandboxConfig:
        """Defaults, then SANDBOX_* environment variables, then explicit overrides."""
        env = os.environ
        values: dict[str, object] = {}
        for name, key, conv in (
            ("client_id", "SANDBOX_CLIENT_ID", str),
            ("client_secret", "SANDBOX_CLIENT_SECRET", str),
            ("token_ttl_seconds", "SANDBOX_TOKEN_TTL_SECONDS", int),
            ("seed", "SANDBOX_SEED", int),
            ("slot_capacity", "SANDBOX_SLOT_CAPACITY", int),
            ("callback_url", "SANDBOX_CALLBACK_URL", str),
            ("callback_token_url", "SANDBOX_CALLBACK_TOKEN_URL", str),
            ("callback_client_id", "SANDBOX_CALLBACK_CLIENT_ID", str),
            ("callback_client_secret", "SANDBOX_CALLBACK_CLIENT_SECRET", str),
            ("retailer_id", "SANDBOX_RETAILER_ID", str),
            ("callback_max_attempts", "SANDBOX_CALLBACK_MAX_ATTEMPTS", int),
            ("callback_backoff_seconds", "SANDBOX_CALLBACK_BACKOFF_SECONDS", float),
            ("auto_advance_seconds", "SANDBOX_AUTO_ADVANCE_SECONDS", float),
        ):
            if env.get(key):
                values[name] = conv(env[key])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]  # values typed by the table above

    def __post_init__(self) -> None:
        # settings that cannot work are refused at start-up, by name
        if self.callback_max_attempts < 1:
            raise ValueError("callback_max_attempts must be at least 1")
        if self.callback_backoff_seconds < 0 or self.callback_backoff_max_seconds < 0:
            raise ValueError("callback backoff seconds must not be negative")
        if self.auto_advance_seconds is not None and self.auto_advance_seconds < 0:
            raise ValueError("auto_advance_seconds must not be negative")
