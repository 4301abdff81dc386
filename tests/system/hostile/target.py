"""The instance the hostile suite attacks, and how to start (or fail to start) one.

It runs as production runs: `python -m app serve` in a process of its own with no
BFF_ENVIRONMENT at all (the finding-1 deployment that forgot it), keys from an identity
provider's JWKS over https, real Postgres and Redis, a sandbox standing in for Instacart with
credentials of its own, /metrics on a port of its own, and one trusted proxy hop, as the
manifests set. Its timeouts are short so that the slow-client attacks finish quickly.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.paths import REPO_ROOT
from tests.system.hostile.identity_provider import AUDIENCE, ISSUER, IdentityProvider

BODY_READ_TIMEOUT_SECONDS = 1.0
HEADER_READ_TIMEOUT_SECONDS = 2.0


def with_a_minute_window_ahead(seconds: float = 20) -> None:
    """Rate limits count per wall-clock minute (app/platform/rate_limits.py): a test counting up
    to one starts with at least `seconds` of its minute left, or else in the next one."""
    left = 60 - time.time() % 60
    if left < seconds:
        time.sleep(left + 0.05)


def production_environment(**variables: str) -> dict[str, str]:
    """This process's environment without a single BFF_* variable, plus `variables`: what a
    deployment sets, and nothing the suite's own defaults would add."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("BFF_")}
    return inherited | {"PYTHONPATH": str(REPO_ROOT)} | variables


def start_up(environment: dict[str, str], port: int) -> subprocess.CompletedProcess[str]:
    """`python -m app serve` on `port`, run until it exits (for settings it must refuse)."""
    return subprocess.run(
        [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO_ROOT / "tests",  # no .env file here
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def service_settings(
    idp: IdentityProvider,
    jwks_url: str,
    *,
    database_url: str,
    sandbox_url: str,
    client: str,
    client_secret: str,
) -> dict[str, str]:
    """The BFF_* variables (and the CA file) of an instance production accepts."""
    return {
        "SSL_CERT_FILE": str(idp.ca_file),  # the provider's own certificate authority
        "BFF_DATABASE_URL": database_url,
        "BFF_REDIS_URL": os.environ["BFF_REDIS_URL"],
        "BFF_CACHE_NAMESPACE": client,
        "BFF_INSTACART_BASE_URL": sandbox_url,
        "BFF_INSTACART_CLIENT_ID": client,
        "BFF_INSTACART_CLIENT_SECRET": client_secret,
        "BFF_AUTH_JWKS_URL": jwks_url,
        "BFF_AUTH_ISSUER": ISSUER,
        "BFF_AUTH_AUDIENCE": AUDIENCE,
        "BFF_CALLBACK_CLIENT_SECRET": secrets.token_urlsafe(32),
        "BFF_RECONCILER_ENABLED": "false",
    }


@dataclass
class Target:
    """Handles on the served instance: its URLs, its log, its environment and the values that
    must never appear in that log."""

    url: str
    metrics_url: str
    sandbox_url: str
    log: Path
    environment: dict[str, str]
    idp: IdentityProvider
    secrets: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def callback_credentials(self) -> tuple[str, str]:
        """(client id, secret) Instacart authenticates with, as configured."""
        return "instacart-sandbox", self.environment["BFF_CALLBACK_CLIENT_SECRET"]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def async_client(self, connections: int = 20) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=connections)
        return httpx.AsyncClient(base_url=self.url, timeout=30, limits=limits)

    def scrape(self) -> str:
        answer = httpx.get(f"{self.metrics_url}/metrics", timeout=10)
        assert answer.status_code == 200
        return answer.text

    def sample(self, name: str, **labels: str) -> float:
        """One sample's value on the metrics port (0 when the series does not exist yet)."""
        for family in text_string_to_metric_families(self.scrape()):
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return float(sample.value)
        return 0.0

    def sandbox_calls(self, operation: str) -> int:
        stats = httpx.get(f"{self.sandbox_url}/sandbox/stats", timeout=10).json()
        calls: int = stats["calls"].get(operation, 0)
        return calls
