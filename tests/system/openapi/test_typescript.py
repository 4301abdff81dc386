"""clients/typescript: the generated types match openapi/bff.json; the client and the examples
type-check; a slot shows at the store's time whatever the device's zone.

Runs the pinned openapi-typescript from the committed lock (`npm ci` when a package is
missing); never skipped under CI. tests/openapi/test_typescript_example.py runs the example.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.system.openapi.typescript_client import CLIENT, npm


def test_generated_types_match_the_document(installed: None, tmp_path: Path) -> None:
    out = tmp_path / "bff.d.ts"
    result = subprocess.run(
        ["npx", "--no-install", "openapi-typescript", "../../openapi/bff.json", "--output", out],
        cwd=CLIENT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (CLIENT / "src" / "bff.d.ts").read_text() == out.read_text(), (
        "clients/typescript/src/bff.d.ts drifted from openapi/bff.json; regenerate it with "
        "`npm run generate` in clients/typescript and commit it"
    )


def test_the_client_and_the_examples_type_check(installed: None) -> None:
    # Among them examples/order_status.ts, whose switch must cover every status listed.
    result = npm("run", "-s", "typecheck")
    assert result.returncode == 0, result.stdout + result.stderr


def test_versions_are_pinned_and_the_lock_names_no_registry() -> None:
    package = json.loads((CLIENT / "package.json").read_text())
    for deps in (package["dependencies"], package["devDependencies"]):
        for name, version in deps.items():
            assert version[0].isdigit(), f"{name} is not pinned to an exact version: {version}"
    lock = json.loads((CLIENT / "package-lock.json").read_text())
    assert lock["lockfileVersion"] == 3
    for path, entry in lock["packages"].items():
        assert "resolved" not in entry, f"{path} names where it came from: {entry['resolved']}"


# A San Francisco slot in winter, as the service answers it.
_SF_SLOT = {
    "id": "pickup.store-sf-001.20261127T1600Z",
    "date": "2026-11-27",
    "starts_at": "2026-11-27T08:00:00-08:00",
    "ends_at": "2026-11-27T10:00:00-08:00",
    "fulfillment": "pickup",
    "time_zone": "America/Los_Angeles",
}


@pytest.mark.parametrize("device_zone", ["America/Los_Angeles", "Europe/London", "Asia/Tokyo"])
def test_example_shows_the_stores_time_whatever_the_devices_zone(
    installed: None, tmp_path: Path, device_zone: str
) -> None:
    compiled = subprocess.run(
        ["npx", "--no-install", "tsc", "examples/store_time.ts", "--outDir", tmp_path,
         "--module", "commonjs", "--target", "es2022", "--skipLibCheck"],
        cwd=CLIENT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    script = "console.log(require(process.argv[1]).slotWindow(JSON.parse(process.argv[2])))"
    shown = subprocess.run(
        ["node", "-e", script, tmp_path / "store_time.js", json.dumps(_SF_SLOT)],
        env={"PATH": os.environ["PATH"], "TZ": device_zone},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    # Intl puts a narrow no-break space before AM.
    assert shown.stdout.strip().replace("\u202f", " ") == "Fri, Nov 27, 8:00 AM \u2013 10:00 AM PST"
