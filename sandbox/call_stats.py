"""Counts of the specification's calls and of the statuses they answered (GET /sandbox/stats).

Every call is counted, the ones a fault, the token check or validation refused included, so a
test can tell how often a client really called Instacart. The last W3C ``traceparent`` each
operation received is kept too, so a test can tell that a client's trace reached Instacart.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any


class CallStats:
    """Calls by operationId, and answers by operationId and status."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.statuses: dict[str, Counter[str]] = defaultdict(Counter)
        self.traceparents: dict[str, str] = {}

    def record_call(self, operation_id: str, traceparent: str | None = None) -> None:
        self.calls[operation_id] += 1
        if traceparent is not None:
            self.traceparents[operation_id] = traceparent

    def record_status(self, operation_id: str, status: int) -> None:
        self.statuses[operation_id][str(status)] += 1

    def as_json(self) -> dict[str, Any]:
        return {
            "calls": dict(sorted(self.calls.items())),
            "responses": {op: dict(sorted(c.items())) for op, c in sorted(self.statuses.items())},
            "traceparents": dict(sorted(self.traceparents.items())),
        }
