"""The manifests rendered, and checkov run over them, once per session (see manifests.py)."""

from __future__ import annotations

import pytest

from tests.support.ci import require_tool
from tests.system.deploy.manifests import (
    FROM_THE_LOCK,
    CheckovReport,
    Rendered,
    render,
    run_checkov,
)


@pytest.fixture(scope="session")
def kubectl() -> str:
    return require_tool("kubectl", install=FROM_THE_LOCK)


@pytest.fixture(scope="session")
def promtool() -> str:
    return require_tool(
        "promtool", install="Debian's prometheus package (scripts/test installs it)"
    )


@pytest.fixture(scope="session")
def rendered(kubectl: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Rendered]:
    return render(kubectl, tmp_path_factory.mktemp("rendered"))


@pytest.fixture(scope="session")
def checkov_report(rendered: dict[str, Rendered]) -> CheckovReport:
    return run_checkov(rendered)
