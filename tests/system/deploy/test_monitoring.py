"""Alerts and the dashboard use the metrics the service exports, and cover them."""

from __future__ import annotations

import json
import re

import yaml
from prometheus_client.metrics import MetricWrapperBase

import app.platform.metrics
from tests.system.deploy.manifests import DEPLOY

DASHBOARD = DEPLOY / "grafana" / "checkout-bff.json"
RULES = DEPLOY / "base" / "prometheusrule.yaml"
METRIC_NAME = re.compile(r"\b((?:bff|http_server|kube)_[a-z0-9_]+)\b")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def exported() -> dict[str, str]:
    """Every series name app/platform/metrics.py exports, mapped to its metric's name."""
    names: dict[str, str] = {}
    for value in vars(app.platform.metrics).values():
        if isinstance(value, MetricWrapperBase):
            for family in value.describe():
                for suffix in SUFFIXES[family.type]:
                    names[family.name + suffix] = family.name
    return names


def rule_expressions() -> list[tuple[str, str]]:
    """(alert or recorded series, expression) of every rule; an alert may have several."""
    doc = yaml.safe_load(RULES.read_text())
    return [
        (r.get("alert") or r["record"], r["expr"])
        for g in doc["spec"]["groups"]
        for r in g["rules"]
    ]


def dashboard_expressions() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [t["expr"] for p in panels for t in p.get("targets", [])]


def test_alerts_name_only_metrics_that_exist() -> None:
    known = exported()
    for alert, expr in rule_expressions():
        for name in METRIC_NAME.findall(expr):
            # kube_* come from kube-state-metrics, beside the service in any cluster with
            # the Prometheus operator.
            assert name in known or name.startswith("kube_job_"), f"{alert}: {name}"


def test_alerts_cover_what_the_on_call_needs_to_know() -> None:
    used = {name for _, expr in rule_expressions() for name in METRIC_NAME.findall(expr)}
    assert "bff_upstream_request_duration_seconds_bucket" in used  # p99 latency
    assert "bff_upstream_request_duration_seconds_count" in used  # error ratio
    assert "bff_upstream_circuit_open" in used
    assert "bff_instacart_token_refreshes_total" in used
    assert "bff_callbacks_total" in used
    assert "bff_reconcile_backlog" in used
    assert "http_server_request_duration_seconds_count" in used  # the 5xx SLO
    assert "http_server_request_duration_seconds_bucket" in used  # the latency SLO
    assert {"bff_upstream_in_flight", "bff_upstream_pool_connections"} <= used  # per-pod pools
    assert {"bff_database_pool_in_use", "bff_database_pool_connections"} <= used  # our own
    assert {"bff_redis_pool_in_use", "bff_redis_pool_connections"} <= used
    # Placements in doubt by age, against the grace the replicas run with.
    assert {"bff_placements_unresolved_oldest_age_seconds", "bff_reconcile_grace_seconds"} <= used
    assert any("histogram_quantile(0.99" in e for _, e in rule_expressions())


def test_the_dashboard_charts_every_exported_metric_and_nothing_else() -> None:
    known = exported()
    charted: set[str] = set()
    for expr in dashboard_expressions():
        for name in METRIC_NAME.findall(expr):
            assert name in known, f"dashboard names {name}, which the service does not export"
            charted.add(known[name])
    assert set(known.values()) <= charted, set(known.values()) - charted


def test_the_dashboard_is_importable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "namespace"} <= variables
    for panel in dashboard["panels"]:
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}"
            assert 'namespace="$namespace"' in target["expr"]
