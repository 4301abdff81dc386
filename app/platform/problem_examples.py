"""An example problem for each error code, as the service answers it, for the OpenAPI document.

A reader of the reference sees what each answer looks like without provoking it. The code,
status, title and type come from the error catalogue; only the sentence (and the parameter at
fault, where there is one) is written here, in the words the service uses. A test holds the
keys to the catalogue.
"""

from __future__ import annotations

from typing import Any

from app.platform.error_catalogue import CATALOGUE, problem_type

# A request id as the service makes them: 32 hex digits.
EXAMPLE_REQUEST_ID = "4bf92f3577b34da6a3ce929d0e0e4736"

# code -> (detail, param); the details are those the service gives.
_DETAILS: dict[str, tuple[str, str | None]] = {
    "bad_request": ("The request could not be read.", None),
    "idempotency_key_missing": (
        "Send an Idempotency-Key header (a UUID is a good choice).",
        None,
    ),
    "http_error": ("The request was refused.", None),
    "unauthenticated": ("token has expired", None),
    "forbidden": ("this route is for store staff", None),
    "not_found": ("You have no order with this id.", "order_id"),
    "reservation_not_found": (
        "There is no such reservation of yours: reserve a slot again.",
        "reservation_id",
    ),
    "slot_not_found": (
        "The store offers no such slot now: list its slots again and choose one of those.",
        "slot_id",
    ),
    "store_not_found": (
        "There is no store with the id 'store-sf-999': take one from GET /v1/stores.",
        "store_id",
    ),
    "method_not_allowed": ("Method Not Allowed", None),
    "not_acceptable": ("Not Acceptable", None),
    "request_timeout": ("The request body stalled for 10 s.", None),
    "demo_token_unavailable": (
        "tokens are verified with a JWKS here: the demo cannot sign one",
        None,
    ),
    "order_not_cancelable": ("Instacart no longer allows cancelling this order.", None),
    "order_not_stageable": ("Only last-mile orders are staged at the store.", None),
    "request_in_progress": (
        "A request with this Idempotency-Key is still being processed; retry shortly.",
        None,
    ),
    "reservation_expired": (
        "The hold expired and the slot is now full; reserve again.",
        "reservation_id",
    ),
    "reservation_used": (
        "This reservation was used by your order ord_FqGAtr4HhCa2hS4F27D4: show that order, or "
        "reserve a slot again for a new one.",
        "reservation_id",
    ),
    "slot_unavailable": ("The time slot is full: choose another.", "slot_id"),
    "payload_too_large": ("Request bodies are limited to 65536 bytes.", None),
    "unsupported_media_type": (
        "Send the body as JSON with the header Content-Type: application/json (this request "
        "had none).",
        "body",
    ),
    "fulfillment_not_offered": (
        "The store 'store-sf-003' does not offer pickup: choose another fulfillment or another "
        "store.",
        "fulfillment",
    ),
    "idempotency_key_reused": (
        "This Idempotency-Key was used with another request body.",
        None,
    ),
    "slot_fulfillment_mismatch": (
        "The slot is of another fulfillment: reserve it with the fulfillment it was listed for.",
        "slot_id",
    ),
    "slot_in_past": (
        "The slot has already started: list the store's slots again for future ones.",
        "slot_id",
    ),
    "validation_failed": (
        "items.0.quantity: Input should be greater than or equal to 1",
        "items.0.quantity",
    ),
    "rate_limited": ("At most 30 reservations per minute; try again shortly.", None),
    "internal_error": (
        "The service failed unexpectedly; the request id identifies it in the logs.",
        None,
    ),
    "upstream_error": ("Instacart refused the request (create_order).", None),
    "dependency_unavailable": (
        "A data store of the service is unreachable; retry shortly.",
        None,
    ),
    "over_capacity": ("The service is at capacity; retry in a moment.", None),
    "upstream_unavailable": ("Instacart is unavailable right now.", None),
    "upstream_timeout": ("Instacart did not answer in time.", None),
}

# Members a problem of that code carries besides the common ones.
_EXTENSIONS: dict[str, dict[str, Any]] = {
    "validation_failed": {
        "errors": [
            {
                "field": "items.0.quantity",
                "message": "Input should be greater than or equal to 1",
            }
        ]
    },
    "reservation_used": {"order_id": "ord_FqGAtr4HhCa2hS4F27D4"},
}


def example_problem(code: str) -> dict[str, Any]:
    """The body the service answers with for ``code``, as a reader of the reference sees it."""
    entry = CATALOGUE[code]
    detail, param = _DETAILS[code]
    body: dict[str, Any] = {
        "type": problem_type(code),
        "title": entry.title,
        "status": entry.status,
        "detail": detail,
        "code": code,
        "request_id": EXAMPLE_REQUEST_ID,
    }
    if param:
        body["param"] = param
    return body | _EXTENSIONS.get(code, {})


def example_codes() -> frozenset[str]:
    """The codes with an example (a test holds them to the catalogue's)."""
    return frozenset(_DETAILS)
