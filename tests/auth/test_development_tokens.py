"""A development token signed with another secret than the server's (issue 16): `python -m app
token` says on stderr which secret it signed with, and a development server's 401 says which one
it checks with; production's 401 names nothing of its configuration."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import jwt

from app.settings import Settings
from tests.support.paths import REPO_ROOT
from tests.support.settings import production_values

# The fixture of tests/conftest.py: a BFF of the given settings, in-process, its lifespan run.
OpenBff = Callable[[Settings], AbstractAsyncContextManager[httpx.AsyncClient]]


def _token_command(cwd: Path, **environment: str) -> subprocess.CompletedProcess[str]:
    """`python -m app token --user alice` in ``cwd`` with only the given BFF_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BFF_")} | environment
    return subprocess.run(
        [sys.executable, "-m", "app", "token", "--user", "alice"],
        cwd=cwd,
        env=env | {"PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_token_command_names_the_secret_file_it_signed_with(tmp_path: Path) -> None:
    data = tmp_path / "elsewhere"
    first = _token_command(tmp_path, BFF_DATA_DIR=str(data))
    assert first.returncode == 0, first.stderr
    secret = (data / "jwt-secret").read_text().strip()
    assert jwt.decode(first.stdout.strip(), secret, algorithms=["HS256"])["sub"] == "alice"
    assert f"signed with the development secret in {data / 'jwt-secret'}" in first.stderr
    assert "that secret is new" in first.stderr and "BFF_DATA_DIR" in first.stderr
    assert secret not in first.stderr

    again = _token_command(tmp_path, BFF_DATA_DIR=str(data))
    assert str(data / "jwt-secret") in again.stderr
    assert "new" not in again.stderr  # the same secret as before: nothing to warn about


def test_the_token_command_names_the_setting_it_signed_with(tmp_path: Path) -> None:
    secret = "a-configured-secret-of-forty-characters!"
    # Said out loud: without BFF_ENVIRONMENT a configured secret mints nothing (issue 14).
    ran = _token_command(
        tmp_path,
        BFF_ENVIRONMENT="development",
        BFF_DATA_DIR=str(tmp_path / "data"),
        BFF_AUTH_JWT_SECRET=secret,
    )
    assert ran.returncode == 0, ran.stderr
    assert jwt.decode(ran.stdout.strip(), secret, algorithms=["HS256"])["sub"] == "alice"
    assert "signed with BFF_AUTH_JWT_SECRET from the environment" in ran.stderr
    assert secret not in ran.stderr
    assert not (tmp_path / "data").exists()  # no development secret was made


def test_the_token_command_without_a_secret_to_sign_with_says_so(tmp_path: Path) -> None:
    ran = _token_command(
        tmp_path,
        BFF_ENVIRONMENT="development",
        BFF_AUTH_JWKS_URL="https://id.retailer.example/jwks",
    )
    assert ran.returncode == 2
    assert ran.stderr.strip() == (
        "python -m app token: cannot mint a token: BFF_AUTH_JWT_SECRET is not set"
    )


def _signed_with(secret: str) -> dict[str, str]:
    now = int(time.time())
    token = jwt.encode({"sub": "alice", "iat": now, "exp": now + 600}, secret, "HS256")
    return {"Authorization": f"Bearer {token}"}


async def _refusals(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    """The 401s of a read (the route's dependency) and a write (refused before its body)."""
    read = await client.get("/v1/orders", headers=headers)
    write = await client.post("/v1/reservations", headers=headers, json={})
    assert (read.status_code, write.status_code) == (401, 401)
    return [read.json(), write.json()]


async def test_a_development_server_says_which_secret_file_it_checks_with(
    make_settings: Callable[..., Settings], open_bff: OpenBff, tmp_path: Path
) -> None:
    server_data = tmp_path / "server-data"
    settings = make_settings(environment="development", auth_jwt_secret=None, data_dir=server_data)
    async with open_bff(settings) as client:
        for problem in await _refusals(client, _signed_with("another-folder's-secret-1234567890")):
            assert problem["detail"] == (
                "token signature is invalid: this server checks signatures with the development "
                f"secret in {server_data.resolve() / 'jwt-secret'}; run `python -m app token` "
                "with the same BFF_DATA_DIR (it says which secret it used)"
            )
        # Any other refusal is left as it was, a token signed with the server's secret too.
        own = (server_data / "jwt-secret").read_text().strip()
        expired = jwt.encode({"sub": "alice", "exp": 1}, own, "HS256")
        answer = await client.get("/v1/orders", headers={"Authorization": f"Bearer {expired}"})
        assert answer.json()["detail"] == "token has expired"
        malformed = await client.get("/v1/orders", headers={"Authorization": "Bearer a.b.c"})
        assert malformed.json()["detail"] == "token is malformed"


async def test_a_development_server_with_a_configured_secret_names_the_setting(
    make_settings: Callable[..., Settings], open_bff: OpenBff, migrated_database_url: str
) -> None:
    secret = "the-development-server's-own-secret-0123"
    settings = make_settings(
        environment="development", auth_jwt_secret=secret, database_url=migrated_database_url
    )
    async with open_bff(settings) as client:
        for problem in await _refusals(client, _signed_with("x" * 40)):
            assert problem["detail"].startswith(
                "token signature is invalid: this server checks signatures with "
                "BFF_AUTH_JWT_SECRET; run `python -m app token` with the same BFF_AUTH_JWT_SECRET"
            )
            assert secret not in str(problem)
        assert (await client.get("/v1/orders", headers=_signed_with(secret))).status_code == 200


async def test_production_says_only_that_the_signature_is_invalid(
    make_settings: Callable[..., Settings],
    open_bff: OpenBff,
) -> None:
    async with open_bff(make_settings(**production_values())) as client:
        for problem in await _refusals(client, _signed_with("x" * 40)):
            assert problem["detail"] == "token signature is invalid"
