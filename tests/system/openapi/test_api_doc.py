"""docs/api.md's table of order statuses is the service's vocabulary: every status, whether it is
final, whether it can be canceled; and it names every item status."""

from __future__ import annotations

import re

from app.orders.vocabulary import ItemStatus, OrderStatus, is_cancelable, is_terminal
from tests.support.paths import REPO_ROOT

DOC = (REPO_ROOT / "docs" / "api.md").read_text()
_ROW = re.compile(r"^\| `([a-z_]+)` \| (yes|no) \| (yes|no) \|$", re.MULTILINE)


def test_the_status_table_is_the_vocabulary() -> None:
    rows = {status: (final, cancelable) for status, final, cancelable in _ROW.findall(DOC)}
    assert list(rows) == [str(status) for status in OrderStatus]
    for status, (final, cancelable) in rows.items():
        assert (final == "yes") == is_terminal(status), status
        assert (cancelable == "yes") == is_cancelable(status), status


def test_every_item_status_is_named() -> None:
    for status in ItemStatus:
        assert f"`{status}`" in DOC, status
