"""The service on a Redis Cluster, behind Redis Sentinel and through PgBouncer, on real processes.

Each module starts its servers (processes.py in this package) on free loopback ports; a missing
redis-server or pgbouncer skips locally and fails under CI (scripts/test installs pgbouncer).
"""
