"""Single-process development mode: the parts the service runs inside itself when they are not
configured, so that a fresh clone serves a whole checkout with nothing installed.

Each part is independent: no ``BFF_DATABASE_URL``, SQLite in the data folder (``BFF_DATA_DIR``),
migrated at start-up; no ``BFF_REDIS_URL``, an in-process Redis (fakeredis, Lua and pub/sub
included) shared by the whole process; no ``BFF_INSTACART_BASE_URL``, the sandbox in the same
process, its callbacks delivered to this service in-process; no ``BFF_AUTH_JWT_SECRET`` and no
``BFF_AUTH_JWKS_URL``, a development secret generated once and kept in the data folder, so that
``python -m app token`` in the same directory signs tokens the server accepts.

None of it can be shared between processes: with any part embedded the service is one replica.
Production refuses the mode (``Settings`` names the variables to set).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import structlog
from pydantic import AnyHttpUrl, SecretStr
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

if TYPE_CHECKING:
    import fakeredis
    from fastapi import FastAPI

    from app.settings import Settings
    from app.stores.directory import ListedStore

log = structlog.get_logger("app.dev.embedded")

ROOT = Path(__file__).resolve().parents[2]  # the repository, where alembic.ini is
DATABASE_FILE = "bff.sqlite3"
SECRET_FILE = "jwt-secret"
# Never reached over a network: the Instacart client and the sandbox's callbacks go through
# in-process ASGI transports. The names only make the logs and the requests readable.
SANDBOX_URL = "http://instacart-sandbox.embedded"
BFF_URL = "http://bff.embedded"
# How long a SQLite writer waits for the one write lock before "database is locked".
SQLITE_BUSY_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class EmbeddedParts:
    """Which parts this process runs itself, and where it keeps what must outlive it."""

    database: bool
    redis: bool
    instacart: bool
    auth: bool
    data_dir: Path

    @classmethod
    def of(cls, settings: Settings, *, instacart_transport: object = None) -> EmbeddedParts:
        """A transport given by the caller (tests, benchmarks) stands in for the sandbox."""
        return cls(
            database=settings.database_url is None,
            redis=settings.redis_url is None,
            instacart=settings.instacart_base_url is None and instacart_transport is None,
            auth=settings.auth_jwt_secret is None and settings.auth_jwks_url is None,
            data_dir=Path(settings.data_dir).resolve(),
        )

    @property
    def names(self) -> list[str]:
        parts = {
            "database": self.database,
            "redis": self.redis,
            "instacart": self.instacart,
            "auth": self.auth,
        }
        return [name for name, embedded in parts.items() if embedded]

    def __bool__(self) -> bool:
        return bool(self.names)


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{Path(data_dir).resolve() / DATABASE_FILE}"


def database_url(settings: Settings) -> str:
    """The configured database, or the data folder's SQLite file (the folder created)."""
    if settings.database_url is not None:
        return settings.database_url
    Path(settings.data_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
    return sqlite_url(settings.data_dir)


def development_secret(data_dir: Path) -> str:
    """The data folder's development JWT secret, generated on first use (mode 0600).

    Created under a temporary name and linked into place, so that two processes starting at
    once (the server and `python -m app token`) end up with the same secret.
    """
    folder = Path(data_dir).resolve()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / SECRET_FILE
    if not path.exists():
        temporary = folder / f".{SECRET_FILE}.{uuid.uuid4().hex}"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(48) + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process won; use its secret
        finally:
            temporary.unlink()
    secret = path.read_text().strip()
    if not secret:
        raise RuntimeError(f"{path} is empty: delete it to generate a new development secret")
    return secret


def resolve(settings: Settings, parts: EmbeddedParts) -> Settings:
    """The settings with every embedded part filled in (file I/O: the data folder, the secret).

    ``redis_url`` stays None: no URL names an in-process Redis, and ``build_redis`` knows it.
    """
    update: dict[str, Any] = {"data_dir": parts.data_dir}
    if parts.database or parts.auth:
        parts.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if parts.database:
        update["database_url"] = sqlite_url(parts.data_dir)
    if parts.auth:
        update["auth_jwt_secret"] = SecretStr(development_secret(parts.data_dir))
    if parts.instacart:
        update["instacart_base_url"] = AnyHttpUrl(SANDBOX_URL)
    return settings.model_copy(update=update)


def log_single_process_mode(parts: EmbeddedParts, settings: Settings) -> None:
    """Once per start: what runs inside this process, and that it cannot be scaled out."""
    log.warning(
        "app.single_process_mode",
        embedded=parts.names,
        data_dir=str(parts.data_dir),
        database="sqlite" if parts.database else "configured",
        redis="in-process (fakeredis)" if parts.redis else "configured",
        instacart=(
            f"in-process sandbox, orders advance every {settings.sandbox_auto_advance_seconds:g}s"
            if parts.instacart
            else "configured"
        ),
        auth="development secret in the data folder" if parts.auth else "configured",
        detail=(
            "single-process development mode: the embedded parts live in this process only, "
            "so run exactly one replica (more would each keep their own state); production "
            "refuses this mode. Set BFF_DATABASE_URL, BFF_REDIS_URL, BFF_INSTACART_BASE_URL and "
            "BFF_AUTH_JWT_SECRET or BFF_AUTH_JWKS_URL to use real services."
        ),
    )


# --- the in-process Redis ------------------------------------------------------------------

_server: fakeredis.FakeServer | None = None


def in_process_redis(*, max_connections: int | None = None) -> Any:
    """A client of the process's one in-process Redis (every client sees the same keys and
    pub/sub channels). Lua runs (redis-py's Lock and the app's scripts need it)."""
    import fakeredis  # only development mode needs it

    global _server
    if _server is None:
        _server = fakeredis.FakeServer()
    return fakeredis.FakeAsyncRedis(server=_server, max_connections=max_connections)


# --- SQLite ----------------------------------------------------------------------------------


def build_sqlite_engine(url: str, pool_size: int) -> AsyncEngine:
    """SQLite for one process: WAL (readers never wait for the writer), and writers queue for
    the single write lock instead of failing at once."""
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=SQLITE_BUSY_SECONDS,
        connect_args={"timeout": SQLITE_BUSY_SECONDS},
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(connection: Any, _: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


async def migrate(url: str) -> None:
    """`alembic upgrade head` on the embedded database (production runs migrations as a Job)."""
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # a line per plugin
    from alembic.config import Config

    from alembic import command

    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = url
    config.attributes["configure_logger"] = False
    # alembic's env.py runs its own event loop, so not on this one.
    await asyncio.to_thread(command.upgrade, config, "head")
    log.info("app.embedded.migrated", database=DATABASE_FILE)


# --- the in-process sandbox ------------------------------------------------------------------


def build_sandbox(settings: Settings, bff: FastAPI) -> FastAPI:
    """The Instacart sandbox for this process, with the service's credentials, sending its
    callbacks to ``bff`` in-process and moving orders along by itself."""
    from sandbox import SandboxConfig, create_sandbox_app

    config = SandboxConfig(
        client_id=settings.instacart_client_id,
        client_secret=settings.instacart_client_secret.get_secret_value(),
        scopes=(settings.instacart_scope,),
        # Its state is in memory: a new seed per start keeps hold ids from repeating ones
        # stored in the database before a restart.
        seed=secrets.randbits(32),
        callback_url=f"{BFF_URL}/callbacks/instacart",
        callback_token_url=f"{BFF_URL}/callbacks/instacart/token",
        callback_client_id=settings.callback_client_id,
        callback_client_secret=settings.callback_client_secret.get_secret_value(),
        callback_transport=httpx.ASGITransport(app=bff),
        auto_advance_seconds=settings.sandbox_auto_advance_seconds or None,
    )
    return create_sandbox_app(config)


# What each embedded part imports beyond the service's own packages. aiosqlite and fakeredis
# (with lupa, its Lua) are the `embedded` extra; the sandbox is this repository's sandbox/,
# which the production image leaves out (docs/container-image.md).
PART_MODULES = {
    "database": ("BFF_DATABASE_URL", ("aiosqlite",)),
    "redis": ("BFF_REDIS_URL", ("fakeredis", "lupa")),
    "instacart": ("BFF_INSTACART_BASE_URL", ("sandbox",)),
}


def missing_packages_problem(settings: Settings) -> str | None:
    """Why this installation cannot embed what the settings leave out, in one line; None when
    it can. Production's image installs neither the `embedded` extra nor the sandbox, so a
    development start there names what to install or set instead of dying on an import."""
    needs: list[str] = []
    absent: set[str] = set()
    for part in EmbeddedParts.of(settings).names:
        variable, modules = PART_MODULES.get(part, ("", ()))
        lacking = [name for name in modules if importlib.util.find_spec(name) is None]
        if lacking:
            needs.append(f"{variable} unset needs {' and '.join(lacking)}")
            absent.update(lacking)
    if not needs:
        return None
    remedies = ["set those variables"]
    if absent - {"sandbox"}:
        remedies.append(
            "install the `embedded` extra (pip install '.[embedded]'; scripts/bootstrap.sh "
            "installs it with requirements-dev.lock)"
        )
    if "sandbox" in absent:
        remedies.append("run from the repository, which holds sandbox/")
    return (
        f"development mode cannot embed what is not configured ({'; '.join(needs)}), and this "
        f"installation lacks it: {', or '.join(remedies)}"
    )


def data_folder_problem(settings: Settings) -> str | None:
    """Why development mode could not keep its files, in one line; None when it can (or keeps
    none: every part that writes there is configured)."""
    parts = EmbeddedParts.of(settings)
    if not (parts.database or parts.auth):
        return None
    folder = parts.data_dir
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        probe = folder / f".write-probe-{uuid.uuid4().hex}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        return (
            f"development mode keeps its database and secret in {folder}, which cannot be "
            f"written ({exc.strerror}); set BFF_DATA_DIR, or configure "
            + ", ".join(settings.embedded_variables())
        )
    return None


# --- what the lifespan asks of development mode ----------------------------------------------


@dataclass(frozen=True, slots=True)
class DevelopmentMode:
    """The parts this process embeds, and the settings with them filled in."""

    parts: EmbeddedParts
    settings: Settings

    @classmethod
    async def start(
        cls, settings: Settings, *, instacart_transport: object = None
    ) -> DevelopmentMode | None:
        """Resolve and announce the embedded parts, and migrate the SQLite file; None when
        every part is configured."""
        parts = EmbeddedParts.of(settings, instacart_transport=instacart_transport)
        if not parts:
            return None
        settings = await asyncio.to_thread(resolve, settings, parts)
        log_single_process_mode(parts, settings)
        if parts.database:
            assert settings.database_url is not None  # resolve filled it in
            await migrate(settings.database_url)
        return cls(parts, settings)

    def redis(self, *, max_connections: int | None = None) -> Any:
        return in_process_redis(
            max_connections=max_connections or self.settings.redis_max_connections
        )

    def engine(self) -> AsyncEngine:
        assert self.settings.database_url is not None  # resolve filled it in
        return build_sqlite_engine(self.settings.database_url, self.settings.database_pool_size)

    def sandbox(self, bff: FastAPI) -> FastAPI:
        return build_sandbox(self.settings, bff)

    def store_list(self) -> dict[str, ListedStore]:
        """The embedded sandbox's stores, as a retailer's store list states them."""
        from app.stores.directory import StoreList
        from sandbox.data import store_catalogue

        listed = StoreList.model_validate({"stores": store_catalogue()})
        return {store.id: store for store in listed.stores}
