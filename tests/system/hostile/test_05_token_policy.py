"""Finding 5: a weak token policy. `iss` and `aud` were optional even with JWKS (a token for
another application of the same identity provider was accepted), production accepted a
1-character HS secret, a JWKS URL over plain http and a 1-character callback secret, and an
`exp` 100 years ahead was accepted.

The target checks RS256 tokens against its identity provider's JWKS with an issuer and an
audience; every forgery below is 401, and production refuses the weak settings at start-up.
"""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from local_processes.ports import free_port
from tests.auth.helpers import hmac_signed
from tests.system.hostile.identity_provider import KID, IdentityProvider
from tests.system.hostile.target import Target, production_environment, start_up

CENTURY = 100 * 365 * 24 * 3600


def _orders(target: Target, token: str) -> int:
    with target.client() as bff:
        answer = bff.get("/v1/orders", headers={"Authorization": f"Bearer {token}"})
    return answer.status_code


def _hs256_with_the_public_key(idp: IdentityProvider) -> str:
    """The algorithm-confusion forgery: HMAC keyed with the published RSA key."""
    public = jwt.PyJWK(idp.jwks["keys"][0]).key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = {"sub": "mallory", "exp": int(time.time()) + 600}
    return hmac_signed(public, {"alg": "HS256", "typ": "JWT", "kid": KID}, claims)


def _signed_by_another_key_with_the_known_kid() -> str:
    key = rsa.generate_private_key(65537, 2048)
    claims = {"sub": "mallory", "exp": int(time.time()) + 600}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": KID})


def test_a_token_production_accepts(target: Target) -> None:
    assert _orders(target, target.idp.token("honest-user")) == 200


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "another-application"},
        {"aud": None},
        {"iss": "https://another-issuer.example/"},
        {"iss": None},
        {"lifetime": CENTURY},
    ],
    ids=["other-audience", "no-audience", "other-issuer", "no-issuer", "exp-a-century-ahead"],
)
def test_tokens_outside_the_policy_are_401(target: Target, claims: dict[str, object]) -> None:
    assert _orders(target, target.idp.token("mallory", **claims)) == 401  # type: ignore[arg-type]


def test_forged_signatures_are_401(target: Target) -> None:
    unsigned = jwt.encode({"sub": "mallory", "exp": int(time.time()) + 600}, None, "none")
    for forged in (
        unsigned,
        _hs256_with_the_public_key(target.idp),
        _signed_by_another_key_with_the_known_kid(),
    ):
        assert _orders(target, forged) == 401


def test_production_refuses_weak_secrets_an_http_jwks_and_no_issuer(target: Target) -> None:
    weak = {
        "BFF_AUTH_JWT_SECRET": "weak-hs-secret",
        "BFF_AUTH_JWKS_URL": "http://id.retailer.example/.well-known/jwks.json",
        "BFF_CALLBACK_CLIENT_SECRET": "weak-callback",
    }
    environment = production_environment(**target.environment) | weak
    del environment["BFF_AUTH_ISSUER"]
    result = start_up(environment, free_port())
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    for named in (
        "BFF_AUTH_JWT_SECRET needs at least 32 bytes",
        "BFF_AUTH_JWKS_URL must be https",
        "BFF_CALLBACK_CLIENT_SECRET needs at least 32 bytes",
        "set BFF_AUTH_ISSUER and BFF_AUTH_AUDIENCE",
    ):
        assert named in line
    assert "weak-hs-secret" not in line and "weak-callback" not in line
