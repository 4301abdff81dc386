"""The error catalogue: one entry per problem ``code``, saying when it happens and what to do.

Every problem's ``type`` is ``/v1/errors/{code}``, which the service serves from this catalogue
(``app/ops/error_reference.py``), and docs/errors.md is generated from it
(``python -m app errors > docs/errors.md``; a test keeps the two equal). Status and title come
from the error classes (``app.platform.errors``), so they are written once; this module adds
the words a developer acts on. A test proves that every class has an entry and every entry a
class.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.platform import errors as e

# Where each code's documentation is served; a problem's ``type`` is this plus its code.
ERRORS_PATH = "/v1/errors"


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    code: str
    status: int
    title: str
    when: str
    what_to_do: str


# (error class, when it happens, what to do), in order of status then code.
_ENTRIES: tuple[tuple[type[e.AppError], str, str], ...] = (
    (
        e.BadRequest,
        "The request could not be read as HTTP the service understands.",
        "Fix the request; `detail` says what was wrong. Do not retry it unchanged.",
    ),
    (
        e.IdempotencyKeyMissing,
        "`POST /v1/orders` came without an `Idempotency-Key` header.",
        "Send a new key (a UUID) for each checkout attempt, and the same key when retrying it.",
    ),
    (
        e.HttpError,
        "HTTP itself refused the request with a status no other code covers (the problem's "
        "`status` says which).",
        "Read `detail`; fix the request before sending it again.",
    ),
    (
        e.Unauthenticated,
        "No bearer token, or one that is expired, malformed, signed with another key, or for "
        "another issuer or audience.",
        "Get a fresh token from the identity provider and retry with "
        "`Authorization: Bearer <token>`.",
    ),
    (
        e.Forbidden,
        "The token is valid but its user may not do this (a staff route for a shopper, a store "
        "the staff token does not name).",
        "Use a token with the needed role or store; retrying with the same one will not help.",
    ),
    (
        e.NotFound,
        "No such resource, or one that belongs to another user (the service never says which: "
        "another user's order is 404, not 403). `param` names the id at fault where there is one.",
        "Check the id; list the user's orders with `GET /v1/orders` to find theirs.",
    ),
    (
        e.ReservationNotFound,
        "The `reservation_id` is unknown, belongs to another user, or is past its retention "
        "(`BFF_RESERVATION_TTL_SECONDS`).",
        "Reserve a slot again (`POST /v1/reservations`) and place the order with the new "
        "reservation's id.",
    ),
    (
        e.SlotNotFound,
        "The store offers no slot with this `slot_id` for this fulfillment now (an id from "
        "another store, or one no longer offered).",
        "List the store's slots again (`GET /v1/stores/{store_id}/slots`) and reserve one of "
        "those.",
    ),
    (
        e.StoreNotFound,
        "No store has this `store_id` (the retailer's store list lacks it, or Instacart does "
        "not know it).",
        "Take a store id from `GET /v1/stores`; do not retry the same id.",
    ),
    (
        e.MethodNotAllowed,
        "The path exists but not with this method; the `Allow` header lists the methods it takes.",
        "Use one of the methods in `Allow`.",
    ),
    (
        e.NotAcceptable,
        "The `Accept` header asks for a representation the route cannot give.",
        "Accept `application/json` (and `application/problem+json` for errors).",
    ),
    (
        e.RequestTimeout,
        "The request body stalled longer than `BFF_BODY_READ_TIMEOUT_SECONDS` between chunks.",
        "Send the whole body promptly; retry on a healthy connection.",
    ),
    (
        e.DemoTokenUnavailable,
        "Development only: the demo storefront cannot sign tokens because the service verifies "
        "tokens from an identity provider (JWKS), not a shared secret.",
        "Use a token from the identity provider, or run with the development secret.",
    ),
    (
        e.OrderNotCancelable,
        "Instacart no longer lets the order be canceled (only `brand_new` orders can be).",
        "Show the order's status; the customer must contact support to stop it now.",
    ),
    (
        e.OrderNotStageable,
        "The order cannot be staged: it is not a last-mile order, or its status is past staging.",
        "Read the order (`GET /v1/orders/{order_id}`) and stage only last-mile orders waiting "
        "at the store.",
    ),
    (
        e.RequestInProgress,
        "Another request with the same `Idempotency-Key` is still being processed.",
        "Retry the same request with the same key after a short wait; it will answer the first "
        "request's outcome.",
    ),
    (
        e.ReservationExpired,
        "The reservation's hold expired (10 minutes) and the slot is now full, or Instacart "
        "replaced the hold with the user's newer one.",
        "Reserve a slot again and place the order with the new reservation.",
    ),
    (
        e.ReservationUsed,
        "The reservation was already used by one of the user's orders; `order_id` names that "
        "order.",
        "Show the order in `order_id` (`GET /v1/orders/{order_id}`); to order again, reserve a "
        "new slot.",
    ),
    (
        e.SlotUnavailable,
        "The slot is full: other customers' holds and orders took its capacity.",
        "List the store's slots again and let the customer choose another one.",
    ),
    (
        e.PayloadTooLarge,
        "The request body is larger than `BFF_MAX_BODY_BYTES`.",
        "Send a smaller body (at most 100 lines of at most 250 units for delivery).",
    ),
    (
        e.UnsupportedMediaType,
        "A request body was sent without `Content-Type: application/json`, or with another type.",
        "Send the body as JSON with the header `Content-Type: application/json`.",
    ),
    (
        e.FulfillmentNotOffered,
        "The store exists but does not offer this `fulfillment` (delivery, pickup or last mile).",
        "Choose another fulfillment, or a store that `GET /v1/stores?fulfillment=...` lists.",
    ),
    (
        e.IdempotencyKeyReused,
        "The `Idempotency-Key` was used before with a different request body.",
        "Use a new key for a new request; reuse a key only to retry the identical request.",
    ),
    (
        e.SlotFulfillmentMismatch,
        "The `slot_id` is a slot of another fulfillment than the request's (a delivery slot "
        "reserved as pickup).",
        "Reserve with the fulfillment the slot was listed for, or list slots of this one.",
    ),
    (
        e.SlotInPast,
        "The slot's window has already started or ended.",
        "List the store's slots again: only future windows are offered.",
    ),
    (
        e.ValidationFailed,
        "A parameter or body field is missing or invalid, or the body is not valid JSON. "
        "`param` names the first field at fault, `errors[]` every one, each with a sentence.",
        "Fix the fields named and send the request again.",
    ),
    (
        e.RateLimited,
        "The user went past a per-user limit (reservations, orders, slot previews Instacart "
        "must answer, event streams, stream tickets).",
        "Wait the seconds in `Retry-After`, then retry.",
    ),
    (
        e.InternalError,
        "A bug in the service: no input should cause it.",
        "Report the problem's `request_id`; retrying may work once it is fixed.",
    ),
    (
        e.UpstreamError,
        "Instacart refused the request in a way the service cannot map to another code, or "
        "rejected the service's own credentials.",
        "Do not retry at once; report the `request_id` if it persists.",
    ),
    (
        e.DependencyUnavailable,
        "Postgres or Redis, which the service needs, is unreachable.",
        "Retry after `Retry-After` seconds; an order placed with an `Idempotency-Key` is safe "
        "to retry with the same key.",
    ),
    (
        e.OverCapacity,
        "The replica is at its admission limit (requests in flight, or event-loop lag).",
        "Retry after `Retry-After` seconds, with backoff.",
    ),
    (
        e.UpstreamUnavailable,
        "Instacart is unreachable, failing, or paused by the circuit breaker.",
        "Retry after `Retry-After` seconds; retry an order with the same `Idempotency-Key`.",
    ),
    (
        e.UpstreamTimeout,
        "Instacart did not answer in time. For an order, whether it was placed is settled by "
        "looking it up, never by creating it twice.",
        "Retry with the same `Idempotency-Key`: it answers the order once Instacart's outcome "
        "is known.",
    ),
)

CATALOGUE: dict[str, CatalogueEntry] = {
    cls.code: CatalogueEntry(cls.code, cls.status, cls.title, when, what_to_do)
    for cls, when, what_to_do in _ENTRIES
}
CLASSES: tuple[type[e.AppError], ...] = tuple(cls for cls, _, _ in _ENTRIES)


def problem_type(code: str) -> str:
    """A problem's ``type``: where its catalogue entry is served, relative to the service."""
    return f"{ERRORS_PATH}/{code}"


