"""openapi/bff.json is the app's document, exactly as `python -m app openapi` writes it."""

from __future__ import annotations

import subprocess
import sys

from app.main import create_app
from app.platform.problem_docs import openapi_text
from app.settings import Settings
from tests.support.paths import REPO_ROOT

COMMITTED = REPO_ROOT / "openapi" / "bff.json"
REGENERATE = "python -m app openapi > openapi/bff.json"


def test_committed_document_matches_the_app() -> None:
    current = openapi_text(create_app(Settings()).openapi())
    assert COMMITTED.read_text() == current, (
        f"openapi/bff.json drifted from create_app().openapi(); regenerate it with `{REGENERATE}` "
        "(then `npm run generate` in clients/typescript) and commit both"
    )


def test_export_command_prints_the_committed_document() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", "openapi"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout == COMMITTED.read_text()
