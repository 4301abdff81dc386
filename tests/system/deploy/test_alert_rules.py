"""The alerts as Prometheus runs them: promtool checks the rules and runs their unit tests.

promtool reads plain rules files, so the rule groups are taken out of the PrometheusRule as each
overlay renders it. The unit tests (deploy/alert-tests/*.test.yaml) compare every annotation of
a firing alert; they run against the rules with each alert's summary as its one annotation, so
that they need not repeat every description and link (the full rules pass `promtool check
rules`, and test_runbooks.py follows the links). Without promtool these tests skip locally and
fail under CI.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import yaml

from tests.system.deploy.manifests import DEPLOY, Rendered, run_promtool

ALERT_TESTS = DEPLOY / "alert-tests"
RULES_FILE = "checkout-bff.rules.yaml"  # the name every unit test file reads
BASE_RULES = DEPLOY / "base" / "prometheusrule.yaml"


def rule_groups(r: Rendered) -> list[dict[str, Any]]:
    (rule,) = r.of_kind("PrometheusRule")
    groups: list[dict[str, Any]] = rule["spec"]["groups"]
    return groups


def with_summaries_only(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups = copy.deepcopy(groups)
    for group in groups:
        for rule in group["rules"]:
            if "alert" in rule:
                rule["annotations"] = {"summary": rule["annotations"]["summary"]}
    return groups


def unit_test_dir(groups: list[dict[str, Any]], tmp_path: Path) -> Path:
    """A folder holding the unit test files and, beside them, the rules they read."""
    (tmp_path / RULES_FILE).write_text(yaml.safe_dump({"groups": with_summaries_only(groups)}))
    for test_file in ALERT_TESTS.glob("*.test.yaml"):
        shutil.copy(test_file, tmp_path / test_file.name)
    return tmp_path


def unit_tests() -> dict[str, dict[str, Any]]:
    return {p.name: yaml.safe_load(p.read_text()) for p in sorted(ALERT_TESTS.glob("*.test.yaml"))}


def base_alerts() -> list[dict[str, Any]]:
    doc = yaml.safe_load(BASE_RULES.read_text())
    return [r for g in doc["spec"]["groups"] for r in g["rules"] if "alert" in r]


def test_promtool_accepts_the_rules_of_every_overlay(
    rendered: dict[str, Rendered], promtool: str, tmp_path: Path
) -> None:
    checked = 0
    for r in rendered.values():
        if not r.of_kind("PrometheusRule"):
            continue  # dev leaves the Prometheus operator's objects out
        path = tmp_path / f"{r.overlay}.rules.yaml"
        path.write_text(yaml.safe_dump({"groups": rule_groups(r)}))
        proc = run_promtool(promtool, "check", "rules", path.name, cwd=tmp_path)
        assert proc.returncode == 0, f"{r.overlay}:\n{proc.stdout}{proc.stderr}"
        checked += 1
    assert checked >= 1


def test_the_alerts_unit_tests_pass(
    rendered: dict[str, Rendered], promtool: str, tmp_path: Path
) -> None:
    folder = unit_test_dir(rule_groups(rendered["production"]), tmp_path)
    files = sorted(p.name for p in folder.glob("*.test.yaml"))
    assert files
    proc = run_promtool(promtool, "test", "rules", *files, cwd=folder)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_promtool_fails_a_wrong_expectation(
    rendered: dict[str, Rendered], promtool: str, tmp_path: Path
) -> None:
    # Proves the unit tests can fail: an alert expected quiet where it fires must not pass.
    folder = unit_test_dir(rule_groups(rendered["production"]), tmp_path)
    suite = yaml.safe_load((folder / "slo.test.yaml").read_text())
    test, firing = next(
        (test, case)
        for test in suite["tests"]
        for case in test.get("alert_rule_test", [])
        if case["exp_alerts"]
    )
    firing["exp_alerts"] = []
    suite["tests"] = [test]
    (folder / "wrong.test.yaml").write_text(yaml.safe_dump(suite))
    proc = run_promtool(promtool, "test", "rules", "wrong.test.yaml", cwd=folder)
    assert proc.returncode != 0
    assert firing["alertname"] in proc.stdout + proc.stderr


def test_every_alert_is_unit_tested_firing_and_quiet() -> None:
    fired: dict[str, set[str]] = {}
    quiet: set[str] = set()
    for name, suite in unit_tests().items():
        assert suite["rule_files"] == [RULES_FILE], name
        for test in suite["tests"]:
            for case in test.get("alert_rule_test", []):
                if case["exp_alerts"]:
                    severities = {a["exp_labels"]["severity"] for a in case["exp_alerts"]}
                    fired.setdefault(case["alertname"], set()).update(severities)
                else:
                    quiet.add(case["alertname"])
    for alert in base_alerts():
        name, severity = alert["alert"], alert["labels"]["severity"]
        assert severity in {"critical", "warning"}, f"{name}: on-call routes by these two"
        assert severity in fired.get(name, set()), f"no test sees {name} fire as {severity}"
        assert name in quiet, f"no test sees {name} stay quiet"
