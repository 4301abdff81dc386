"""The dashboard's queries: each one scoped to the chosen namespace and job, valid PromQL, and
pool saturation read per pod (a fleet's sum over one pod's pool size reads 150% for three pods
at half). promtool parses and evaluates them, as it does the alerts (tests/deploy/conftest.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.system.deploy.manifests import DEPLOY, run_promtool

DASHBOARD = DEPLOY / "grafana" / "checkout-bff.json"
# A series selector: a metric name (recorded ones hold colons) and its braces.
SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}")
SERIES_NAME = re.compile(r"\b((?:bff|http_server)_[a-z0-9_]+|[a-z_]+:[a-z0-9_]+:[a-z0-9_]+)\b")
# What Grafana puts in place of the variables, for promtool.
GRAFANA_VALUES = {"$namespace": "checkout", "$job": "checkout-bff", "$__rate_interval": "5m"}


def panels() -> list[dict[str, Any]]:
    panels: list[dict[str, Any]] = json.loads(DASHBOARD.read_text())["panels"]
    return panels


def queries() -> list[tuple[str, str]]:
    """(panel title, query) of every target."""
    return [(p["title"], t["expr"]) for p in panels() for t in p.get("targets", [])]


def as_grafana_sends(expr: str) -> str:
    for variable, value in GRAFANA_VALUES.items():
        expr = expr.replace(variable, value)
    return expr


def test_every_series_a_panel_reads_is_scoped_to_the_namespace_and_job() -> None:
    for title, expr in queries():
        # Braces inside a regex ([{]order_id[}]) close no selector: blank them first.
        plain = expr.replace("[{]", "[(]").replace("[}]", "[)]")
        selectors = SELECTOR.findall(plain)
        assert selectors, f"{title}: {expr}"
        for name, matchers in selectors:
            assert 'namespace="$namespace"' in matchers, f"{title}: {name}"
            assert 'job="$job"' in matchers, f"{title}: {name}"
        named = SERIES_NAME.findall(plain)
        assert len(named) == len(selectors), f"{title}: a series read without a selector"


def test_the_job_is_chosen_among_the_namespaces_jobs() -> None:
    variables = {v["name"]: v for v in json.loads(DASHBOARD.read_text())["templating"]["list"]}
    names = list(variables)
    assert names.index("namespace") < names.index("job")  # the job list follows the namespace
    assert 'namespace="$namespace"' in variables["job"]["query"]["query"]
    assert variables["job"]["query"]["query"].startswith("label_values(")


def test_every_query_is_valid_promql(promtool: str, tmp_path: Path) -> None:
    rules = [
        {"record": f"dashboard:panel:query{i}", "expr": as_grafana_sends(expr)}
        for i, (_, expr) in enumerate(queries())
    ]
    (tmp_path / "dashboard.rules.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]})
    )
    proc = run_promtool(promtool, "check", "rules", "dashboard.rules.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_pool_saturation_is_read_per_pod(promtool: str, tmp_path: Path) -> None:
    (panel,) = [p for p in panels() if "bff_upstream_pool_connections" in json.dumps(p)]
    (target,) = panel["targets"]
    pods = {"checkout-bff-a": 5, "checkout-bff-b": 5, "checkout-bff-c": 9}
    series = []
    for pod, in_flight in pods.items():
        labels = f'namespace="checkout", job="checkout-bff", pod="{pod}", pool="default"'
        series.append({"series": f"bff_upstream_in_flight{{{labels}}}", "values": f"{in_flight}x5"})
        series.append({"series": f"bff_upstream_pool_connections{{{labels}}}", "values": "10x5"})
        # Another job in the namespace, with its own pools, stays out of the panel.
        other = labels.replace('job="checkout-bff"', 'job="checkout-bff-canary"')
        series.append({"series": f"bff_upstream_in_flight{{{other}}}", "values": "10x5"})
        series.append({"series": f"bff_upstream_pool_connections{{{other}}}", "values": "10x5"})
    expected = [
        {"labels": f'{{pod="{pod}", pool="default"}}', "value": in_flight / 10}
        for pod, in_flight in pods.items()
    ]
    (tmp_path / "none.rules.yaml").write_text("groups: []\n")
    suite = {
        "rule_files": ["none.rules.yaml"],
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": [
                    {
                        "expr": as_grafana_sends(target["expr"]),
                        "eval_time": "4m",
                        "exp_samples": expected,
                    }
                ],
            }
        ],
    }
    (tmp_path / "pool.test.yaml").write_text(yaml.safe_dump(suite))
    proc = run_promtool(promtool, "test", "rules", "pool.test.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("pool", ["bff_database_pool", "bff_redis_pool"])
def test_the_service_own_pools_are_read_per_pod(pool: str, promtool: str, tmp_path: Path) -> None:
    (panel,) = [p for p in panels() if f"{pool}_connections" in json.dumps(p)]
    pods = {"checkout-bff-a": (4, 6), "checkout-bff-b": (4, 6), "checkout-bff-c": (18, 20)}
    series = []
    for pod, (in_use, open_) in pods.items():
        labels = f'namespace="checkout", job="checkout-bff", pod="{pod}"'
        series.append({"series": f"{pool}_in_use{{{labels}}}", "values": f"{in_use}x5"})
        series.append({"series": f"{pool}_open{{{labels}}}", "values": f"{open_}x5"})
        series.append({"series": f"{pool}_connections{{{labels}}}", "values": "20x5"})
        # Another job in the namespace, with its own pools, stays out of the panel.
        other = labels.replace('job="checkout-bff"', 'job="checkout-bff-canary"')
        for which in ("in_use", "open", "connections"):
            series.append({"series": f"{pool}_{which}{{{other}}}", "values": "1x5"})
    tests = []
    for target in panel["targets"]:
        field = 0 if f"{pool}_in_use" in target["expr"] else 1
        expected = [
            {"labels": f'{{pod="{pod}"}}', "value": counts[field] / 20}
            for pod, counts in pods.items()
        ]
        tests.append(
            {"expr": as_grafana_sends(target["expr"]), "eval_time": "4m", "exp_samples": expected}
        )
    assert len(tests) == 2  # in use and open, each over the pool's limit
    (tmp_path / "none.rules.yaml").write_text("groups: []\n")
    suite = {
        "rule_files": ["none.rules.yaml"],
        "tests": [{"interval": "1m", "input_series": series, "promql_expr_test": tests}],
    }
    (tmp_path / "pool.test.yaml").write_text(yaml.safe_dump(suite))
    proc = run_promtool(promtool, "test", "rules", "pool.test.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