def catalogue_markdown() -> str:
    """docs/errors.md, from the catalogue."""
    lines = [
        "# Error codes",
        "",
        "<!-- Generated by `python -m app errors > docs/errors.md` from "
        "app/platform/error_catalogue.py; tests/system/openapi/test_error_catalogue.py keeps them "
        "equal. -->",
        "",
        "Every error is `application/problem+json` (RFC 9457): `type`, `title`, `status`, "
        "`detail` (a sentence for a developer), `code` (one of those below: branch on it), "
        "`request_id`, and where they apply `param` (the request parameter at fault, as the "
        "client spells it: `slot_id`, `items.0.quantity`), `errors[]` (every invalid field with "
        "a sentence) and `order_id` (`reservation_used`). `type` is `/v1/errors/{code}`, served "
        "by the service itself: the same entry as below, as JSON, or as a page in a browser.",
        "",
        "| status | code | title |",
        "|---|---|---|",
    ]
    lines += [f"| {x.status} | [`{x.code}`](#{x.code}) | {x.title} |" for x in CATALOGUE.values()]
    for entry in CATALOGUE.values():
        lines += [
            "",
            f"## {entry.code}",
            "",
            f"**{entry.status}** {entry.title}.",
            "",
            f"When: {entry.when}",
            "",
            f"What to do: {entry.what_to_do}",
        ]
    return "\n".join(lines) + "\n"
