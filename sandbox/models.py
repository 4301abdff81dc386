"""Request bodies of the specification, validated strictly.

Strict mode means a number is not a string and `true` is not a number. Optional fields must be
absent rather than null: the specification declares none of them nullable.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sandbox.errors import Envelope, SandboxError


class _Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")

    # per field rather than per model, so that the error's location names the field
    @field_validator("*", mode="before")
    @classmethod
    def _no_nulls(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must not be null")
        return value


class TokenRequest(_Body):
    grant_type: Literal["client_credentials"]
    client_id: str
    client_secret: str
    scope: str


class Address(_Body):
    address_line_1: str | None = None
    address_line_2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None


class FindStoresRequest(Address):
    """The specification's FindStoresRequest: an address's fields, then a point."""

    latitude: float | None = None
    longitude: float | None = None


class PreviewServiceOptionsRequest(_Body):
    store_id: str | None = None
    address: Address | None = None


class CartItem(_Body):
    upc: str | None = None
    quantity: int | None = Field(default=None, ge=1)
    product_id: str | None = None


class Cart(_Body):
    items: list[CartItem] | None = None


class ReserveTimeSlotRequest(_Body):
    service_option_id: str
    cart: Cart | None = None


class CreateOrderRequest(_Body):
    hold_id: str
    # extension: the retailer's own order id, used as the order's id (UPSTREAM.md 2.1)
    order_id: str | None = None
    cart: Cart | None = None
    delivery_address: Address | None = None
    delivery_instructions: str | None = None


class FaultSpec(BaseModel):
    """Faults for one operation (or "*" for every operation without its own entry)."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: int = Field(default=0, ge=0, le=600_000)
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    # 404 lets a test play an Instacart whose lookups lag behind its creates (getOrder says
    # "not found" for an order a create has just called a duplicate).
    status: Literal[404, 408, 429, 500, 503] = 503
    fail_next: int = Field(default=0, ge=0)
    hang: bool = False
    hang_after_create: bool = False
    hang_seconds: float | None = Field(default=None, ge=0.0, le=86_400.0)


class CallbackFaults(BaseModel):
    """How callbacks misbehave: duplicated, reordered, and sent with a fresh token.

    Instacart delivers at least once, in no guaranteed order (UPSTREAM.md section 3).
    """

    model_config = ConfigDict(extra="forbid")

    # share of delivered events sent a second time, later, with the same event_id
    duplicate_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    # events are sent in batches of up to this many, shuffled; 1 keeps their order
    reorder_window: int = Field(default=1, ge=1, le=100)
    # the longest the first event of a batch waits for the batch to fill
    reorder_wait_ms: int = Field(default=1000, ge=0, le=60_000)
    # share of deliveries before which the cached token is dropped and a new one requested
    drop_token_rate: float = Field(default=0.0, ge=0.0, le=1.0)


class FaultsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operations: dict[str, FaultSpec] = Field(default_factory=dict)
    callbacks: CallbackFaults = Field(default_factory=CallbackFaults)
    token_ttl_seconds: int | None = Field(default=None, ge=1)
    # "connect": refusals on the Connect routes answer in the real API's envelope
    error_envelope: Envelope = "spec"


class AdvanceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: str | None = Field(default=None, pattern=r"^[a-z][a-z_]{0,39}$")


def invalid_body(error: ValidationError, status: int = 400) -> SandboxError:
    """The refusal of a body that failed validation: its first invalid field is at fault."""
    errors = error.errors(include_input=False, include_url=False)
    key = ".".join(str(p) for p in errors[0]["loc"]) if errors and errors[0]["loc"] else None
    return SandboxError(status, describe(error), key=key)


def describe(error: ValidationError) -> str:
    """A short message naming each invalid field, without echoing any input value."""
    parts = []
    for err in error.errors(include_input=False, include_url=False)[:5]:
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "invalid request body: " + "; ".join(parts)
