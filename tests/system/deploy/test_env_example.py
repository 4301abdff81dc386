"""`.env.example` lists every setting, and nothing that is not one."""

from __future__ import annotations

import re

from app.settings import Settings
from tests.support.paths import REPO_ROOT

VARIABLE = re.compile(r"^#?\s*(BFF_[A-Z0-9_]+)=", re.MULTILINE)


def test_every_setting_is_in_env_example() -> None:
    listed = set(VARIABLE.findall((REPO_ROOT / ".env.example").read_text()))
    fields = {f"BFF_{name.upper()}" for name in Settings.model_fields}
    assert not fields - listed, f"missing from .env.example: {sorted(fields - listed)}"
    assert not listed - fields, f"not settings: {sorted(listed - fields)}"
