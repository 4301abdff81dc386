"""Schema-driven fuzzing of the sandbox against the Instacart Connect specification.

Starts the sandbox as a real server and points the schemathesis CLI at it with a real token.
Any response that breaks the specification fails the test.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from local_processes.checkout_stack import sandbox_server
from tests.support.ci import skip_or_fail
from tests.support.paths import REPO_ROOT

# A copy of the shared specification lives in the repository, so a clone is self-contained;
# tests/sandbox/test_spec_copy.py keeps it equal to the shared one where that one is at hand.
DEFAULT_SPEC = REPO_ROOT / "sandbox" / "spec" / "instacart-connect-openapi.yml"
SPEC = Path(os.environ.get("INSTACART_OPENAPI_SPEC", DEFAULT_SPEC))
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "ignored_auth",
    "unsupported_method",
)
MAX_EXAMPLES = int(os.environ.get("SANDBOX_CONFORMANCE_MAX_EXAMPLES", "100"))
SEED = os.environ.get("SANDBOX_CONFORMANCE_SEED", "20250602")
MIN_CASES = 500

pytestmark = pytest.mark.conformance


def _require_spec() -> None:
    if not SPEC.is_file():
        skip_or_fail(
            f"Instacart specification not found at {SPEC}; the sandbox conformance test needs "
            "it (set INSTACART_OPENAPI_SPEC to its path)"
        )


@pytest.fixture(scope="module")
def sandbox_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    _require_spec()
    with sandbox_server(tmp_path_factory.mktemp("sandbox")) as sandbox:
        yield sandbox.url


def _token(url: str) -> str:
    response = httpx.post(
        f"{url}/v2/oauth/token",
        json={
            "grant_type": "client_credentials",
            "client_id": os.environ.get("SANDBOX_CLIENT_ID", "sandbox-client"),
            "client_secret": os.environ.get("SANDBOX_CLIENT_SECRET", "sandbox-secret"),
            "scope": "connect:fulfillment",
        },
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


FUZZ_USER = "conformance-user"


def _seed_world(url: str, token: str) -> dict[str, list[str]]:
    """Real ids for the fuzzer to mix into generated data, so that it reaches past the 400s.

    Creates orders of every fulfillment type for one user and collects bookable slot ids.
    """
    headers = {"Authorization": f"Bearer {token}"}
    users = f"{url}/v2/fulfillment/users/{FUZZ_USER}"
    lastmile = f"{url}/v2/fulfillment/lastmile/users/{FUZZ_USER}"
    items = {"items": [{"upc": "041234100012", "quantity": 1}]}
    previews = {
        "delivery": (f"{users}/service_options/delivery", "store-sf-001"),
        "pickup": (f"{users}/service_options/pickup", "store-ny-001"),
        "last_mile": (f"{lastmile}/service_options", "store-chi-001"),
    }
    slots: dict[str, list[str]] = {}
    for kind, (path, store) in previews.items():
        response = httpx.post(path, json={"store_id": store}, headers=headers)
        assert response.status_code == 200, response.text
        slots[kind] = [o["id"] for o in response.json()["service_options"]]
    orders = []
    for n in range(3):
        for kind in ("delivery", "pickup"):
            hold = httpx.post(
                f"{users}/service_options/{kind}/hold",
                json={"service_option_id": slots[kind][-1 - n]},
                headers=headers,
            )
            assert hold.status_code == 200, hold.text
            body = {"hold_id": hold.json()["hold_id"], "cart": items, "order_id": f"fz-{kind}-{n}"}
            created = httpx.post(f"{users}/orders/{kind}", json=body, headers=headers)
            assert created.status_code == 200, created.text
            orders.append(created.json()["id"])
        body = {"hold_id": slots["last_mile"][-1 - n], "cart": items, "order_id": f"fz-lm-{n}"}
        created = httpx.post(f"{lastmile}/orders", json=body, headers=headers)
        assert created.status_code == 200, created.text
        orders.append(created.json()["id"])
    return {
        "users": [FUZZ_USER],
        "orders": orders,
        "stores": ["store-sf-001", "store-sf-005", "store-ny-001", "store-chi-001"],
        "postal_codes": ["94105", "10001", "60601", "98101", "78701"],
        "slots": [s for kind in ("delivery", "pickup") for s in slots[kind][:8]],
        "last_mile_slots": slots["last_mile"][:8],
    }


def _write_config(path: Path, world: dict[str, list[str]]) -> None:
    """A schemathesis.toml that binds fields to the seeded ids half of the time or more."""
    lines = []
    for name, values in world.items():
        quoted = ", ".join(f'"{v}"' for v in values)
        lines += [f"[dictionaries.{name}]", f"values = [{quoted}]", ""]
    lines += [
        "[parameters]",
        '"path.user_id" = { dictionary = "users", probability = 0.5 }',
        '"path.order_id" = { dictionary = "orders", probability = 0.5 }',
        '"body.store_id" = { dictionary = "stores", probability = 0.7 }',
        '"body.postal_code" = { dictionary = "postal_codes", probability = 0.5 }',
        '"body.service_option_id" = { dictionary = "slots", probability = 0.7 }',
        '"body.hold_id" = { dictionary = "last_mile_slots", probability = 0.5 }',
    ]
    path.write_text("\n".join(lines) + "\n")


def test_sandbox_conforms_to_the_instacart_specification(sandbox_url: str, tmp_path: Path) -> None:
    token = _token(sandbox_url)
    config = tmp_path / "schemathesis.toml"
    _write_config(config, _seed_world(sandbox_url, token))
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        str(SPEC),
        "--url",
        sandbox_url,
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        ",".join(CHECKS),
        "--mode",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        SEED,
        "--workers",
        "2",
        "--request-timeout",
        "10",
        "--report-dir",
        str(tmp_path / "report"),
    ]
    env = {**os.environ, "NO_COLOR": "1"}
    started = time.monotonic()
    # cwd is a fresh directory, so only the config written above applies
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"schemathesis found violations:\n{output}"

    generated = re.search(r"(\d+) generated", output)
    assert generated, f"no test-case count in schemathesis's summary:\n{output}"
    cases = int(generated.group(1))
    print(f"schemathesis ran {cases} test cases in {elapsed:.1f}s")
    assert cases >= MIN_CASES, f"only {cases} test cases ran (at least {MIN_CASES} expected)"
    assert re.search(r"Tested: 14\b", output), f"not every operation was tested:\n{output}"

    stats = httpx.get(f"{sandbox_url}/sandbox/stats").json()
    print(f"sandbox responses: {stats['responses']}")
    assert sum(stats["calls"].values()) >= MIN_CASES
