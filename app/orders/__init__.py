"""Orders: their vocabulary, the placement state machine, placing, reconciling, reading and
cancelling, and the idempotency of placement."""
