"""Keys, token builders and a counting JWKS endpoint for the auth tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization

from app.settings import Settings

SECRET = "test-secret-of-at-least-32-bytes-long!!"
JWKS_URL = "https://idp.example.test/.well-known/jwks.json"
NOW = 1_700_000_000.0


@dataclass
class SigningKey:
    kid: str
    alg: str
    private_key: Any

    @property
    def public_jwk(self) -> dict[str, Any]:
        algo = jwt.algorithms.RSAAlgorithm if self.alg == "RS256" else jwt.algorithms.ECAlgorithm
        jwk = json.loads(algo.to_jwk(self.private_key.public_key()))
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}

    @property
    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, payload: dict[str, Any], *, kid: str | None = None, no_kid: bool = False) -> str:
        headers = {} if no_kid else {"kid": kid or self.kid}
        return jwt.encode(payload, self.private_key, algorithm=self.alg, headers=headers)


class JWKSEndpoint:
    """A MockTransport-backed JWKS URL whose answer and failures the test controls."""

    def __init__(self, keys: list[dict[str, Any]]) -> None:
        self.keys = keys
        self.calls = 0
        self.fail_with: int | None = None
        self.raise_error = False
        self.before_answer: Callable[[], Awaitable[None]] | None = None

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.before_answer is not None:
            await self.before_answer()
        if self.raise_error:
            raise httpx.ConnectError("connection refused", request=request)
        if self.fail_with is not None:
            return httpx.Response(self.fail_with, text="upstream trouble")
        return httpx.Response(200, json={"keys": self.keys})

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))


def claims(sub: str = "alice", *, ttl: float = 300, now: float = NOW, **extra: Any) -> dict:
    return {"sub": sub, "iat": int(now), "exp": int(now + ttl), **extra}


def hs256(payload: dict[str, Any], secret: str | bytes = SECRET, **kw: Any) -> str:
    return jwt.encode(payload, secret, algorithm="HS256", **kw)


def b64url(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"auth_jwt_secret": SECRET, "auth_jwks_url": None}
    values.update(overrides)
    return Settings(_env_file=None, **values)


def raw_hs256(payload_json: str, header: dict[str, Any] | None = None) -> str:
    """Sign arbitrary payload text, for payloads PyJWT would refuse to encode."""
    head = b64url(header or {"alg": "HS256", "typ": "JWT"})
    signing_input = f"{head}.{b64url(payload_json.encode())}"
    mac = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def hmac_signed(key: bytes, header: dict[str, Any], payload: dict[str, Any]) -> str:
    """An HS256 token keyed by arbitrary bytes (e.g. an RSA public key PEM), built by hand."""
    signing_input = f"{b64url(header)}.{b64url(payload)}"
    mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"
