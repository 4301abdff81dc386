"""The served instance every attack of the suite aims at, started once for the package."""

from __future__ import annotations

import contextlib
import os
import secrets
import uuid
from collections.abc import Iterator

import pytest

from local_processes.checkout_stack import sandbox_server
from local_processes.ports import free_port
from local_processes.servers import Server
from tests.system.hostile.identity_provider import IdentityProvider
from tests.system.hostile.target import (
    BODY_READ_TIMEOUT_SECONDS,
    HEADER_READ_TIMEOUT_SECONDS,
    Target,
    service_settings,
)


@pytest.fixture(scope="package")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdentityProvider]:
    provider = IdentityProvider(tmp_path_factory.mktemp("idp"))
    try:
        yield provider
    finally:
        provider.close()


@pytest.fixture(scope="package")
def target(
    idp: IdentityProvider,
    migrated_database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Target]:
    logs = tmp_path_factory.mktemp("hostile")
    client, client_secret = f"hostile-{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(32)
    jwks_url = idp.listen()
    metrics_port = free_port()
    with contextlib.ExitStack() as stack:
        sandbox = sandbox_server(logs, client, client_secret=client_secret, slot_capacity=50)
        sandbox_url = stack.enter_context(sandbox).url
        settings = service_settings(
            idp,
            jwks_url,
            database_url=migrated_database_url,
            sandbox_url=sandbox_url,
            client=client,
            client_secret=client_secret,
        ) | {
            "BFF_METRICS_PORT": str(metrics_port),
            "BFF_FORWARDED_FOR_HOPS": "1",  # behind the ingress, as the manifests set
            "BFF_BODY_READ_TIMEOUT_SECONDS": str(BODY_READ_TIMEOUT_SECONDS),
            "BFF_HEADER_READ_TIMEOUT_SECONDS": str(HEADER_READ_TIMEOUT_SECONDS),
            # Orders read back as stored: the sandbox, which the forged callbacks bypass,
            # would otherwise be asked and answer with its own status.
            "BFF_ORDER_REFRESH_SECONDS": "3600",
            # The suite's machine is busy: admission by loop lag would measure it, not the
            # attacks (the in-flight limit stays production's).
            "BFF_ADMISSION_LAG_BUDGET_MS": "60000",
            "BFF_LOG_JSON": "true",
        }
        with pytest.MonkeyPatch.context() as patch:
            # None of the suite's own BFF_* variables: no BFF_ENVIRONMENT (the deployment that
            # forgot it, finding 1) and no development secret beside the JWKS.
            for name in [name for name in os.environ if name.startswith("BFF_")]:
                patch.delenv(name)
            # Production's settings only: not bff_server's, which adds a test's conveniences.
            bff = stack.enter_context(Server("bff", ["app", "serve"], settings, "/readyz", logs))
            bff_url = bff.url
        yield Target(
            url=bff_url,
            metrics_url=f"http://127.0.0.1:{metrics_port}",
            sandbox_url=sandbox_url,
            log=logs / "bff.log",
            environment=settings,
            idp=idp,
            secrets=[client_secret, settings["BFF_CALLBACK_CLIENT_SECRET"]],
        )
