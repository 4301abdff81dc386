"""Processes run on this machine for the tests and the benchmarks: the sandbox and the BFF as
servers, a PostgreSQL cluster and a Redis of one's own, databases made and migrated on a
server, free ports, and waiting (with a deadline) for any of them.

Both `tests/` and `bench/` import it, and it imports neither: what a benchmark needs to start
the service is not a test, and a test's fixtures are not a benchmark's business. It is not
part of the service (the image never holds it).
"""
