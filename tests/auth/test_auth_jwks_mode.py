"""TokenVerifier with JWKS keys: RS256/ES256, algorithm confusion, refetch and failure rules."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from app.auth.tokens import TokenVerifier
from app.platform.errors import DependencyUnavailable, Unauthenticated
from local_processes.waiting import wait_until_async
from tests.support.clock import FakeClock

from .helpers import (
    JWKS_URL,
    SECRET,
    JWKSEndpoint,
    SigningKey,
    claims,
    hmac_signed,
    hs256,
    make_settings,
)


def jwks_verifier(
    clock: FakeClock, endpoint: JWKSEndpoint, *, secret: str | None = None, **overrides
) -> TokenVerifier:
    settings = make_settings(auth_jwks_url=JWKS_URL, auth_jwt_secret=secret, **overrides)
    return TokenVerifier.from_settings(
        settings, endpoint.client(), clock=clock.time, monotonic=clock.monotonic
    )


async def detail_of(v: TokenVerifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as info:
        await v.verify(token)
    return info.value.detail


async def test_rs256_token_is_verified_with_the_jwks_key(clock, rsa_key: SigningKey):
    endpoint = JWKSEndpoint([rsa_key.public_jwk])
    v = jwks_verifier(clock, endpoint)
    principal = await v.verify(rsa_key.sign(claims("alice", roles=["staff"])))
    assert (principal.user_id, principal.is_staff) == ("alice", True)
    assert endpoint.calls == 1


async def test_es256_token_is_verified_with_the_jwks_key(clock, rsa_key, ec_key: SigningKey):
    endpoint = JWKSEndpoint([rsa_key.public_jwk, ec_key.public_jwk])
    v = jwks_verifier(clock, endpoint)
    assert (await v.verify(ec_key.sign(claims("bob")))).user_id == "bob"


async def test_token_without_kid_uses_the_only_key_for_its_algorithm(clock, rsa_key, ec_key):
    v = jwks_verifier(clock, JWKSEndpoint([rsa_key.public_jwk, ec_key.public_jwk]))
    assert (await v.verify(rsa_key.sign(claims(), no_kid=True))).user_id == "alice"


async def test_token_without_kid_is_refused_when_several_keys_fit(clock, rsa_key, rsa_key_2):
    v = jwks_verifier(clock, JWKSEndpoint([rsa_key.public_jwk, rsa_key_2.public_jwk]))
    assert await detail_of(v, rsa_key.sign(claims(), no_kid=True)) == (
        "token signing key is unknown"
    )


async def test_rs256_token_signed_by_another_key_with_a_known_kid_is_rejected(
    clock, rsa_key, rsa_key_2
):
    v = jwks_verifier(clock, JWKSEndpoint([rsa_key.public_jwk]))
    forged = rsa_key_2.sign(claims(), kid=rsa_key.kid)
    assert await detail_of(v, forged) == "token signature is invalid"


async def test_es256_header_with_an_rsa_kid_is_refused(clock, rsa_key, ec_key):
    v = jwks_verifier(clock, JWKSEndpoint([rsa_key.public_jwk]))
    assert await detail_of(v, ec_key.sign(claims(), kid=rsa_key.kid)) == (
        "token signing key is unknown"
    )


async def test_hs256_token_signed_with_the_rsa_public_key_is_refused_in_jwks_mode(
    clock, rsa_key: SigningKey
):
    # The classic algorithm-confusion attack: HMAC keyed with the public key everyone can read.
    endpoint = JWKSEndpoint([rsa_key.public_jwk])
    v = jwks_verifier(clock, endpoint)
    forged = hmac_signed(rsa_key.public_pem, {"alg": "HS256", "kid": rsa_key.kid}, claims())
    assert await detail_of(v, forged) == "token algorithm is not allowed"
    assert endpoint.calls == 0  # refused before any key is even looked up


async def test_hs256_signed_with_the_public_key_fails_when_secret_and_jwks_are_both_set(
    clock, rsa_key: SigningKey
):
    v = jwks_verifier(clock, JWKSEndpoint([rsa_key.public_jwk]), secret=SECRET)
    forged = hmac_signed(rsa_key.public_pem, {"alg": "HS256", "kid": rsa_key.kid}, claims())
    assert await detail_of(v, forged) == "token signature is invalid"


async def test_both_sources_configured_pick_the_key_by_algorithm_family(clock, rsa_key, ec_key):
    endpoint = JWKSEndpoint([rsa_key.public_jwk, ec_key.public_jwk])
    v = jwks_verifier(clock, endpoint, secret=SECRET)
    assert (await v.verify(hs256(claims("hs")))).user_id == "hs"
    assert endpoint.calls == 0  # HS256 never touches the JWKS
    assert (await v.verify(rsa_key.sign(claims("rs")))).user_id == "rs"
    assert (await v.verify(ec_key.sign(claims("es")))).user_id == "es"


async def test_jwks_mode_refuses_algorithms_outside_the_allow_list(clock, rsa_key, ec_key):
    v = jwks_verifier(
        clock, JWKSEndpoint([rsa_key.public_jwk, ec_key.public_jwk]), auth_algorithms=["RS256"]
    )
    assert (await v.verify(rsa_key.sign(claims()))).user_id == "alice"
    assert await detail_of(v, ec_key.sign(claims())) == "token algorithm is not allowed"


async def test_unknown_kid_refetches_once_and_again_not_within_a_minute(clock, rsa_key, rsa_key_2):
    endpoint = JWKSEndpoint([rsa_key.public_jwk])
    v = jwks_verifier(clock, endpoint)
    await v.verify(rsa_key.sign(claims()))
    assert endpoint.calls == 1

    clock.advance(61)
    assert await detail_of(v, rsa_key_2.sign(claims("b", now=clock.now))) == (
        "token signing key is unknown"
    )
    assert endpoint.calls == 2  # one refetch for the unknown kid

    clock.advance(30)
    for sub in ("c", "d", "e"):
        token = rsa_key_2.sign(claims(sub, now=clock.now), kid=f"other-{sub}")
        assert await detail_of(v, token) == "token signing key is unknown"
    assert endpoint.calls == 2  # rate limited: no refetch within a minute of the last one

    clock.advance(31)
    await detail_of(v, rsa_key_2.sign(claims("f", now=clock.now)))
    assert endpoint.calls == 3


async def test_unknown_kid_refetch_finds_a_rotated_key(clock, rsa_key, rsa_key_2):
    endpoint = JWKSEndpoint([rsa_key.public_jwk])
    v = jwks_verifier(clock, endpoint)
    await v.verify(rsa_key.sign(claims()))
    endpoint.keys = [rsa_key.public_jwk, rsa_key_2.public_jwk]  # the IdP rotates
    clock.advance(60)
    assert (await v.verify(rsa_key_2.sign(claims("new", now=clock.now)))).user_id == "new"
    assert endpoint.calls == 2


async def test_keys_are_refetched_after_their_ttl(clock, rsa_key):
    endpoint = JWKSEndpoint([rsa_key.public_jwk])
    v = jwks_verifier(clock, endpoint)
    await v.verify(rsa_key.sign(claims("a")))
    clock.advance(599)
    await v.verify(rsa_key.sign(claims("b", now=clock.now)))
    assert endpoint.calls == 1
    clock.advance(2)
    await v.verify(rsa_key.sign(claims("c", now=clock.now)))
    assert endpoint.calls == 2


@pytest.mark.parametrize("failure", ["status_500", "connect_error", "not_a_jwks", "no_usable_key"])
async def test_fetch_failure_keeps_the_last_good_keys(clock, rsa_key, failure):
    endpoint = JWKSEndpoint([rsa_key.public_jwk])
    v = jwks_verifier(clock, endpoint)
    await v.verify(rsa_key.sign(claims("a")))

    if failure == "status_500":
        endpoint.fail_with = 500
    elif failure == "connect_error":
        endpoint.raise_error = True
    elif failure == "not_a_jwks":
        endpoint.keys = "nope"  # type: ignore[assignment]
    else:
        endpoint.keys = [{"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}]
    clock.advance(601)  # keys are stale: the verifier tries to refresh and fails
    with capture_logs() as logs:
        for sub in ("b", "c", "d"):
            assert (await v.verify(rsa_key.sign(claims(sub, now=clock.now)))).user_id == sub
    assert endpoint.calls == 2  # failed once, then backs off instead of hammering the IdP
    warnings = [e for e in logs if e["event"] == "auth.jwks.fetch_failed"]
    assert len(warnings) == 1
    assert warnings[0]["log_level"] == "warning"
    assert rsa_key.public_jwk["n"] not in str(warnings[0])


async def test_no_keys_ever_fetched_is_a_dependency_failure_not_a_401(clock, rsa_key):
    endpoint = JWKSEndpoint([rsa_key.public_jwk])
    endpoint.fail_with = 503
    v = jwks_verifier(clock, endpoint)
    with pytest.raises(DependencyUnavailable):
        await v.verify(rsa_key.sign(claims()))
    endpoint.fail_with = None
    clock.advance(11)  # past the failure back-off
    assert (await v.verify(rsa_key.sign(claims(now=clock.now)))).user_id == "alice"


async def test_concurrent_callers_share_one_fetch(clock, rsa_key):
    endpoint = JWKSEndpoint([rsa_key.public_jwk])
    release = asyncio.Event()

    async def slow() -> None:
        await release.wait()

    endpoint.before_answer = slow
    v = jwks_verifier(clock, endpoint)
    tasks = [asyncio.create_task(v.verify(rsa_key.sign(claims(f"user-{i}")))) for i in range(20)]
    await wait_until_async(lambda: endpoint.calls, what="the key set's fetch under way")
    release.set()
    principals = await asyncio.gather(*tasks)
    assert {p.user_id for p in principals} == {f"user-{i}" for i in range(20)}
    assert endpoint.calls == 1


async def test_a_cancelled_caller_does_not_cancel_the_shared_fetch(clock, rsa_key):
    endpoint = JWKSEndpoint([rsa_key.public_jwk])
    release = asyncio.Event()

    async def slow() -> None:
        await release.wait()

    endpoint.before_answer = slow
    v = jwks_verifier(clock, endpoint)
    first = asyncio.create_task(v.verify(rsa_key.sign(claims("a"))))
    second = asyncio.create_task(v.verify(rsa_key.sign(claims("b"))))
    await wait_until_async(lambda: endpoint.calls, what="the key set's fetch under way")
    first.cancel()
    release.set()
    assert (await second).user_id == "b"
    assert endpoint.calls == 1


async def test_key_rotation_clears_the_verified_token_cache(clock, rsa_key, rsa_key_2):
    endpoint = JWKSEndpoint([rsa_key.public_jwk])
    v = jwks_verifier(clock, endpoint)
    token = rsa_key.sign(claims(ttl=3600))
    await v.verify(token)
    endpoint.keys = [rsa_key_2.public_jwk]  # rsa-1 revoked
    clock.advance(601)
    await v.verify(rsa_key_2.sign(claims("b", now=clock.now)))  # triggers the TTL refresh
    assert await detail_of(v, token) == "token signing key is unknown"


async def test_jwks_keys_marked_for_encryption_are_ignored(clock, rsa_key):
    v = jwks_verifier(clock, JWKSEndpoint([{**rsa_key.public_jwk, "use": "enc"}]))
    with pytest.raises(DependencyUnavailable):
        await v.verify(rsa_key.sign(claims()))
