"""axe-core, the accessibility engine, run inside the demo's page: its package pinned beside
these tests (package.json, package-lock.json) and installed with `npm ci` when missing."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.support.ci import skip_or_fail

HERE = Path(__file__).resolve().parent
AXE_SCRIPT = HERE / "node_modules" / "axe-core" / "axe.min.js"


# axe's default rules, and the one that holds a control's name to its visible text (a button
# labelled "Follow order 123" showing "Following"): off by default while axe calls it new.
_RUN_AXE = """async () => {
  const result = await axe.run(document, {
    rules: { "label-content-name-mismatch": { enabled: true } },
  });
  return [result.passes.length, result.violations];
}"""


def install_axe() -> Path:
    """axe.min.js from the pinned package, `npm ci` from the lock first when it is missing."""
    if not AXE_SCRIPT.is_file():
        if shutil.which("npm") is None:
            skip_or_fail("the accessibility scan needs node and npm (for axe-core)")
        result = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=HERE, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
    return AXE_SCRIPT


def axe_violations(page: Any, script: Path) -> list[str]:
    """axe's violations on the page as it is now, one readable line each (none: accessible)."""
    if not page.evaluate("typeof window.axe === 'object'"):
        # The demo's policy allows scripts of its own origin only (no inline ones, which
        # add_script_tag(path=...) would write): so axe is served from the page's origin, by the
        # browser itself, and the policy stays on while the page is scanned.
        url = page.evaluate("location.origin") + "/demo/assets/axe-core-under-test.js"
        page.route(url, lambda route: route.fulfill(path=script, content_type="text/javascript"))
        page.add_script_tag(url=url)
    passes, found = page.evaluate(_RUN_AXE)
    assert passes > 0, "axe checked nothing: the scan would pass any page"
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + json.dumps([node["target"] for node in v["nodes"]])
        for v in found
    ]
