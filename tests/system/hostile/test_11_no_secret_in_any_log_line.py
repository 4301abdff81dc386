"""No secret and no address in any log line of the target, after every attack of this suite
(this module runs last in the package) and a few more aimed at the logs themselves: the
configured secrets, every token the identity provider signed, every callback token and stream
ticket issued, the wrong secrets guessed, and the customers' street addresses.
"""

from __future__ import annotations

import json

from tests.system.hostile.target import Target


def test_no_secret_or_address_reaches_a_log_line(target: Target) -> None:
    client_id, secret = target.callback_credentials
    bearer = target.idp.bearer("log-reader")
    with target.client() as bff:
        # Credentials in places a careless log would print: a failed token request, a bearer
        # token on a path that does not exist, one with its signature cut off, a query string.
        bff.post(
            "/callbacks/instacart/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": "guess-" + secret[:8],
            },
        )
        bff.get("/v1/no-such-route", headers=bearer)
        bff.get("/v1/orders", headers={"Authorization": bearer["Authorization"][:-10]})
        bff.get("/v1/orders", params={"access_token": bearer["Authorization"][7:]})
    text = target.log.read_text()
    lines = text.splitlines()
    assert any(json.loads(line).get("event") == "http.request" for line in lines[-10:])

    forbidden = {
        "a configured secret or an issued callback token or stream ticket": target.secrets,
        "a token the identity provider signed": target.idp.issued,
        "a guessed secret": ["guess-" + secret[:8]],
        "a street address": ["Spear St"],
    }
    for kind, values in forbidden.items():
        leaked = [n for n, line in enumerate(lines) for value in values if value in line]
        assert not leaked, f"{kind} in log line(s) {leaked[:5]} of {target.log}"
