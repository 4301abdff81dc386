"""An Instacart Connect Fulfillment API (v2) simulator with real state and fault injection.

Layout: `app.py` builds the app; `routes/` holds one router per concern (oauth, stores,
service_options, orders, control) and `routes/operation.py` the path every specification call
takes (count, faults, bearer token, strict body). `state.py` is `SandboxState`, the world behind
one lock, whose operations work on records kept by concern: `access_tokens.py` (issued tokens),
`call_stats.py` (calls and answers counted), `store_search.py` over `geography.py` (stores near
a place, delivery areas, store time zones), `slot_grid.py` (windows and their ids), `holds.py`,
`order_book.py` (orders and their status moves, along `order_workflow.py`) and `carts.py` (items
named from the catalog); `response_bodies.py` renders the records as the specification's
bodies. `errors.py` is the refusal and its envelopes; `faults.py` the fault plan; `callbacks.py`
the webhooks (retried with jittered backoff, optionally duplicated and reordered by the
`callbacks` faults); `auto_advance.py` the `--auto-advance SECONDS` timer that walks orders
along their workflows. Imports go one way, down that list: routes and the callback sender work
through `state.py`, which reads the record modules; no record module imports `state.py`, the
routes or FastAPI (docs/architecture.md draws the whole direction).

Errors. Every refusal names the request field at fault, when there is one, and has a stable
integer code. The Connect routes answer in one of two envelopes, chosen by `error_envelope` in
`PUT /sandbox/faults` (reset by `DELETE /sandbox/faults` and `POST /sandbox/reset`):

- "spec" (default), the specification's Error body plus an extension the schema allows:
  `{"error": "<message>", "status": <int>, "meta": {"key": "<field>"}}`; `meta` only when a
  field is at fault.
- "connect", the real API's: `{"error": {"message": "<message>", "code": <int>},
  "meta": {"key": "<field>"}}`; `meta` is `{}` when no field is at fault.

The /sandbox control routes always answer in the "spec" envelope.

Codes ("connect" envelope) and meta.key (both envelopes), by reason:

    1001  slot full                                  hold_id on create,
                                                     service_option_id on reserve
    1002  hold unusable: unknown (or another user's),
          replaced by a newer hold, already used, of
          another fulfillment type, or slot started  hold_id
    1003  order_id already exists                    order_id
    1004  service option unknown or not bookable
          now, on reserve                            service_option_id
    1005  status does not allow cancel or stage      status
    1006  service option's window has started,
          on reserve                                 service_option_id
    1007  service option of another fulfillment
          type, on reserve                           service_option_id
    1000  any other invalid request (400; also 403,  cart (no items, over 250 units);
          405 and 408)                               the item's path (cart.items.1,
                                                     cart.items.0.quantity); else the
                                                     field (store_id, postal_code,
                                                     longitude, delivery_address.city,
                                                     a malformed order_id or
                                                     service_option_id); none for
                                                     malformed JSON or a non-object body
    1401  unauthorized (401)                         none (scope for a refused scope)
    1404  not found (404)                            order_id for an unknown order,
                                                     none for an unknown path
    1429  rate limited (429)                         none
    1500  server error (500, any other 5xx)          none
    1503  unavailable (503)                          none

A stage of an order that is not last mile is 1000 with key `order_id`.

Faults (`PUT /sandbox/faults`, see `faults.py` and the README) run before authentication;
`fail_next`/`error_rate` fail before anything changes, `latency_ms` delays a call that then
completes even if the client left, and `hang_after_create` creates the order and withholds the
answer.
"""

from sandbox.app import create_sandbox_app
from sandbox.config import SandboxConfig

__all__ = ["SandboxConfig", "create_sandbox_app"]
