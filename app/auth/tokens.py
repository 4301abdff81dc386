"""End-user JWT verification -> Principal. Free of FastAPI: the HTTP wiring is app.dependencies."""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import jwt
import structlog

from app.auth.jwks import ASYMMETRIC_ALGORITHMS, JWKSCache, JWKSUnavailable, UnknownSigningKey
from app.platform.errors import DependencyUnavailable, Unauthenticated

if TYPE_CHECKING:
    from app.settings import Settings

log = structlog.get_logger("app.auth.tokens")

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
SUPPORTED_ALGORITHMS = HMAC_ALGORITHMS | ASYMMETRIC_ALGORITHMS
MAX_TOKEN_CHARS = 16 * 1024
MAX_USER_ID_CHARS = 128
DEFAULT_LEEWAY_SECONDS = 10.0
DEFAULT_CACHE_SIZE = 4096

_FORBIDDEN_IN_SUBJECT = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ROLE_SEPARATORS = re.compile(r"[\s,]+")


class AuthConfigError(RuntimeError):
    """The authentication settings cannot work (no key source, an unknown algorithm, ...)."""


# The most store ids one staff token may name.
MAX_STAFF_STORES = 1000


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated end user. ``expires_at`` is the token's ``exp`` (Unix seconds)."""

    user_id: str
    is_staff: bool
    expires_at: float
    # The stores a staff member acts for (the token's stores claim); none: no store at all.
    stores: frozenset[str] = frozenset()


def subject_problem(user_id: object) -> str | None:
    """Why ``user_id`` cannot be a user id, or None when it can."""
    if not isinstance(user_id, str) or not user_id:
        return "must be a non-empty string"
    if len(user_id) > MAX_USER_ID_CHARS:
        return f"must be at most {MAX_USER_ID_CHARS} characters"
    if _FORBIDDEN_IN_SUBJECT.search(user_id):
        return "must not contain control characters"
    return None


# Most specific first: several PyJWT errors subclass DecodeError.
_DECODE_ERRORS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.InvalidSignatureError, "token signature is invalid"),
    (jwt.InvalidAlgorithmError, "token algorithm is not allowed"),
    (jwt.InvalidIssuerError, "token issuer is not accepted"),
    (jwt.InvalidAudienceError, "token audience is not accepted"),
    (jwt.exceptions.InvalidSubjectError, "token subject (sub) is invalid"),
    (jwt.InvalidKeyError, "token signing key is unusable"),
    (jwt.DecodeError, "token is malformed"),
)


