"""The fault suite (issue 7): real processes, injected faults, and a history checker.

Run it with ``pytest -m faults tests/system/faults`` (it also runs in the plain ``pytest``). Each
scenario starts the sandbox and one or two BFF replicas as subprocesses, on a private Redis and
a database of its own in a private PostgreSQL cluster (initdb/pg_ctl), records every storefront
request and answer, injects its faults, then settles (clears the faults, reconciles) and checks
the history against the sandbox's orders and the BFF's rows. Counts go to
``tests/system/faults/.results/<scenario>.json`` (one JSON line), with the history
(``.history.jsonl``), the anomalies (``.anomalies.jsonl``) and the processes' logs.

harness.py   the fleet of one scenario and its settle-and-check ending (its servers, Redis and
             PostgreSQL are local_processes', to kill, stop and start)
history.py   the storefront client that records every exchange
flows.py     reserving, and retrying a checkout as the API tells a storefront to
checker.py   the invariants
"""
