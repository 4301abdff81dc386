"""A PostgreSQL cluster of one's own (initdb, pg_ctl) on its own port, to stop and start again
as an outage would; and databases made, migrated and dropped on any PostgreSQL server.

PostgreSQL refuses to run as root, so as root its programs run as the ``postgres`` user
(`as_postgres`), on files that user owns.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import asyncpg
from alembic.config import Config
from sqlalchemy.engine import make_url

from alembic import command
from local_processes.ports import free_port
from local_processes.servers import REPO_ROOT
from local_processes.tools import find_tool

INSTALL = "Debian package postgresql"


def as_postgres() -> list[str]:
    """The command prefix that runs a program as the postgres user when we are root."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


class PrivatePostgres:
    """A cluster in a temporary directory, trusting local connections, tuned for speed over
    durability (no fsync): stop it (a failover, or a crash) and start it again."""

    def __init__(self) -> None:
        self.initdb = find_tool("initdb", install=INSTALL)
        self.pg_ctl = find_tool("pg_ctl", install=INSTALL)
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="bff-pg-"))
        self.data = self.dir / "data"
        self.log_path = self.dir / "postgres.log"
        self.stops = 0
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")

    def _run(self, *argv: str, timeout: float = 60) -> None:
        result = subprocess.run(
            [*as_postgres(), *argv], capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            log = self.log_path.read_text() if self.log_path.exists() else ""
            raise RuntimeError(f"{argv[:2]} failed:\n{result.stdout}{result.stderr}{log[-3000:]}")

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL (asyncpg) of one of its databases."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        """A libpq DSN of one of its databases (for asyncpg itself)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        self._run(self.initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self._run(
            self.pg_ctl, "-D", str(self.data), "-l", str(self.log_path), "-o", options,
            "-w", "-t", "30", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """``fast`` disconnects every client (a failover); ``immediate`` is a crash."""
        self._run(self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop")
        self.stops += 1

    def is_running(self) -> bool:
        result = subprocess.run(
            [*as_postgres(), self.pg_ctl, "-D", str(self.data), "status"],
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    def ensure_running(self) -> None:
        if not self.is_running():
            self.start()

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            if self.is_running():
                self._run(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


# --- databases on any server -----------------------------------------------------------------


def _admin_dsn(url: str) -> str:
    """asyncpg's DSN of the server's maintenance database, from any SQLAlchemy URL on it."""
    admin = make_url(url).set(drivername="postgresql", database="postgres")
    return admin.render_as_string(hide_password=False)


def dsn_of(url: str) -> str:
    """asyncpg's DSN of the database a SQLAlchemy URL names."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def create_database(
    server_url: str, *, prefix: str = "bff_test_db", template: str | None = None
) -> str:
    """An empty database (or a copy of `template`) on the server of `server_url`, named
    `<prefix>_<random>`; returns its SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    conn = await asyncpg.connect(_admin_dsn(server_url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"{copy}')
    finally:
        await conn.close()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(url: str) -> None:
    """Drop the database `url` names, its connections closed by force."""
    name = make_url(url).database
    conn = await asyncpg.connect(_admin_dsn(url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def alembic_config(url: str) -> Config:
    """alembic.ini's configuration aimed at `url`, leaving the caller's logging alone."""
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.attributes["database_url"] = url
    config.attributes["configure_logger"] = False
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Run the migrations up to `revision`. Synchronous (alembic's env.py runs an event loop of
    its own): from async code, call it through `asyncio.to_thread`."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)
