"""Counts of the specification's calls and of the statuses they answered (GET /sandbox/stats).

Every call is counted, the ones a fault, the token check or validation refused included, so a
test can tell how often a client really called Instacart.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any


class CallStats:
    """Calls by operationId, and answers by operationId and status."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.statuses: dict[str, Counter[str]] = defaultdict(Counter)

    def record_call(self, operation_id: str) -> None:
        self.calls[operation_id] += 1

    def record_status(self, operation_id: str, status: int) -> None:
        self.statuses[operation_id][str(status)] += 1

    def as_json(self) -> dict[str, Any]:
        return {
            "calls": dict(sorted(self.calls.items())),
            "responses": {op: dict(sorted(c.items())) for op, c in sorted(self.statuses.items())},
        }
