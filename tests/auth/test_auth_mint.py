"""mint_token: development tokens that the verifier built from the same settings accepts."""

from __future__ import annotations

import jwt
import pytest

from app.auth.tokens import AuthConfigError, TokenVerifier, mint_token
from tests.support.clock import FakeClock

from .helpers import NOW, SECRET, make_settings


async def test_minted_token_verifies_as_the_user(clock: FakeClock):
    settings = make_settings()
    token = mint_token(settings, "alice", ttl_seconds=600, now=NOW)
    principal = await TokenVerifier.from_settings(settings, clock=clock.time).verify(token)
    assert (principal.user_id, principal.is_staff, principal.expires_at) == (
        "alice",
        False,
        NOW + 600,
    )
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


async def test_minted_staff_token_carries_the_configured_role(clock: FakeClock):
    settings = make_settings(auth_staff_claim="perms", auth_staff_role="store-staff")
    token = mint_token(settings, "sam", staff=True, now=NOW)
    assert jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False})[
        "perms"
    ] == ["store-staff"]
    assert (await TokenVerifier.from_settings(settings, clock=clock.time).verify(token)).is_staff


async def test_minted_token_carries_the_configured_issuer_and_audience(clock: FakeClock):
    settings = make_settings(auth_issuer="https://idp.example.test/", auth_audience="checkout")
    token = mint_token(settings, "alice", now=NOW)
    assert (
        await TokenVerifier.from_settings(settings, clock=clock.time).verify(token)
    ).user_id == "alice"


def test_mint_token_without_a_secret_raises_a_clear_error():
    with pytest.raises(AuthConfigError, match="BFF_AUTH_JWT_SECRET"):
        mint_token(make_settings(auth_jwt_secret=None), "alice")


def test_mint_token_refuses_when_hs256_is_not_accepted():
    with pytest.raises(AuthConfigError, match="HS256"):
        mint_token(make_settings(auth_algorithms=["RS256"]), "alice")


@pytest.mark.parametrize("user_id", ["", "x" * 129, "a\nb"])
def test_mint_token_refuses_an_invalid_user_id(user_id):
    with pytest.raises(ValueError, match="user id"):
        mint_token(make_settings(), user_id)


def test_mint_token_refuses_a_non_positive_ttl():
    with pytest.raises(ValueError, match="ttl"):
        mint_token(make_settings(), "alice", ttl_seconds=0)
