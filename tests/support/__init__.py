"""What the test packages share; no test module and no conftest.py is imported by another module.

clock.py          the one fake clock (wall, monotonic and UTC readings, a sleep), moved by hand
database.py       migrated databases on the suite's Postgres, sessions, per-test user ids
checkout.py       a BFF wired to a sandbox in-process: the `Checkout` handle, `open_checkout`
event_streams.py  an app on a real socket, and a reader of Server-Sent Events
storefront_sync.py  reserve and place on a blocking client, against a served BFF
tokens.py         a storefront user's Authorization header
addresses.py      the shopper's San Francisco address
ci.py             IN_CI and skip_or_fail: nothing skips under CI
settings.py       the suite's Redis, and settings production accepts
paths.py          the repository's root

Waiting with a deadline (`wait_until`, `wait_until_async`), free ports, and the servers,
Postgres and Redis run as processes are local_processes', which bench/ uses too.
"""
