"""Finding 9: two servers on one port. A second server on a busy port started without error
and both listened (port sharing), splitting requests between two processes with different
secrets and orders.

A second server with the target's own settings, on the target's port (or with its metrics
port), refuses to start with one line naming the port, and the target keeps answering.
"""

from __future__ import annotations

from local_processes.ports import free_port
from tests.system.hostile.target import Target, production_environment, start_up


def test_a_second_server_on_the_targets_port_refuses_to_start(target: Target) -> None:
    result = start_up(production_environment(**target.environment), target.port)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert f"port {target.port} on 127.0.0.1 is already in use" in line
    with target.client() as bff:
        assert bff.get("/livez").status_code == 200


def test_a_second_server_on_the_targets_metrics_port_refuses_to_start(target: Target) -> None:
    result = start_up(production_environment(**target.environment), free_port())
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert f"the metrics port {target.environment['BFF_METRICS_PORT']} is already in use" in line
