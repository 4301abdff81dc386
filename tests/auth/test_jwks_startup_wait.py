"""A starting process waits for its JWKS keys within a deadline (app/auth/jwks.py,
`JWKSCache.wait_for_keys`): it rides out failures shorter than the deadline, and past it says
which host failed and how, never what the failing answer's body held."""

from __future__ import annotations

import time

import pytest

from app.auth.jwks import JWKSCache, JWKSUnavailable

from .helpers import JWKS_URL, JWKSEndpoint, SigningKey


def _cache(endpoint: JWKSEndpoint) -> JWKSCache:
    return JWKSCache(JWKS_URL, endpoint.client())


async def test_failures_shorter_than_the_deadline_are_ridden_out(rsa_key: SigningKey) -> None:
    endpoint = JWKSEndpoint([rsa_key.public_jwk])
    endpoint.fail_with = 503

    async def recover_on_the_third_call() -> None:
        if endpoint.calls == 3:
            endpoint.fail_with = None

    endpoint.before_answer = recover_on_the_third_call
    cache = _cache(endpoint)
    await cache.wait_for_keys(10, first_pause=0.01)
    assert endpoint.calls == 3
    assert cache.kids == {rsa_key.kid}
    await cache.aclose()


@pytest.mark.parametrize(
    ("failure", "named"), [("status", "the last: HTTP 503"), ("connect", "ConnectError")]
)
async def test_past_the_deadline_it_names_the_host_and_the_last_failure(
    rsa_key: SigningKey, failure: str, named: str
) -> None:
    endpoint = JWKSEndpoint([rsa_key.public_jwk])
    endpoint.fail_with = 503 if failure == "status" else None
    endpoint.raise_error = failure == "connect"
    cache = _cache(endpoint)
    started = time.monotonic()
    with pytest.raises(JWKSUnavailable) as refused:
        await cache.wait_for_keys(0.3, first_pause=0.05)
    assert time.monotonic() - started >= 0.3
    message = str(refused.value)
    assert message.startswith("the signing keys at idp.example.test could not be fetched in 0.3 s")
    assert named in message
    assert f"({endpoint.calls} attempts" in message and endpoint.calls >= 3
    assert "upstream trouble" not in message  # the failing answer's body
    await cache.aclose()