class TokenVerifier:
    """Verifies bearer JWTs (HS256 with a shared secret, RS256/ES256 with JWKS keys).

    Verified tokens are kept in a bounded LRU until their ``exp``, so the hot path is one dict
    lookup and a clock read.
    """

    def __init__(
        self,
        *,
        secret: str | bytes | None = None,
        jwks: JWKSCache | None = None,
        algorithms: Iterable[str] = ("HS256", "RS256", "ES256"),
        issuer: str | None = None,
        audience: str | None = None,
        staff_claim: str = "roles",
        staff_role: str = "staff",
        stores_claim: str = "stores",
        leeway_seconds: float = DEFAULT_LEEWAY_SECONDS,
        max_lifetime_seconds: float | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        allowed = list(dict.fromkeys(algorithms))
        unsupported = [a for a in allowed if a not in SUPPORTED_ALGORITHMS]
        if unsupported:
            raise AuthConfigError(f"unsupported JWT algorithms: {', '.join(unsupported)}")
        # Algorithm confusion is prevented by keeping one allow-list per key source: a secret
        # never verifies an asymmetric algorithm and a JWKS key never verifies an HMAC one.
        self._secret = secret or None
        self._jwks = jwks
        self._hmac_algorithms = [a for a in allowed if a in HMAC_ALGORITHMS] if self._secret else []
        self._jwks_algorithms = (
            [a for a in allowed if a in ASYMMETRIC_ALGORITHMS] if jwks is not None else []
        )
        if not self._hmac_algorithms and not self._jwks_algorithms:
            raise AuthConfigError(
                "no usable token verification: configure BFF_AUTH_JWT_SECRET (HS*) or "
                "BFF_AUTH_JWKS_URL (RS*/ES*) with a matching algorithm in BFF_AUTH_ALGORITHMS"
            )
        self._issuer = issuer or None
        self._audience = audience or None
        self._staff_claim = staff_claim
        self._staff_role = staff_role
        self._stores_claim = stores_claim
        self._leeway = float(leeway_seconds)
        self._max_lifetime = max_lifetime_seconds
        self._cache_size = max(0, cache_size)
        self._clock = clock
        self._cache: OrderedDict[bytes, Principal] = OrderedDict()
        # exp/nbf/iat are checked here against the injectable clock, the rest by PyJWT.
        self._jwt = jwt.PyJWT(
            options={
                "require": ["exp", "sub"],
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": self._audience is not None,
                "verify_iss": self._issuer is not None,
            }
        )
        if jwks is not None:
            # A rotated or revoked key must stop vouching for tokens it verified earlier.
            jwks.on_change = self.clear_cache

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        http_client: httpx.AsyncClient | None = None,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> TokenVerifier:
        """Build the verifier that ``settings`` describe; raises AuthConfigError when unusable."""
        secret = settings.auth_jwt_secret.get_secret_value() if settings.auth_jwt_secret else None
        jwks = None
        if settings.auth_jwks_url is not None:
            jwks = JWKSCache(
                str(settings.auth_jwks_url),
                http_client,
                algorithms=[a for a in settings.auth_algorithms if a in ASYMMETRIC_ALGORITHMS],
                clock=monotonic,
            )
        return cls(
            secret=secret,
            jwks=jwks,
            algorithms=settings.auth_algorithms,
            issuer=settings.auth_issuer,
            audience=settings.auth_audience,
            staff_claim=settings.auth_staff_claim,
            staff_role=settings.auth_staff_role,
            stores_claim=settings.auth_staff_stores_claim,
            clock=clock,
            max_lifetime_seconds=settings.auth_max_token_lifetime_seconds,
        )

    @property
    def jwks(self) -> JWKSCache | None:
        return self._jwks

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token; raises Unauthenticated (the detail says why)."""
        if not isinstance(token, str) or not token:
            raise Unauthenticated("bearer token is missing")
        if len(token) > MAX_TOKEN_CHARS:
            raise Unauthenticated("token is too large")
        if not token.isascii():
            raise Unauthenticated("token is malformed")
        # Keyed by a digest so that the process does not hold thousands of bearer tokens.
        cache_key = hashlib.blake2b(token.encode(), digest_size=20).digest()
        cache = self._cache
        cached = cache.get(cache_key)
        if cached is not None:
            if self._clock() < cached.expires_at:
                cache.move_to_end(cache_key)
                return cached
            cache.pop(cache_key, None)

        principal = await self._verify_uncached(token)
        if self._cache_size and self._clock() < principal.expires_at:
            cache[cache_key] = principal
            if len(cache) > self._cache_size:
                cache.popitem(last=False)
        return principal

    def clear_cache(self) -> None:
        self._cache.clear()

    async def aclose(self) -> None:
        if self._jwks is not None:
            await self._jwks.aclose()

    async def _verify_uncached(self, token: str) -> Principal:
        if token.count(".") != 2:
            raise Unauthenticated("token is malformed")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("token is malformed") from None
        alg = header.get("alg")
        if not isinstance(alg, str):
            raise Unauthenticated("token is malformed")

        key: Any
        if alg in self._hmac_algorithms:
            key, algorithms = self._secret, self._hmac_algorithms
        elif alg in self._jwks_algorithms:
            assert self._jwks is not None
            kid = header.get("kid")
            if kid is not None and not isinstance(kid, str):
                raise Unauthenticated("token is malformed")
            try:
                key = await self._jwks.get_key(kid, alg)
            except UnknownSigningKey:
                raise Unauthenticated("token signing key is unknown") from None
            except JWKSUnavailable:
                # Not the user's fault: a 401 would sign every user out while the IdP is down.
                raise DependencyUnavailable(
                    "The identity provider's signing keys are unavailable."
                ) from None
            algorithms = self._jwks_algorithms
        else:
            raise Unauthenticated("token algorithm is not allowed")

        claims = self._decode(token, key, algorithms)
        return self._principal(claims)

    def _decode(self, token: str, key: Any, algorithms: Sequence[str]) -> dict[str, Any]:
        try:
            return self._jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self._audience,
                issuer=self._issuer,
            )
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"token has no {exc.claim} claim") from None
        except jwt.PyJWTError as exc:
            for error_type, detail in _DECODE_ERRORS:
                if isinstance(exc, error_type):
                    raise Unauthenticated(detail) from None
            raise Unauthenticated("token is invalid") from None
        except (ValueError, TypeError):
            # Keys or payloads PyJWT cannot handle (e.g. a non-object payload).
            raise Unauthenticated("token is malformed") from None

    def _principal(self, claims: Any) -> Principal:
        if not isinstance(claims, dict):
            raise Unauthenticated("token is malformed")
        now = self._clock()
        exp = _numeric_date(claims.get("exp"))
        if exp is None:
            raise Unauthenticated("token exp claim is not a number")
        if now >= exp + self._leeway:
            raise Unauthenticated("token has expired")
        for name in ("nbf", "iat"):
            if name in claims:
                value = _numeric_date(claims[name])
                if value is None:
                    raise Unauthenticated(f"token {name} claim is not a number")
                if value > now + self._leeway:
                    raise Unauthenticated("token is not yet valid")
        if self._max_lifetime is not None:
            issued = _numeric_date(claims.get("iat"))
            lifetime = exp - (issued if issued is not None else now)
            if lifetime > self._max_lifetime + self._leeway:
                raise Unauthenticated("token lives longer than this service accepts")
        sub = claims.get("sub")
        problem = subject_problem(sub)
        if problem is not None:
            raise Unauthenticated(f"token subject (sub) {problem}")
        assert isinstance(sub, str)
        is_staff = self._is_staff(claims)
        stores = self._stores(claims) if is_staff else frozenset()
        return Principal(user_id=sub, is_staff=is_staff, expires_at=exp, stores=stores)

    def _stores(self, claims: dict[str, Any]) -> frozenset[str]:
        value = claims.get(self._stores_claim)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple):
            return frozenset()
        # A token is the identity provider's; a bound all the same on what one may carry.
        return frozenset(v for v in value[:MAX_STAFF_STORES] if isinstance(v, str) and v)

    def _is_staff(self, claims: dict[str, Any]) -> bool:
        value = claims.get(self._staff_claim)
        if value is None and "." in self._staff_claim:
            # Nested claims such as Keycloak's "realm_access.roles".
            value = claims
            for part in self._staff_claim.split("."):
                value = value.get(part) if isinstance(value, dict) else None
        role = self._staff_role
        if isinstance(value, str):
            return role in _ROLE_SEPARATORS.split(value)
        if isinstance(value, list | tuple):
            return any(item == role for item in value if isinstance(item, str))
        return False


def _numeric_date(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        result = float(value)
    except OverflowError:
        return None
    return result if math.isfinite(result) else None


def mint_token(
    settings: Settings,
    user_id: str,
    *,
    staff: bool = False,
    stores: Iterable[str] = (),
    ttl_seconds: int = 3600,
    now: float | None = None,
) -> str:
    """Sign an HS256 development token with the configured secret."""
    secret = settings.auth_jwt_secret.get_secret_value() if settings.auth_jwt_secret else ""
    if not secret:
        raise AuthConfigError("cannot mint a token: BFF_AUTH_JWT_SECRET is not set")
    if "HS256" not in settings.auth_algorithms:
        raise AuthConfigError(
            "cannot mint a token: HS256 is not in BFF_AUTH_ALGORITHMS, so the service would "
            "refuse it"
        )
    problem = subject_problem(user_id)
    if problem is not None:
        raise ValueError(f"user id {problem}")
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    issued_at = int(time.time() if now is None else now)
    claims: dict[str, Any] = {"sub": user_id, "iat": issued_at, "exp": issued_at + ttl_seconds}
    if settings.auth_issuer:
        claims["iss"] = settings.auth_issuer
    if settings.auth_audience:
        claims["aud"] = settings.auth_audience
    if staff:
        claims[settings.auth_staff_claim] = [settings.auth_staff_role]
        claims[settings.auth_staff_stores_claim] = sorted(stores)
    return jwt.encode(claims, secret, algorithm="HS256")
