"""checkov over the rendered manifests and the Dockerfile: no failure left unexplained."""

from __future__ import annotations

import re

import yaml

from tests.support.ci import IN_CI
from tests.system.deploy.manifests import CHECKOV_CONFIG, DOCKERFILE, CheckovReport


def test_checkov_finds_no_failure(checkov_report: CheckovReport) -> None:
    failures = sorted(
        f"{f['check_id']} {f['check_name']}: {f['resource']} ({f['file_path']})"
        for f in checkov_report.failed
    )
    hint = f"checkov failures (fix them, or skip with a reason in {CHECKOV_CONFIG.name}):"
    assert not failures, "\n".join([hint, *failures])
    assert checkov_report.passed > 100  # it really looked at something


def test_checkov_scanned_every_overlay_and_the_dockerfile(checkov_report: CheckovReport) -> None:
    assert {"dev.yaml", "production.yaml"} <= checkov_report.scanned_files
    if DOCKERFILE.exists() or IN_CI:
        assert checkov_report.dockerfile_scanned


def test_every_skipped_check_says_why() -> None:
    config = yaml.safe_load(CHECKOV_CONFIG.read_text())
    lines = CHECKOV_CONFIG.read_text().splitlines()
    for check in config["skip-check"]:
        index = next(i for i, line in enumerate(lines) if re.fullmatch(rf"\s*- {check}", line))
        reason = []
        for line in reversed(lines[:index]):
            if not line.strip().startswith("#"):
                break
            reason.append(line)
        assert len(" ".join(reason)) > 80, f"{check} is skipped without a reason above it"
