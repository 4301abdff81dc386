"""Two bounds of the service that the manifests must agree with (docs/production.md):

- a pod that cannot fetch its JWKS keys gives up, with the line saying why, before the
  start-up probe's budget runs out and the kubelet kills it without one;
- the service holds an idle connection longer than the ingress keeps one to it, so that the
  ingress, which would reuse it, is the side that closes it.
"""

from __future__ import annotations

import yaml

from app.settings import Settings
from tests.system.deploy.manifests import DEPLOY

# ingress-nginx's upstream-keepalive-timeout, which the manifests leave at its default.
INGRESS_UPSTREAM_KEEPALIVE_SECONDS = 60


def _config() -> dict[str, str]:
    lines = (DEPLOY / "base" / "config.env").read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if line and not line.startswith("#")]
    return {name: value for name, value in pairs}


def test_the_jwks_deadline_ends_a_start_before_the_start_up_probe_does() -> None:
    deployment = yaml.safe_load((DEPLOY / "base" / "deployment.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    probe = container["startupProbe"]
    budget = probe["periodSeconds"] * probe["failureThreshold"]
    deadline = float(
        _config().get(
            "BFF_AUTH_JWKS_STARTUP_DEADLINE_SECONDS",
            Settings.model_fields["auth_jwks_startup_deadline_seconds"].default,
        )
    )
    # Room for the imports before the wait and the last attempt after it.
    assert deadline + 15 <= budget


def test_the_service_outwaits_the_ingress_on_idle_connections() -> None:
    idle = float(_config()["BFF_HEADER_READ_TIMEOUT_SECONDS"])
    assert idle > INGRESS_UPSTREAM_KEEPALIVE_SECONDS
