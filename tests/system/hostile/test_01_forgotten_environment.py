"""Finding 1: a deployment that forgot BFF_ENVIRONMENT handed out tokens for any user, took the
sandbox's published callback credentials, and served /docs, /openapi.json and /metrics on the
public port. The target was started with no BFF_ENVIRONMENT at all."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.paths import REPO_ROOT
from tests.system.hostile.target import Target, production_environment


def test_no_token_for_any_user_and_no_demo(target: Target) -> None:
    with target.client() as bff:
        minted = bff.post("/demo/token", json={"user": "victim"})
        assert minted.status_code == 404
        assert minted.headers["content-type"].startswith("application/problem+json")
        assert bff.get("/demo").status_code == 404


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json", "/metrics"])
def test_no_docs_and_no_metrics_on_the_public_port(target: Target, path: str) -> None:
    with target.client() as bff:
        assert bff.get(path).status_code == 404
    assert "http_server_request_duration_seconds" in target.scrape()  # on its own port only


def test_the_sandboxs_published_callback_credentials_get_no_token(target: Target) -> None:
    published = {
        "grant_type": "client_credentials",
        "client_id": "instacart-sandbox",
        "client_secret": "sandbox-callback-secret",
    }
    with target.client() as bff:
        answer = bff.post("/callbacks/instacart/token", data=published)
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"


def test_the_token_command_signs_nothing_with_a_configured_secret() -> None:
    # A shell on a production host that forgot BFF_ENVIRONMENT, its real secret in reach.
    result = subprocess.run(
        [sys.executable, "-m", "app", "token", "--user", "victim"],
        cwd=REPO_ROOT / "tests",
        env=production_environment(BFF_AUTH_JWT_SECRET="s" * 40),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "refused" in result.stderr and "BFF_ENVIRONMENT" in result.stderr
