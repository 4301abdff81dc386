"""Finding 3: anyone could lock Instacart out of the callback token endpoint. 60 wrong secrets
for the real client id, and the correct credentials got 429 for a minute.

Behind the ingress (one trusted hop, as the manifests set), the attacker makes 1,000 wrong
attempts for the real client id; its own source is refused past the limit, before its guesses
are even checked, and Instacart, from another source, still gets a token at once.
"""

from __future__ import annotations

import asyncio

from tests.system.hostile.target import Target, with_a_minute_window_ahead

TOKEN_URL = "/callbacks/instacart/token"
ATTEMPTS = 1000
LIMIT = 60  # BFF_RATE_LIMIT_CALLBACK_TOKENS_PER_MINUTE, production's default


def _from(address: str) -> dict[str, str]:
    """What the ingress forwards: whatever the client claimed, then the address it saw."""
    return {"X-Forwarded-For": f"10.9.9.9, {address}"}


async def test_a_thousand_wrong_guesses_never_lock_instacart_out(target: Target) -> None:
    client_id, secret = target.callback_credentials
    wrong = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": "x"}
    right = wrong | {"client_secret": secret}
    with_a_minute_window_ahead()
    async with target.async_client() as bff:

        async def guess() -> int:
            answer = await bff.post(TOKEN_URL, data=wrong, headers=_from("203.0.113.66"))
            return answer.status_code

        statuses = [await guess() for _ in range(LIMIT)]
        statuses += await asyncio.gather(*(guess() for _ in range(ATTEMPTS - LIMIT)))
        assert statuses[:LIMIT] == [401] * LIMIT
        assert set(statuses[LIMIT:]) == {429}

        # The attacker's source is refused even with the right secret: it is not checked.
        refused = await bff.post(TOKEN_URL, data=right, headers=_from("203.0.113.66"))
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1

        issued = await bff.post(TOKEN_URL, data=right, headers=_from("198.51.100.20"))
        assert issued.status_code == 200, issued.text
        target.secrets.append(issued.json()["access_token"])
