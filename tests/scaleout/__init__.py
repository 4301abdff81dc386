"""The service on a Redis Cluster, behind Redis Sentinel and through PgBouncer, on real processes.

Each module starts its servers (tests/scaleout/processes.py) on free loopback ports; a missing
redis-server or pgbouncer skips locally and fails under CI (scripts/test installs pgbouncer).
"""
