"""Fixtures for the auth tests."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.auth.tokens import TokenVerifier
from tests.support.clock import FakeClock

from .helpers import NOW, SigningKey, make_settings


@pytest.fixture(scope="session")
def rsa_key() -> SigningKey:
    return SigningKey("rsa-1", "RS256", rsa.generate_private_key(65537, 2048))


@pytest.fixture(scope="session")
def rsa_key_2() -> SigningKey:
    return SigningKey("rsa-2", "RS256", rsa.generate_private_key(65537, 2048))


@pytest.fixture(scope="session")
def ec_key() -> SigningKey:
    return SigningKey("ec-1", "ES256", ec.generate_private_key(ec.SECP256R1()))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def secret_verifier(clock: FakeClock) -> TokenVerifier:
    return TokenVerifier.from_settings(make_settings(), clock=clock.time, monotonic=clock.monotonic)
