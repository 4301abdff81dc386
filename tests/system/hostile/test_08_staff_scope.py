"""Finding 8: staff was global. Any staff token could stage any last-mile order of any store.

Staff tokens carry the stores their holder acts for: a clerk of another store gets 404 (as if
the order did not exist), a staff token naming no store 403, the store's own clerk 200.
"""

from __future__ import annotations

import uuid

from tests.system.hostile.storefront import place_order
from tests.system.hostile.target import Target


def test_staff_stage_only_their_own_stores_orders(target: Target) -> None:
    idp = target.idp
    with target.client() as bff:
        order = place_order(bff, idp.bearer(f"customer-{uuid.uuid4().hex[:8]}"), "last_mile")
        path = f"/v1/staff/orders/{order['id']}/stage"

        elsewhere = bff.post(path, headers=idp.bearer("clerk-b", staff_of=("another-store",)))
        assert elsewhere.status_code == 404
        assert elsewhere.json()["code"] == "not_found"

        nowhere = bff.post(path, headers=idp.bearer("clerk-x", staff_of=()))
        assert nowhere.status_code == 403
        assert nowhere.json()["code"] == "forbidden"

        own = bff.post(path, headers=idp.bearer("clerk-a", staff_of=(order["store_id"],)))
        assert own.status_code == 200, own.text
        assert own.json()["status"] in {"staging", "staged"}
