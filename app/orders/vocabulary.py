"""The order vocabulary: fulfillment types, placement states and idempotency states."""

from __future__ import annotations

FULFILLMENTS = ("delivery", "pickup", "last_mile")
# pending: intent recorded, Instacart not (yet) called; created: Instacart has it;
# unknown: the create call had an ambiguous outcome; failed: Instacart definitively refused.
PLACEMENT_STATES = ("pending", "created", "unknown", "failed")
UNRESOLVED_PLACEMENT_STATES = ("pending", "unknown")
IDEMPOTENCY_STATES = ("in_progress", "completed")
