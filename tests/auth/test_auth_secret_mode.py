"""TokenVerifier with the HS256 shared secret: claims, failures and what never gets through."""

from __future__ import annotations

import pytest

from app.auth.tokens import AuthConfigError, Principal, TokenVerifier
from app.platform.errors import Unauthenticated
from tests.support.clock import FakeClock

from .helpers import NOW, SigningKey, b64url, claims, hs256, make_settings, raw_hs256


def verifier(clock: FakeClock, **overrides) -> TokenVerifier:
    return TokenVerifier.from_settings(
        make_settings(**overrides), clock=clock.time, monotonic=clock.monotonic
    )


async def rejected(v: TokenVerifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as info:
        await v.verify(token)
    assert info.value.status == 401
    assert info.value.headers == {"WWW-Authenticate": "Bearer"}
    return info.value.detail


async def test_valid_hs256_token_returns_principal(secret_verifier):
    principal = await secret_verifier.verify(hs256(claims("alice", ttl=600)))
    assert principal == Principal(user_id="alice", is_staff=False, expires_at=NOW + 600)


async def test_staff_claim_as_list_makes_the_user_staff(secret_verifier):
    principal = await secret_verifier.verify(hs256(claims(roles=["customer", "staff"])))
    assert principal.is_staff is True


@pytest.mark.parametrize("roles", ["staff", "customer staff", "customer,staff", "a, staff"])
async def test_staff_claim_as_string_makes_the_user_staff(secret_verifier, roles):
    assert (await secret_verifier.verify(hs256(claims(roles=roles)))).is_staff is True


@pytest.mark.parametrize("roles", [None, "staffer", "customer", ["admin"], [["staff"]], 1, {}])
async def test_staff_claim_without_the_role_is_not_staff(secret_verifier, roles):
    payload = claims() if roles is None else claims(roles=roles)
    assert (await secret_verifier.verify(hs256(payload))).is_staff is False


async def test_staff_claim_and_role_names_are_configurable(clock):
    v = verifier(clock, auth_staff_claim="permissions", auth_staff_role="store-staff")
    assert (await v.verify(hs256(claims(permissions=["store-staff"])))).is_staff
    assert not (await v.verify(hs256(claims("bob", roles=["staff"])))).is_staff


async def test_nested_staff_claim_path_is_followed(clock):
    v = verifier(clock, auth_staff_claim="realm_access.roles")
    token = hs256(claims(realm_access={"roles": ["staff"]}))
    assert (await v.verify(token)).is_staff


async def test_expired_token_is_rejected(secret_verifier):
    detail = await rejected(secret_verifier, hs256(claims(ttl=-60)))
    assert detail == "token has expired"


async def test_token_expired_within_the_leeway_is_still_accepted(secret_verifier):
    assert (await secret_verifier.verify(hs256(claims(ttl=-5)))).user_id == "alice"


async def test_token_not_yet_valid_is_rejected(secret_verifier):
    detail = await rejected(secret_verifier, hs256(claims(nbf=int(NOW + 120))))
    assert detail == "token is not yet valid"


async def test_token_signed_with_another_secret_is_rejected(secret_verifier):
    token = hs256(claims(), secret="another-secret-of-at-least-32-bytes!!")
    assert await rejected(secret_verifier, token) == "token signature is invalid"


async def test_tampered_payload_is_rejected(secret_verifier):
    header, _, signature = hs256(claims("alice")).split(".")
    forged = f"{header}.{b64url(claims('mallory'))}.{signature}"
    assert await rejected(secret_verifier, forged) == "token signature is invalid"


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
@pytest.mark.parametrize("signature", ["", "c2ln"])
async def test_alg_none_token_is_refused(secret_verifier, alg, signature):
    token = f"{b64url({'alg': alg, 'typ': 'JWT'})}.{b64url(claims())}.{signature}"
    assert await rejected(secret_verifier, token) == "token algorithm is not allowed"


async def test_hs256_token_is_refused_when_hs256_is_not_allowed(clock, rsa_key):
    with pytest.raises(AuthConfigError):
        verifier(clock, auth_algorithms=["RS256"])  # a secret alone then verifies nothing
    v = verifier(clock, auth_algorithms=["HS384"])
    assert await rejected(v, hs256(claims())) == "token algorithm is not allowed"


async def test_asymmetric_token_is_refused_in_secret_mode(secret_verifier, rsa_key: SigningKey):
    assert await rejected(secret_verifier, rsa_key.sign(claims())) == (
        "token algorithm is not allowed"
    )


async def test_token_without_exp_is_rejected(secret_verifier):
    payload = claims()
    del payload["exp"]
    assert await rejected(secret_verifier, hs256(payload)) == "token has no exp claim"


@pytest.mark.parametrize("exp", ['"1900000000"', "true", "NaN", "Infinity", "1" + "0" * 400])
async def test_token_with_non_numeric_exp_is_rejected(secret_verifier, exp):
    token = raw_hs256('{"sub": "alice", "exp": ' + exp + "}")
    assert await rejected(secret_verifier, token) == "token exp claim is not a number"


async def test_token_with_null_exp_counts_as_missing(secret_verifier):
    token = hs256({**claims(), "exp": None})
    assert await rejected(secret_verifier, token) == "token has no exp claim"


async def test_token_without_sub_is_rejected(secret_verifier):
    payload = claims()
    del payload["sub"]
    assert await rejected(secret_verifier, hs256(payload)) == "token has no sub claim"


@pytest.mark.parametrize("sub", ["", "x" * 129, "ali\nce", "ali\x00ce", "a\u2028b", 42, ["a"]])
async def test_token_with_invalid_sub_is_rejected(secret_verifier, sub):
    detail = await rejected(secret_verifier, hs256({**claims(), "sub": sub}))
    assert detail.startswith(("token subject (sub)", "token has no sub claim"))


async def test_sub_of_128_characters_is_accepted(secret_verifier):
    assert (await secret_verifier.verify(hs256(claims("u" * 128)))).user_id == "u" * 128


async def test_issuer_is_checked_when_configured(clock):
    v = verifier(clock, auth_issuer="https://idp.example.test/")
    good = hs256(claims(iss="https://idp.example.test/"))
    assert (await v.verify(good)).user_id == "alice"
    wrong = hs256(claims(iss="https://evil.example.test/"))
    assert await rejected(v, wrong) == "token issuer is not accepted"
    assert await rejected(v, hs256(claims())) == "token has no iss claim"


async def test_audience_is_checked_when_configured(clock):
    v = verifier(clock, auth_audience="checkout")
    assert (await v.verify(hs256(claims(aud="checkout")))).user_id == "alice"
    assert (await v.verify(hs256(claims(aud=["other", "checkout"])))).user_id == "alice"
    assert await rejected(v, hs256(claims(aud="other"))) == "token audience is not accepted"
    assert await rejected(v, hs256(claims())) == "token has no aud claim"


async def test_issuer_and_audience_are_ignored_when_not_configured(secret_verifier):
    token = hs256(claims(iss="anyone", aud="anything"))
    assert (await secret_verifier.verify(token)).user_id == "alice"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "two.segments",
        "a.b.c",
        "a.b.c.d.e",
        "x" * 100_000,
        "é.é.é",
        "eyJhbGciOiJIUzI1NiJ9.!!!.???",
        f"{b64url(b'not json')}.{b64url(claims())}.sig",
        f"{b64url([1, 2])}.{b64url(claims())}.sig",  # type: ignore[arg-type]
        f"{b64url({'alg': 'HS256', 'kid': 'x'})}.{b64url(claims())}",
        f"{b64url({'alg': 5})}.{b64url(claims())}.sig",
        f"{b64url({'typ': 'JWT'})}.{b64url(claims())}.sig",
    ],
    ids=lambda t: t[:24] or "empty",
)
async def test_malformed_tokens_are_rejected(secret_verifier, token):
    detail = await rejected(secret_verifier, token)
    assert token[:20] not in detail or not token


async def test_payload_that_is_not_an_object_is_rejected(secret_verifier):
    assert await rejected(secret_verifier, raw_hs256("[1, 2, 3]")) == "token is malformed"
    assert await rejected(secret_verifier, raw_hs256("not json")) == "token is malformed"


async def test_error_detail_never_contains_the_token(secret_verifier):
    for token in (
        hs256(claims(ttl=-600)),
        hs256(claims(), secret="another-secret-of-at-least-32-bytes!!"),
        "garbage-" + "z" * 40,
    ):
        detail = await rejected(secret_verifier, token)
        assert token not in detail
        assert all(part not in detail for part in token.split(".") if len(part) > 8)


async def test_verifier_refuses_the_none_algorithm_in_its_settings(clock):
    with pytest.raises(AuthConfigError, match="none"):
        verifier(clock, auth_algorithms=["HS256", "none"])


def test_verifier_without_any_key_source_cannot_be_built(clock):
    with pytest.raises(AuthConfigError):
        verifier(clock, auth_jwt_secret=None)
