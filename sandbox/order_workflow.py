"""The statuses an order walks through, by fulfillment type (UPSTREAM.md section 4).

Every status a specification route can answer with is in the specification's enum; the real
API's other names (staged, checkout, completed) can still be forced through
POST /sandbox/orders/{id}/advance for clients that must cope with them.
"""

from __future__ import annotations

from sandbox.data import DELIVERY, LAST_MILE, PICKUP

WORKFLOWS: dict[str, tuple[str, ...]] = {
    DELIVERY: ("brand_new", "acknowledged", "picking", "delivering", "delivered"),
    PICKUP: ("brand_new", "acknowledged", "picking", "staging", "delivered"),
    LAST_MILE: ("brand_new", "staging", "delivering", "delivered"),
}
# statuses after which the shopper has found the items
ITEMS_FOUND_AFTER = frozenset({"staging", "delivering", "delivered", "completed", "staged"})


def next_status(fulfillment_type: str, status: str) -> str | None:
    """The status after `status` in the type's workflow; None at the end or off the workflow."""
    workflow = WORKFLOWS[fulfillment_type]
    if status not in workflow or status == workflow[-1]:
        return None
    return workflow[workflow.index(status) + 1]
