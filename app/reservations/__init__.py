"""Reservations: holding a slot for a user before the order is placed."""
