"""Fail closed (issue 14): production's rules unless told otherwise, a token policy worth the
name, and start-up failures that say what is wrong in one line."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from asgi_lifespan import LifespanManager
from pydantic import ValidationError

from app.auth.tokens import TokenVerifier
from app.main import create_app
from app.platform.errors import Unauthenticated
from app.settings import DEV_JWT_SECRET, Settings
from tests.support.paths import REPO_ROOT
from tests.support.settings import production_values

PRODUCTION: dict[str, Any] = production_values()
STRONG = PRODUCTION["auth_jwt_secret"]


def _without_bff_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("BFF_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(REPO_ROOT / "tests")  # no .env file here


def test_a_forgotten_environment_means_production(monkeypatch: pytest.MonkeyPatch) -> None:
    _without_bff_environment(monkeypatch)
    with pytest.raises(ValidationError) as refused:
        Settings()
    message = str(refused.value)
    for variable in ("BFF_DATABASE_URL", "BFF_REDIS_URL", "BFF_AUTH_ISSUER"):
        assert variable in message
    assert Settings(**PRODUCTION).environment == "production"
    assert Settings(**{k: v for k, v in PRODUCTION.items() if k != "environment"}).environment == (
        "production"
    )


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"auth_jwt_secret": "x"}, "BFF_AUTH_JWT_SECRET needs at least 32 bytes"),
        ({"auth_jwt_secret": DEV_JWT_SECRET}, "published development secret"),
        ({"callback_client_secret": "y"}, "BFF_CALLBACK_CLIENT_SECRET needs at least 32 bytes"),
        ({"callback_client_secret": "sandbox-callback-secret"}, "sandbox's published secret"),
        (
            {"auth_jwt_secret": None, "auth_jwks_url": "http://id.retailer.example/jwks"},
            "BFF_AUTH_JWKS_URL must be https",
        ),
        ({"auth_issuer": None}, "set BFF_AUTH_ISSUER and BFF_AUTH_AUDIENCE"),
        ({"auth_audience": None}, "set BFF_AUTH_ISSUER and BFF_AUTH_AUDIENCE"),
        (
            {"instacart_client_id": "sandbox-client", "instacart_client_secret": "sandbox-secret"},
            "are the sandbox's",
        ),
    ],
)
def test_production_refuses_weak_or_published_credentials(
    override: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValidationError, match=named):
        Settings(**(PRODUCTION | override))


def test_the_issuer_and_audience_opt_out_is_explicit() -> None:
    opt_out = {"auth_issuer": None, "auth_audience": None}
    with pytest.raises(ValidationError):
        Settings(**(PRODUCTION | opt_out))
    settings = Settings(**(PRODUCTION | opt_out | {"auth_allow_any_issuer_or_audience": True}))
    assert settings.auth_issuer is None


@pytest.fixture
async def production_bff(
    open_bff: Callable[[Settings], contextlib.AbstractAsyncContextManager[httpx.AsyncClient]],
) -> AsyncIterator[httpx.AsyncClient]:
    async with open_bff(Settings(**PRODUCTION, metrics_port=1)) as client:
        yield client


async def test_production_serves_no_demo_no_docs_and_no_public_metrics(
    production_bff: httpx.AsyncClient,
) -> None:
    token = await production_bff.post("/demo/token", json={"user": "victim"})
    assert token.status_code == 404
    for path in ("/demo", "/docs", "/redoc", "/openapi.json", "/metrics"):
        assert (await production_bff.get(path)).status_code == 404, path
    assert (await production_bff.get("/livez")).status_code == 200


async def test_the_demo_never_stands_beside_a_configured_secret(
    make_settings: Any,
) -> None:
    app = create_app(make_settings(environment="development", auth_jwt_secret=STRONG))
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://t") as c,
    ):
        assert (await c.post("/demo/token", json={"user": "victim"})).status_code == 404
        assert (await c.get("/docs")).status_code == 200  # development keeps its docs


def _verifier(max_lifetime: float = 24 * 3600) -> TokenVerifier:
    return TokenVerifier(secret=STRONG, algorithms=["HS256"], max_lifetime_seconds=max_lifetime)


def _token(lifetime: float, *, with_iat: bool = True) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": "alice", "exp": now + int(lifetime)}
    if with_iat:
        claims["iat"] = now
    return jwt.encode(claims, STRONG, algorithm="HS256")


@pytest.mark.parametrize("with_iat", [True, False])
async def test_a_token_that_lives_longer_than_allowed_is_refused(with_iat: bool) -> None:
    verifier = _verifier()
    assert (await verifier.verify(_token(3600, with_iat=with_iat))).user_id == "alice"
    with pytest.raises(Unauthenticated, match="lives longer"):
        await verifier.verify(_token(100 * 365 * 24 * 3600, with_iat=with_iat))


def _serve(port: int, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BFF_")} | environment
    return subprocess.run(
        [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO_ROOT / "tests",  # no .env file here
        env=env | {"PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_missing_settings_end_in_one_readable_line_and_status_1() -> None:
    result = _serve(1, BFF_ENVIRONMENT="production")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "invalid settings" in lines[0] and "BFF_DATABASE_URL" in lines[0]
    assert "Traceback" not in result.stderr


def test_a_second_server_on_a_busy_port_refuses_to_start() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _serve(port, BFF_ENVIRONMENT="development")
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unwritable_data_folder_ends_in_one_readable_line(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the data folder should be")
    result = _serve(1, BFF_ENVIRONMENT="development", BFF_DATA_DIR=str(blocked / "data"))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "cannot be written" in lines[0] and "BFF_DATA_DIR" in lines[0]


def test_a_store_list_that_cannot_be_read_ends_in_one_readable_line(tmp_path: Path) -> None:
    stores = tmp_path / "stores.json"
    stores.write_text('{"stores": [{"id": "s1", "time_zone": "Mars/Olympus_Mons"}]}')
    result = _serve(1, BFF_ENVIRONMENT="development", BFF_STORES_FILE=str(stores))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(stores) in lines[0] and "not an IANA time zone" in lines[0]


def test_development_mode_without_its_packages_names_the_extra(tmp_path: Path) -> None:
    # An installation of requirements.lock alone (the production image) lacks the `embedded`
    # extra; here the import system is told so, as it is told of a module that is not there.
    absent = "import sys; sys.modules.update(fakeredis=None, lupa=None, aiosqlite=None)"
    code = f"{absent}; from app.__main__ import main; sys.exit(main(sys.argv[1:]))"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BFF_")}
    result = subprocess.run(
        [sys.executable, "-c", code, "serve", "--host", "127.0.0.1", "--port", "1"],
        cwd=REPO_ROOT / "tests",  # no .env file here
        env=env
        | {
            "PYTHONPATH": str(REPO_ROOT),
            "BFF_ENVIRONMENT": "development",
            "BFF_DATA_DIR": str(tmp_path / "data"),
            "BFF_INSTACART_BASE_URL": "http://127.0.0.1:1",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert "BFF_DATABASE_URL unset needs aiosqlite" in line
    assert "BFF_REDIS_URL unset needs fakeredis and lupa" in line
    assert "install the `embedded` extra" in line and "sandbox" not in line
