"""The container image, built as CI builds it and run against this machine's real services.

scripts/image --local-base builds it with buildah (vfs storage, chroot isolation, no daemon) on
a Debian bookworm + Python 3.11 base made by debootstrap and cached in the user's cache folder;
the storage is a throw-away folder of this module's own, removed at the end. The container runs
with `buildah run` on the host's network: migrations against a fresh database, then the service
against Postgres, Redis and a sandbox started from the repository.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from alembic.script import ScriptDirectory
from packaging.utils import canonicalize_name

from local_processes.checkout_stack import bff_env, sandbox_server
from local_processes.ports import free_port
from local_processes.postgres import alembic_config, create_database, drop_database, dsn_of
from local_processes.waiting import wait_until
from tests.support.ci import skip_or_fail
from tests.support.database import server_url
from tests.support.paths import REPO_ROOT

# The first build makes the base with debootstrap (about a minute here); later ones reuse it.
pytestmark = [pytest.mark.image, pytest.mark.timeout(1200)]

TAG = "localhost/checkout-bff:test"
SERVICE_UID = 10001
# The Dockerfile's CMD: in a container, the service listens on every interface of its own.
COMMAND = ["python", "-m", "app", "serve", "--host", "0.0.0.0", "--port", "8080"]  # noqa: S104
# What the image holds today is about 307 MB; well past that, something unwanted got in.
MAX_IMAGE_MB = 400
SF = {"postal_code": "94105", "address_line_1": "101 Spear St", "city": "San Francisco"}


@dataclass(frozen=True)
class Buildah:
    """buildah on a containers storage of its own."""

    root: Path
    runroot: Path

    def command(self, *args: str) -> list[str]:
        return [
            "buildah",
            "--storage-driver",
            "vfs",
            "--root",
            str(self.root),
            "--runroot",
            str(self.runroot),
            *args,
        ]

    def __call__(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run(
            self.command(*args), capture_output=True, text=True, timeout=timeout
        )
        assert result.returncode == 0, f"buildah {' '.join(args)}:\n{result.stderr}"
        return result.stdout

    def run_args(self, container: str, env: dict[str, str], *command: str) -> list[str]:
        """`buildah run` of a command as the image's user, on the host's network."""
        flags = [item for key, value in env.items() for item in ("--env", f"{key}={value}")]
        return self.command(
            "run", "--isolation", "chroot", "--network", "host", *flags, container, "--", *command
        )

    def run(self, container: str, *command: str, env: dict[str, str] | None = None) -> str:
        result = subprocess.run(
            self.run_args(container, env or {}, *command),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}{result.stderr}"
        return result.stdout


@pytest.fixture(scope="module")
def buildah(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Buildah]:
    for tool in ("buildah", "debootstrap"):
        if shutil.which(tool) is None:
            skip_or_fail(f"{tool} is not installed (Debian package {tool}; scripts/test adds it)")
    if os.geteuid() != 0:
        skip_or_fail("building the image with debootstrap and buildah needs root")
    store = tmp_path_factory.mktemp("containers")
    tool = Buildah(store / "root", store / "run")
    try:
        yield tool
    finally:
        # Every working container and image with it: vfs keeps a full copy of each layer.
        subprocess.run(tool.command("rm", "--all"), capture_output=True, timeout=120)
        subprocess.run(tool.command("rmi", "--all", "--force"), capture_output=True, timeout=120)
        shutil.rmtree(store, ignore_errors=True)


def _build(buildah: Buildah, target: str, tag: str) -> str:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "checkout-bff"
    cached = any(cache.glob("bookworm-python311-*.tar"))
    started = time.monotonic()
    result = subprocess.run(
        [str(REPO_ROOT / "scripts" / "image"), "--local-base", "--target", target, "--tag", tag],
        env={
            **os.environ,
            "BUILDAH_ROOT": str(buildah.root),
            "BUILDAH_RUNROOT": str(buildah.runroot),
        },
        capture_output=True,
        text=True,
        timeout=1000,
    )
    assert result.returncode == 0, f"scripts/image failed:\n{result.stderr[-6000:]}"
    steps = [line for line in result.stderr.splitlines() if line.startswith("==>")]
    print(
        f"\nimage: built in {time.monotonic() - started:.0f}s "
        f"({'cached' if cached else 'new'} base)\n" + "\n".join(steps)
    )
    return tag


@pytest.fixture(scope="module")
def image(buildah: Buildah) -> str:
    """Production's image: the Dockerfile's default target."""
    return _build(buildah, "service", TAG)


@pytest.fixture(scope="module")
def container(buildah: Buildah, image: str) -> Iterator[str]:
    """A working container of the image; `buildah run` starts processes in it."""
    name = f"checkout-bff-test-{uuid.uuid4().hex[:8]}"
    buildah("from", "--pull-never", "--name", name, image)
    try:
        yield name
    finally:
        subprocess.run(buildah.command("rm", name), capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def database_migrated_by_the_image(buildah: Buildah, container: str) -> Iterator[str]:
    """A fresh database that `alembic upgrade head`, run from the image, migrated."""
    url = asyncio.run(create_database(server_url(), prefix="bff_image_test"))
    try:
        buildah.run(container, "alembic", "upgrade", "head", env={"BFF_DATABASE_URL": url})
        yield url
    finally:
        asyncio.run(drop_database(url))


def _image_config(buildah: Buildah, image: str) -> dict:
    return json.loads(buildah("inspect", "--type", "image", image))["OCIv1"]["config"]


def _size_mb(buildah: Buildah, image: str) -> float:
    size = buildah("images", "--format", "{{.Size}}", image).strip()
    number, unit = re.fullmatch(r"([\d.]+)\s*([kMG]?B)", size).groups()
    return float(number) * {"B": 1e-6, "kB": 1e-3, "MB": 1, "GB": 1e3}[unit]


def test_image_runs_its_one_process_as_a_non_root_user(buildah: Buildah, image: str) -> None:
    config = _image_config(buildah, image)
    assert config["User"] == f"{SERVICE_UID}:{SERVICE_UID}"
    assert config["Cmd"] == COMMAND
    assert not config.get("Entrypoint")
    assert "8080/tcp" in config["ExposedPorts"]
    assert config["WorkingDir"] == "/opt/service"
    assert {"PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"} <= set(config["Env"])
    labels = config["Labels"]
    for key in ("title", "description", "version", "revision", "created", "base.name"):
        assert labels.get(f"org.opencontainers.image.{key}"), key


def test_image_is_small_and_holds_only_the_service(
    buildah: Buildah, image: str, container: str
) -> None:
    size = _size_mb(buildah, image)
    print(f"\nimage size: {size:.0f} MB ({image})")
    assert size < MAX_IMAGE_MB
    listing = buildah.run(container, "ls", "-A", "/opt/service").split()
    assert sorted(listing) == ["alembic", "alembic.ini", "app"]  # no sandbox/: with-sandbox's
    # No installer, no compiler (what the packages are: the next test).
    probe = (
        "import importlib.util, shutil;"
        "print([m for m in ('pip', 'setuptools') if importlib.util.find_spec(m)]"
        " + [t for t in ('gcc', 'cc') if shutil.which(t)])"
    )
    assert buildah.run(container, "python", "-c", probe).strip() == "[]"
    assert buildah.run(container, "id", "-u").strip() == str(SERVICE_UID)
    # The service cannot change its own code or packages.
    writable = (
        "import os; print([p for p in ('/opt/service', '/opt/service/app', '/opt/venv',"
        " '/opt/venv/lib/python3.11/site-packages') if os.access(p, os.W_OK)])"
    )
    assert buildah.run(container, "python", "-c", writable).strip() == "[]"


def _locked(lock: str) -> dict[str, str]:
    text = (REPO_ROOT / lock).read_text()
    pins = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", text, re.MULTILINE)
    return {canonicalize_name(name): version for name, version in pins}


def _installed(buildah: Buildah, container: str) -> dict[str, str]:
    """The distributions installed in the image, by canonical name, with their versions."""
    listing = (
        "import importlib.metadata as m, json;"
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    )
    found = json.loads(buildah.run(container, "python", "-c", listing))
    return {canonicalize_name(name): version for name, version in found.items()}


def test_image_holds_exactly_the_runtime_lock(buildah: Buildah, container: str) -> None:
    installed = _installed(buildah, container)
    runtime = _locked("requirements.lock")
    # What only development and the tests use (pytest, fakeredis, lupa, aiosqlite, uvicorn,
    # playwright, mypy, ruff, kubectl, matplotlib, py-spy, uv, ...): the other lock's surplus.
    development_only = set(_locked("requirements-dev.lock")) - set(runtime)
    assert {"pytest", "fakeredis", "lupa", "aiosqlite", "uvicorn", "uv"} <= development_only
    assert sorted(development_only & set(installed)) == []
    assert installed == runtime


# Imports every module of the service but development mode's (app/dev/, which production
# refuses), and the migrations' environment's packages; prints those that fail, and why.
IMPORT_EVERY_MODULE = """
import importlib, json, pathlib, sys
failed = {}
root = pathlib.Path("/opt/service")
for path in sorted((root / "app").rglob("*.py")):
    module = path.relative_to(root).with_suffix("").parts
    if module[:2] == ("app", "dev") or module[-1] == "__main__":
        continue
    name = ".".join(module[:-1] if module[-1] == "__init__" else module)
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps(failed))
"""


def test_every_module_of_the_service_imports_in_the_image(buildah: Buildah, container: str) -> None:
    failed = json.loads(buildah.run(container, "python", "-c", IMPORT_EVERY_MODULE))
    assert failed == {}
    # The command line too (app/__main__.py), as the image runs it.
    assert "serve" in buildah.run(container, "python", "-m", "app", "--help")


def test_migrations_from_the_image_reach_head(database_migrated_by_the_image: str) -> None:
    url = database_migrated_by_the_image
    heads = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())

    async def applied() -> set[str]:
        conn = await asyncpg.connect(dsn_of(url))
        try:
            return {row[0] for row in await conn.fetch("SELECT version_num FROM alembic_version")}
        finally:
            await conn.close()

    assert asyncio.run(applied()) == heads


@contextlib.contextmanager
def _service_in_container(
    buildah: Buildah, container: str, env: dict[str, str], log_path: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The image's command on a free loopback port; yields its base URL, once /readyz is 200,
    and the `buildah run` process."""
    port = free_port()
    command = [*COMMAND[:-4], "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            buildah.run_args(container, env, *command), stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"the service exited:\n{log_path.read_text()}")
        return httpx.get(url + "/readyz", timeout=2).status_code == 200

    try:
        wait_until(
            ready,
            what="the service in the container to be ready",
            timeout=60,
            interval=0.2,
            ignoring=(httpx.TransportError,),
            explain=log_path.read_text,
        )
        yield url, proc
    finally:
        if proc.poll() is None:
            _terminate(port)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _terminate(port: int) -> None:
    """SIGTERM to the service itself, as a kubelet sends it to the container's one process
    (buildah run answers a SIGTERM of its own by killing its command)."""
    for pid in _service_pids(port):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def _argv(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def _python_pids(port: int) -> list[int]:
    """Host pids of the Python processes with `port` among their arguments (the container
    shares our pid space)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        argv = _argv(int(entry.name))
        if argv and argv[0].endswith(b"/python") and str(port).encode() in argv:
            pids.append(int(entry.name))
    return pids


def _service_pids(port: int) -> list[int]:
    """Host pids of the Python processes serving the app on `port`."""
    return [pid for pid in _python_pids(port) if b"app" in _argv(pid)]


def _uid_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^Uid:\s+(\d+)", status, re.MULTILINE).group(1))


def test_service_from_the_image_serves_a_slot_preview_as_a_non_root_user(
    buildah: Buildah,
    container: str,
    database_migrated_by_the_image: str,
    tmp_path: Path,
) -> None:
    # Unset, these would put the service in development mode (in-process Redis, a secret
    # generated in the container): the suite's real Redis and fixed development secret.
    # The test environment: production's rules refuse that published secret.
    real = {name: os.environ[name] for name in ("BFF_REDIS_URL", "BFF_AUTH_JWT_SECRET")}
    real["BFF_ENVIRONMENT"] = "test"
    # A token from the image's own command line, signed with the development secret.
    token = buildah.run(
        container,
        "python",
        "-m",
        "app",
        "token",
        "--user",
        f"image-{uuid.uuid4().hex[:8]}",
        env=real,
    ).strip()
    client_id = f"image-{uuid.uuid4().hex[:8]}"
    with sandbox_server(tmp_path, client_id) as sandbox:
        sandbox_url = sandbox.url
        env = real | bff_env(
            sandbox_url,
            client_id,
            database_migrated_by_the_image,
            access_log="false",
            log_level="WARNING",
            # the suite's machine is busy: admission by loop lag would measure it, not the image
            admission_lag_budget_ms=60000,
        )
        log_path = tmp_path / "bff.log"
        with _service_in_container(buildah, container, env, log_path) as (url, proc):
            port = int(url.rsplit(":", 1)[1])
            pids = _service_pids(port)
            assert pids, "no service process found"
            assert {_uid_of(pid) for pid in pids} == {SERVICE_UID}

            assert httpx.get(f"{url}/livez", timeout=5).status_code == 200
            ready = httpx.get(f"{url}/readyz", timeout=5)
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {"postgres": "ok", "redis": "ok"}

            headers = {"Authorization": f"Bearer {token}"}
            stores = httpx.get(
                f"{url}/v1/stores",
                params={"fulfillment": "delivery", "postal_code": "94105"},
                headers=headers,
                timeout=10,
            )
            assert stores.status_code == 200, stores.text
            store_id = stores.json()["stores"][0]["id"]
            slots = httpx.get(
                f"{url}/v1/stores/{store_id}/slots",
                params={"fulfillment": "delivery"} | SF,
                headers=headers,
                timeout=10,
            )
            assert slots.status_code == 200, slots.text
            assert slots.json()["slots"], slots.text

            # A SIGTERM ends the service cleanly: the signal reaches Python, not a shell.
            _terminate(port)
            assert proc.wait(timeout=30) == 0, log_path.read_text()


def test_the_image_ends_a_start_it_cannot_make_with_one_line_and_status_1(
    buildah: Buildah, container: str
) -> None:
    def start(env: dict[str, str]) -> list[str]:
        command = [*COMMAND[:-4], "--host", "127.0.0.1", "--port", str(free_port())]
        result = subprocess.run(
            buildah.run_args(container, env, *command), capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        # buildah adds lines of its own after the command's, saying how it ended
        ended = re.compile(r"(Error: exit|subprocess exited with) status 1")
        return [line for line in result.stderr.splitlines() if not ended.fullmatch(line)]

    # No settings at all: it used to write a development secret into its read-only code folder
    # and die with granian's traceback; production's rules name what to set.
    lines = start({})
    assert len(lines) == 1, lines
    assert "invalid settings" in lines[0] and "BFF_DATABASE_URL" in lines[0]
    # Settings production accepts, and an identity provider that never answers.
    production = {
        "BFF_DATABASE_URL": "postgresql+asyncpg://bff@127.0.0.1:1/bff",
        "BFF_REDIS_URL": "redis://127.0.0.1:1/0",
        "BFF_INSTACART_BASE_URL": "https://connect.instacart.example",
        "BFF_INSTACART_CLIENT_ID": "retailer",
        "BFF_INSTACART_CLIENT_SECRET": "retailer-secret",
        "BFF_AUTH_JWKS_URL": f"https://127.0.0.1:{free_port()}/.well-known/jwks.json",
        "BFF_AUTH_ISSUER": "https://id.retailer.example/",
        "BFF_AUTH_AUDIENCE": "checkout-bff",
        "BFF_CALLBACK_CLIENT_SECRET": "c" * 40,
        "BFF_AUTH_JWKS_STARTUP_DEADLINE_SECONDS": "1",
    }
    last = start(production)[-1]
    assert "the signing keys at 127.0.0.1 could not be fetched in 1 s" in last
    # Development mode: the image has neither the `embedded` extra nor the sandbox.
    (line,) = start({"BFF_ENVIRONMENT": "development"})
    assert "BFF_REDIS_URL unset needs fakeredis and lupa" in line
    assert "install the `embedded` extra" in line and "sandbox/" in line


# --- the with-sandbox target: what the dev overlay runs ----------------------------------------


@pytest.fixture(scope="module")
def sandbox_container(buildah: Buildah) -> Iterator[str]:
    """A working container of the with-sandbox target (the dev overlay's image)."""
    image = _build(buildah, "with-sandbox", f"{TAG}-sandbox")
    name = f"checkout-bff-sandbox-test-{uuid.uuid4().hex[:8]}"
    buildah("from", "--pull-never", "--name", name, image)
    try:
        yield name
    finally:
        subprocess.run(buildah.command("rm", name), capture_output=True, timeout=120)


def test_the_with_sandbox_target_adds_the_sandbox_and_its_server_only(
    buildah: Buildah, sandbox_container: str
) -> None:
    assert _installed(buildah, sandbox_container) == _locked("requirements-sandbox.lock")
    listing = buildah.run(sandbox_container, "ls", "-A", "/opt/service").split()
    assert sorted(listing) == ["alembic", "alembic.ini", "app", "sandbox"]


def test_the_dev_overlays_sandbox_command_serves_from_the_with_sandbox_target(
    buildah: Buildah, sandbox_container: str, tmp_path: Path
) -> None:
    # deploy/overlays/dev/sandbox.yaml's command, on a free loopback port
    port = free_port()
    command = ["python", "-m", "sandbox", "--host", "127.0.0.1", "--port", str(port)]
    log_path = tmp_path / "sandbox.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            buildah.run_args(sandbox_container, {}, *command), stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}/sandbox/stats"

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"the sandbox exited:\n{log_path.read_text()}")
        return httpx.get(url, timeout=2).status_code == 200

    try:
        wait_until(
            ready,
            what="the sandbox in the container to answer",
            timeout=60,
            interval=0.2,
            ignoring=(httpx.TransportError,),
            explain=log_path.read_text,
        )
        pids = _sandbox_pids(port)
        assert pids and {_uid_of(pid) for pid in pids} == {SERVICE_UID}
    finally:
        for pid in _sandbox_pids(port):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _sandbox_pids(port: int) -> list[int]:
    return [pid for pid in _python_pids(port) if b"sandbox" in _argv(pid)]
