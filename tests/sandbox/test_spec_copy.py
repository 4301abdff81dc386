"""The repository's copy of Instacart's specification is the shared one, byte for byte.

The copy makes a clone self-contained; where the shared original is at hand (every machine of
this project, CI included), the two must not drift apart.
"""

from __future__ import annotations

from tests.support.ci import skip_or_fail
from tests.support.paths import REPO_ROOT

COPY = REPO_ROOT / "sandbox" / "spec" / "instacart-connect-openapi.yml"
SHARED = REPO_ROOT.parent / "shared" / "instacart-connect-openapi.yml"


def test_the_specification_copy_matches_the_shared_original() -> None:
    assert COPY.is_file()
    if not SHARED.is_file():
        skip_or_fail(f"the shared specification is not at {SHARED} to compare with")
    assert COPY.read_bytes() == SHARED.read_bytes()
