"""The sandbox and a BFF in front of it, as servers: the environment that wires them together.

Keyword settings are the services' own names in lower case (``slot_capacity=50`` for the
sandbox's SANDBOX_SLOT_CAPACITY, ``access_log="false"`` for the BFF's BFF_ACCESS_LOG).
"""

from __future__ import annotations

from pathlib import Path

from local_processes.servers import Server


def _variables(prefix: str, settings: dict[str, object]) -> dict[str, str]:
    return {f"{prefix}{name.upper()}": str(value) for name, value in settings.items()}


def sandbox_server(
    log_dir: Path, client_id: str | None = None, *, port: int | None = None, **settings: object
) -> Server:
    """`python -m sandbox` for the retailer `client_id` (the sandbox's own default if left
    out), logging warnings only."""
    env = _variables("SANDBOX_", settings)
    if client_id is not None:
        env["SANDBOX_CLIENT_ID"] = client_id
    argv = ["sandbox", "--log-level", "warning"]
    return Server("sandbox", argv, env, "/sandbox/stats", log_dir, port)


def bff_env(
    sandbox_url: str, client_id: str, database_url: str, **settings: object
) -> dict[str, str]:
    """A BFF on `database_url` in front of the sandbox at `sandbox_url`, with a cache
    namespace of its client id (replicas share it, other runs do not) and no background
    reconciler (a test or a benchmark reconciles when it means to)."""
    env = {
        "BFF_INSTACART_BASE_URL": sandbox_url,
        "BFF_INSTACART_CLIENT_ID": client_id,
        "BFF_DATABASE_URL": database_url,
        "BFF_CACHE_NAMESPACE": client_id,
        "BFF_RECONCILER_ENABLED": "false",
    }
    return env | _variables("BFF_", settings)


def bff_server(
    log_dir: Path,
    sandbox: Server,
    database_url: str,
    *,
    name: str = "bff",
    port: int | None = None,
    **settings: object,
) -> Server:
    """`python -m app serve` in front of `sandbox` (see `bff_env`), which was given a client id."""
    env = bff_env(sandbox.url, sandbox.env["SANDBOX_CLIENT_ID"], database_url, **settings)
    return Server(name, ["app", "serve"], env, "/readyz", log_dir, port)
