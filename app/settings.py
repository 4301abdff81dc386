"""Service configuration, read from the environment (prefix ``BFF_``) or an ``.env`` file."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEV_JWT_SECRET = "dev-only-jwt-secret-change-me-in-production"
# What the sandbox sends by default (scripts/run wires the two together); production refuses it.
DEV_CALLBACK_SECRET = "sandbox-callback-secret"
# The sandbox's own credentials, which Instacart would never issue.
SANDBOX_CLIENT_ID = "sandbox-client"
SANDBOX_CLIENT_SECRET = "sandbox-secret"


# What production asks of its secrets: long enough that guessing is out of the question.
MIN_SECRET_BYTES = 32


class Settings(BaseSettings):
    """Every knob of the service. Production's rules apply unless BFF_ENVIRONMENT says
    development or test (scripts/run and the tests do): a forgotten variable must never open
    the development shortcuts. In development, the database, Redis, Instacart (the sandbox) and
    the token secret left unset are embedded (app/dev/embedded.py)."""

    model_config = SettingsConfigDict(
        env_prefix="BFF_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: Literal["development", "test", "production"] = "production"
    log_level: str = "INFO"
    # None means: JSON in production and wherever stderr is not a terminal, readable lines at a
    # terminal outside production (app/platform/logging.py).
    log_json: bool | None = None

    # --- storage ---
    # None: SQLite in data_dir, migrated at start-up (development mode, one process).
    database_url: str | None = None
    database_pool_size: int = Field(default=10, ge=1)
    # None: an in-process Redis (fakeredis), shared by this process only.
    redis_url: str | None = None
    # A blocking pool: callers wait for a connection instead of failing with
    # "Too many connections" when a burst exceeds the pool.
    # Prefix of the shared cache's Redis keys, for environments that share one Redis.
    cache_namespace: str = Field(default="bff", pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    redis_max_connections: int = Field(default=64, ge=1)
    redis_pool_timeout_seconds: float = Field(default=2.0, gt=0)
    redis_socket_timeout_seconds: float = Field(default=1.0, gt=0)
    readiness_timeout_seconds: float = Field(default=0.5, gt=0)
    # Scale-out (README, "Redis Sentinel, Redis Cluster and PgBouncer"). BFF_REDIS_URL may also
    # be redis+sentinel://[:password@]host1:port1,host2:port2/<service_name>[/db]; this is the
    # sentinels' own password, when they have one (the URL's is the master's). The URL is checked
    # when the client is built, so that no validation error can print a password.
    redis_sentinel_password: SecretStr | None = None
    # BFF_REDIS_URL is then a seed node (redis:// or rediss://) of a Redis Cluster.
    redis_cluster: bool = False
    # Postgres is reached through PgBouncer in transaction mode: no prepared-statement caches.
    database_pgbouncer: bool = False

    # What development mode keeps on disk: the SQLite database and the development secret.
    data_dir: Path = Path(".data")

    # --- Instacart Connect (the local defaults match the sandbox's) ---
    # None: the sandbox runs in this process, its callbacks delivered to this service.
    instacart_base_url: AnyHttpUrl | None = None
    # The in-process sandbox moves every unfinished order one step this often (0: never).
    sandbox_auto_advance_seconds: float = Field(default=15, ge=0)
    instacart_client_id: str = SANDBOX_CLIENT_ID
    instacart_client_secret: SecretStr = SecretStr(SANDBOX_CLIENT_SECRET)
    instacart_scope: str = "connect:fulfillment"
    instacart_connect_timeout_seconds: float = Field(default=2.0, gt=0)
    instacart_read_timeout_seconds: float = Field(default=10.0, gt=0)
    # Creating an order takes seconds upstream; past this the outcome is unknown and resolved
    # by looking the order up, never by creating it again.
    instacart_create_deadline_seconds: float = Field(default=30.0, gt=0)
    # Consecutive failed attempts that open an operation class's circuit, and how long it stays
    # open before one probe is let through.
    instacart_breaker_failure_threshold: int = Field(default=5, ge=1)
    instacart_breaker_cooldown_seconds: float = Field(default=10.0, gt=0)
    instacart_max_read_connections: int = Field(default=100, ge=1)
    # The create pool, sized by Little's law from the load a replica should carry: concurrent
    # creates = checkouts per second x seconds per create, plus half again for bursts (150 for
    # 50/s at 2 s). Set instacart_max_create_connections to override the computed size.
    capacity_checkouts_per_second: float = Field(default=50, gt=0)
    capacity_create_seconds: float = Field(default=2.0, gt=0)
    instacart_max_create_connections: int | None = Field(default=None, ge=1)
    # How long a request may wait for a free connection before it is refused with 503.
    instacart_pool_wait_seconds: float = Field(default=0.5, gt=0)

    # --- end-user authentication ---
    # Neither this nor auth_jwks_url: a development secret generated once in data_dir, which
    # `python -m app token` (same directory) signs with. Production refuses that.
    auth_jwt_secret: SecretStr | None = None
    auth_jwks_url: AnyHttpUrl | None = None
    # How long a starting process tries to fetch the JWKS URL's keys before it exits with
    # status 1: long enough to ride out a blip at the identity provider, and below the pod's
    # start-up probe budget (60 s), so that the one line saying why is what ends the pod.
    auth_jwks_startup_deadline_seconds: float = Field(default=30, gt=0)
    auth_issuer: str | None = None
    auth_audience: str | None = None
    auth_algorithms: Annotated[list[str], NoDecode] = ["HS256", "RS256", "ES256"]
    auth_staff_claim: str = "roles"
    auth_staff_role: str = "staff"
    # The claim listing the stores a staff member acts for: staging an order of another store
    # is refused as if the order did not exist, and a staff token without it stages nothing.
    auth_staff_stores_claim: str = "stores"
    # The longest a token may live (exp - iat, or exp - now without iat): a leaked token with
    # an exp a century ahead must not be a key for life.
    auth_max_token_lifetime_seconds: int = Field(default=24 * 3600, ge=60)
    # Production requires both the issuer and the audience, so that a token the same identity
    # provider issued for another application is refused; this opt-out is logged at start-up.
    auth_allow_any_issuer_or_audience: bool = False

    # --- admission control (app/platform/admission.py) ---
    # Storefront requests in progress per process past which new ones are refused 503 at once.
    admission_max_in_flight: int = Field(default=120, ge=1)
    # How late the event loop may run before new storefront requests are refused 503 at once.
    admission_lag_budget_ms: float = Field(default=25, gt=0)
    # How busy the event loop's thread may be (share of its time on the CPU) before what starts a
    # checkout is refused 503 at once; placements are not refused for it.
    admission_loop_busy_percent: float = Field(default=80, gt=0, le=100)

    # --- per-user budgets ---
    # Event streams one user, and one order, may hold open at once on a replica.
    event_stream_max_per_user: int = Field(default=10, ge=1)
    event_stream_max_per_order: int = Field(default=5, ge=1)
    rate_limit_stream_tickets_per_minute: int = Field(default=30, ge=1)
    # Slot previews per user and minute that Instacart must answer (not in the cache).
    rate_limit_slot_misses_per_minute: int = Field(default=60, ge=1)

    # --- slow clients ---
    # A request body that stalls this long between chunks is answered 408 (request_timeout).
    body_read_timeout_seconds: float = Field(default=10, gt=0)
    # How long a connection may wait for a request's headers (granian's header read timeout):
    # a new connection that sends nothing, an idle keep-alive connection between two requests
    # and one trickling its headers are all closed after it. Behind a proxy that keeps idle
    # connections to the service, keep it above the proxy's own idle timeout (docs/production.md).
    header_read_timeout_seconds: float = Field(default=10, gt=0)

    # --- operations ---
    # Trusted proxies in front of the service that append to X-Forwarded-For (the ingress: 1);
    # 0 takes the peer's address. Only per-source limits read it (app/platform/client_address).
    forwarded_for_hops: int = Field(default=0, ge=0, le=5)
    # A port of its own for /metrics (Prometheus scrapes it; the public port answers 404 there).
    metrics_port: int | None = Field(default=None, ge=1, le=65535)

    # --- checkout ---
    store_cache_ttl_seconds: float = Field(default=300, gt=0)
    # The retailer's store list (JSON, the shape of docs/stores.md): ids outside it are
    # answered 404 without asking Instacart, and a store's stated time zone wins over the one
    # derived from its address. Unset: stores are known from Instacart's answers alone.
    stores_file: Path | None = None
    # How long "no such store" from Instacart is remembered (a store list, when set, needs none).
    unknown_store_cache_seconds: float = Field(default=60, ge=0)
    slot_cache_ttl_seconds: float = Field(default=20, gt=0)
    # How long an expired preview may still be served while one caller refreshes it.
    slot_cache_stale_seconds: float = Field(default=30, ge=0)
    # The share of the TTL after which a hit refreshes a preview in the background (1: only
    # once stale). With a stale window of at least this share of the TTL, a preview asked for
    # at least once per TTL is never waited for once warm.
    slot_cache_refresh_at: float = Field(default=0.75, gt=0, le=1)
    # The in-process tier in front of Redis; other replicas see an invalidation this late at most.
    slot_cache_local_seconds: float = Field(default=1.0, ge=0)
    # A reservation outlives its 10-minute hold: an expired hold still books while capacity lasts.
    reservation_ttl_seconds: int = Field(default=3600, ge=60)
    rate_limit_reservations_per_minute: int = Field(default=30, ge=1)
    rate_limit_orders_per_minute: int = Field(default=10, ge=1)
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=60)
    # An in-flight claim older than this is taken to be a crashed request and may be resumed.
    idempotency_lock_seconds: int = Field(default=60, ge=1)
    # A duplicate of a placement still running waits this long for its answer before a 409.
    idempotency_replay_wait_seconds: float = Field(default=3.0, ge=0)
    # An actor placing an order holds a lease this long and renews it every third of it while
    # it talks to Instacart, so a crashed replica blocks a retry of its checkout this long at
    # most. The reconciler also waits out the grace below after the last renewal, which must
    # exceed the create deadline: a create the dead replica sent may still land meanwhile.
    placement_lease_seconds: float = Field(default=15, gt=0)
    reconcile_grace_seconds: float = Field(default=60, ge=0)
    reconcile_interval_seconds: float = Field(default=30, gt=0)
    reconciler_enabled: bool = True
    # A stored order status younger than this is shown as is; older ones are refreshed upstream.
    order_refresh_seconds: float = Field(default=5, ge=0)
    # Live order status (Server-Sent Events). A stream ticket opens one order's stream once, for
    # browsers' EventSource (which cannot send headers); short, so a leaked one is worthless.
    stream_ticket_ttl_seconds: float = Field(default=60, gt=0, le=600)
    # A comment line this often keeps proxies from closing a quiet stream and finds clients gone.
    event_stream_heartbeat_seconds: float = Field(default=15, gt=0)
    # A stream ends after this long and the client reconnects with Last-Event-ID: connections
    # spread over the replicas again after a deploy or a scale-up, and none lives forever.
    event_stream_max_seconds: float = Field(default=600, gt=0)
    # Without Redis pub/sub a stream polls Postgres for a newer order version this often.
    event_stream_poll_seconds: float = Field(default=3, gt=0)
    # With pub/sub, Postgres is still re-read this often: a change whose publish failed, or that
    # was lost while the subscription reconnected, shows this late at most.
    event_stream_recheck_seconds: float = Field(default=30, gt=0)

    # --- Instacart's callbacks ---
    # The client credentials Instacart authenticates with at POST /callbacks/instacart/token.
    callback_client_id: str = "instacart-sandbox"
    callback_client_secret: SecretStr = SecretStr(DEV_CALLBACK_SECRET)
    callback_token_ttl_seconds: int = Field(default=3600, ge=60)
    rate_limit_callback_tokens_per_minute: int = Field(default=60, ge=1)
    # An order in a non-terminal status with no news from Instacart for this long is looked up
    # by the reconciler (callbacks can be lost); at most this many per round.
    follow_up_after_seconds: float = Field(default=300, ge=0)
    follow_up_batch_size: int = Field(default=20, ge=0)
    # A callback stored but not applied this long ago (a crash, or Instacart's lookup failing)
    # is applied again by the reconciler.
    callback_retry_after_seconds: float = Field(default=10, ge=0)

    # --- serving (app/serve.py) ---
    # Connections waiting to be accepted, and requests (event streams included) in progress at
    # once; beyond the latter, new connections wait in the backlog.
    server_backlog: int = Field(default=2048, ge=16)
    server_max_concurrent_requests: int = Field(default=2048, ge=16)

    # --- stopping (app/serve.py) ---
    # After SIGTERM, how long to keep serving with readiness failing (0: a preStop pause does
    # it), then how long requests in flight may take to finish; below the pod's grace period.
    shutdown_drain_seconds: float = Field(default=0, ge=0)
    shutdown_timeout_seconds: float = Field(default=35, ge=1)

    # --- HTTP ---
    cors_origins: Annotated[list[str], NoDecode] = []
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    access_log: bool = True

    def create_pool_size(self) -> int:
        """Connections of the order-creation pool: explicit, or by Little's law."""
        if self.instacart_max_create_connections is not None:
            return self.instacart_max_create_connections
        concurrent = self.capacity_checkouts_per_second * self.capacity_create_seconds
        return max(1, math.ceil(concurrent * 1.5))

    @field_validator("auth_algorithms", "cors_origins", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard_origin(cls, value: list[str]) -> list[str]:
        # Credentials are allowed on CORS requests, and a wildcard with credentials would let any
        # site act as the signed-in user.
        if "*" in value:
            raise ValueError("BFF_CORS_ORIGINS must list origins explicitly, never '*'")
        return value

    @field_validator(
        "database_url",
        "redis_url",
        "instacart_base_url",
        "auth_jwt_secret",
        "auth_jwks_url",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `export BFF_REDIS_URL=` unsets it, as a shell user means, rather than naming nothing.
        return None if value == "" else value

    def embedded_variables(self) -> list[str]:
        """The variables left unset whose part this process would embed."""
        missing = [
            name
            for name, value in (
                ("BFF_DATABASE_URL", self.database_url),
                ("BFF_REDIS_URL", self.redis_url),
                ("BFF_INSTACART_BASE_URL", self.instacart_base_url),
            )
            if value is None
        ]
        if self.auth_jwt_secret is None and self.auth_jwks_url is None:
            missing.append("BFF_AUTH_JWT_SECRET or BFF_AUTH_JWKS_URL")
        return missing

    @property
    def uses_development_secret(self) -> bool:
        """Tokens are signed with a secret anyone can have: the one printed in this repository
        (the tests' and benchmarks'), or development mode's generated one."""
        secret = self.auth_jwt_secret
        return self.auth_jwks_url is None and (
            secret is None or secret.get_secret_value() == DEV_JWT_SECRET
        )

    @model_validator(mode="after")
    def _no_development_secret_beside_real_keys(self) -> Settings:
        uses_dev_secret = (
            self.auth_jwt_secret is not None
            and self.auth_jwt_secret.get_secret_value() == DEV_JWT_SECRET
        )
        if uses_dev_secret and self.auth_jwks_url is not None:
            # A retailer who configured its identity provider's keys must not also accept
            # tokens signed with a secret printed in this repository.
            self.auth_jwt_secret = None
        if self.environment == "production" and (problems := self.production_problems()):
            raise ValueError("production settings: " + "; ".join(problems))
        return self

    def production_problems(self) -> list[str]:
        """What production's rules refuse in these settings, each naming what to set."""
        problems = []
        if missing := self.embedded_variables():
            # Embedded parts live in one process: a fleet of replicas would each keep its own
            # orders, cache and secret.
            problems.append("development mode is refused; set " + ", ".join(missing))
        secret = self.auth_jwt_secret.get_secret_value() if self.auth_jwt_secret else None
        if secret == DEV_JWT_SECRET:
            problems.append("BFF_AUTH_JWT_SECRET is the published development secret")
        elif secret is not None and len(secret.encode()) < MIN_SECRET_BYTES:
            problems.append(f"BFF_AUTH_JWT_SECRET needs at least {MIN_SECRET_BYTES} bytes")
        if self.auth_jwks_url is not None and self.auth_jwks_url.scheme != "https":
            problems.append("BFF_AUTH_JWKS_URL must be https")
        if not self.auth_allow_any_issuer_or_audience and not (
            self.auth_issuer and self.auth_audience
        ):
            problems.append(
                "set BFF_AUTH_ISSUER and BFF_AUTH_AUDIENCE (or, knowingly, "
                "BFF_AUTH_ALLOW_ANY_ISSUER_OR_AUDIENCE=true)"
            )
        callback_secret = self.callback_client_secret.get_secret_value()
        if callback_secret == DEV_CALLBACK_SECRET:
            problems.append("BFF_CALLBACK_CLIENT_SECRET is the sandbox's published secret")
        elif len(callback_secret.encode()) < MIN_SECRET_BYTES:
            problems.append(f"BFF_CALLBACK_CLIENT_SECRET needs at least {MIN_SECRET_BYTES} bytes")
        if self.shutdown_timeout_seconds <= self.instacart_create_deadline_seconds:
            # A replica stopping must let an order placement in flight end with an answer.
            problems.append(
                "BFF_SHUTDOWN_TIMEOUT_SECONDS must exceed BFF_INSTACART_CREATE_DEADLINE_SECONDS"
            )
        if (self.instacart_client_id, self.instacart_client_secret.get_secret_value()) == (
            SANDBOX_CLIENT_ID,
            SANDBOX_CLIENT_SECRET,
        ):
            problems.append(
                "BFF_INSTACART_CLIENT_ID and BFF_INSTACART_CLIENT_SECRET are the sandbox's"
            )
        return problems


class SettingsError(Exception):
    """The environment's settings are unusable; the message says why in one line."""


def load_settings() -> Settings:
    """The settings of this process's environment, or SettingsError naming each variable at
    fault and why (never a value: it may be a secret)."""
    try:
        return Settings()
    except ValidationError as exc:
        reasons = "; ".join(
            (f"BFF_{str(error['loc'][0]).upper()}: " if error["loc"] else "")
            + str(error["msg"]).removeprefix("Value error, ")
            for error in exc.errors()
        )
        raise SettingsError(f"invalid settings: {reasons}") from None
