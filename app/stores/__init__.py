"""Stores and slot previews: the routes, the measured fast lane and the shared slot cache."""
