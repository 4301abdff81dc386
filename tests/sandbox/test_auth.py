"""OAuth token endpoint and bearer checks."""

from __future__ import annotations

import httpx

from tests.sandbox.helpers import TOKEN_BODY, assert_error
from tests.support.clock import FakeClock

STORES = "/v2/fulfillment/stores/delivery"
WHERE = {"postal_code": "94105"}


async def test_token_with_valid_credentials_returns_bearer_token(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    response = await client.post("/v2/oauth/token", json=TOKEN_BODY)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 86400
    assert body["scope"] == "connect:fulfillment"
    assert body["created_at"] == int(clock.now)
    assert len(body["access_token"]) >= 32
    ok = await client.post(
        STORES, json=WHERE, headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert ok.status_code == 200


async def test_token_with_bad_credentials_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/v2/oauth/token", json={**TOKEN_BODY, "client_secret": "nope"})
    assert_error(response, 401, "invalid client credentials")


async def test_token_with_invalid_body_is_401_not_400(client: httpx.AsyncClient) -> None:
    for body in (
        {**TOKEN_BODY, "grant_type": "password"},
        {k: v for k, v in TOKEN_BODY.items() if k != "scope"},
        {**TOKEN_BODY, "client_id": 42},
    ):
        assert_error(await client.post("/v2/oauth/token", json=body), 401)
    malformed = await client.post("/v2/oauth/token", content=b"{not json")
    assert_error(malformed, 401, "invalid request body")


async def test_token_with_unknown_scope_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/v2/oauth/token", json={**TOKEN_BODY, "scope": "admin"})
    assert_error(response, 401, "scope")


async def test_token_with_credentials_in_query_string_is_403(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v2/oauth/token", params={"client_secret": "sandbox-secret"}, json=TOKEN_BODY
    )
    assert_error(response, 403)
    no_body = await client.post("/v2/oauth/token", params={"client_id": "sandbox-client"})
    assert_error(no_body, 403)


async def test_missing_bearer_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post(STORES, json=WHERE)
    assert_error(response, 401, "missing bearer token")
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_unknown_bearer_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post(STORES, json=WHERE, headers={"Authorization": "Bearer forged"})
    assert_error(response, 401, "invalid or expired token")


async def test_expired_token_is_401(
    client: httpx.AsyncClient, auth: dict[str, str], clock: FakeClock
) -> None:
    clock.advance(seconds=86399)
    assert (await client.post(STORES, json=WHERE, headers=auth)).status_code == 200
    clock.advance(seconds=1)
    assert_error(await client.post(STORES, json=WHERE, headers=auth), 401)


async def test_revoked_token_is_401(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    revoked = await client.post("/sandbox/tokens/revoke")
    assert revoked.json() == {"revoked": 1}
    assert_error(await client.post(STORES, json=WHERE, headers=auth), 401)


async def test_token_ttl_fault_issues_short_lived_tokens(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await client.put("/sandbox/faults", json={"token_ttl_seconds": 5})
    body = (await client.post("/v2/oauth/token", json=TOKEN_BODY)).json()
    assert body["expires_in"] == 5
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    clock.advance(seconds=5)
    assert_error(await client.post(STORES, json=WHERE, headers=headers), 401)
