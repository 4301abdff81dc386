"""The verified-token cache: hits skip decoding, never outlive exp, stay bounded."""

from __future__ import annotations

import pytest

from app.auth.tokens import TokenVerifier
from app.platform.errors import Unauthenticated
from tests.support.clock import FakeClock

from .helpers import NOW, SECRET, claims, hs256


def counting_verifier(clock: FakeClock, cache_size: int = 4096) -> tuple[TokenVerifier, list[str]]:
    v = TokenVerifier(secret=SECRET, clock=clock.time, cache_size=cache_size)
    decoded: list[str] = []
    real_decode = v._decode

    def spy(token, key, algorithms):
        decoded.append(token)
        return real_decode(token, key, algorithms)

    v._decode = spy  # type: ignore[method-assign]
    return v, decoded


async def test_verified_token_is_served_from_the_cache(clock):
    v, decoded = counting_verifier(clock)
    token = hs256(claims(ttl=600))
    first = await v.verify(token)
    for _ in range(100):
        assert await v.verify(token) is first
    assert len(decoded) == 1


async def test_cached_token_is_not_served_after_its_exp(clock):
    v, decoded = counting_verifier(clock)
    token = hs256(claims(ttl=60))
    await v.verify(token)
    clock.advance(59)
    await v.verify(token)
    assert len(decoded) == 1
    clock.advance(1)  # now == exp: the cache no longer vouches for it
    await v.verify(token)  # still inside the 10 s leeway, so a full check accepts it
    assert len(decoded) == 2
    clock.advance(10)
    with pytest.raises(Unauthenticated, match="expired"):
        await v.verify(token)
    assert len(decoded) == 3


async def test_rejected_tokens_are_not_cached(clock):
    v, decoded = counting_verifier(clock)
    token = hs256(claims(), secret="another-secret-of-at-least-32-bytes!!")
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            await v.verify(token)
    assert len(decoded) == 3


async def test_cache_is_a_bounded_lru(clock):
    v, decoded = counting_verifier(clock, cache_size=2)
    a, b, c = (hs256(claims(sub)) for sub in "abc")
    await v.verify(a)
    await v.verify(b)
    await v.verify(a)  # a is now the most recently used
    await v.verify(c)  # evicts b
    assert len(decoded) == 3
    await v.verify(a)
    assert len(decoded) == 3
    await v.verify(b)
    assert len(decoded) == 4
    assert len(v._cache) == 2


async def test_cache_does_not_hold_raw_tokens(clock):
    v, _ = counting_verifier(clock)
    token = hs256(claims())
    await v.verify(token)
    assert token not in v._cache
    assert all(isinstance(key, bytes) and len(key) == 20 for key in v._cache)


async def test_principal_expires_at_is_the_token_exp(clock):
    v, _ = counting_verifier(clock)
    assert (await v.verify(hs256(claims(ttl=123)))).expires_at == NOW + 123
