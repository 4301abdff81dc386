"""Postgres (and development mode's SQLite): the declarative base, the session factory and
the few SQL helpers that work on both."""
