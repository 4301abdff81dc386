"""The rendered manifests: valid for Kubernetes, and consistent with the app they deploy."""

from __future__ import annotations

import base64
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.routing import Match

from app.__main__ import main as app_main
from app.main import create_app
from app.settings import Settings
from sandbox.app import create_sandbox_app
from sandbox.config import SandboxConfig
from tests.support.ci import require_tool
from tests.system.deploy.manifests import (
    CRD_GROUPS,
    DEPLOY,
    FROM_THE_LOCK,
    OVERLAYS,
    Rendered,
    containers,
    pod_specs,
)

# The newest minor that kubernetes-validate (pinned in requirements.lock) has schemas for.
KUBERNETES_VERSION = "1.37.0"
SECRET_TEMPLATE = DEPLOY / "base" / "secret.template.yaml"
RULE_FIELDS = {"alert", "record", "expr", "for", "labels", "annotations"}
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
BFF_IMAGE = "checkout-bff"


def test_every_overlay_renders_the_whole_service(rendered: dict[str, Rendered]) -> None:
    assert set(rendered) >= {"dev", "production"}
    for r in rendered.values():
        kinds = {d["kind"] for d in r.docs}
        assert kinds >= {
            "Deployment",
            "Service",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            "ConfigMap",
            "ServiceAccount",
            "NetworkPolicy",
            "Job",
            "CronJob",
        }, r.overlay
        assert kinds & {"Ingress", "HTTPRoute"}, f"{r.overlay}: no way in"
        for doc in r.docs:
            if doc["kind"] != "Namespace":
                assert doc["metadata"].get("namespace"), f"{r.overlay}: {doc['kind']} unnamespaced"


# --- schema validation ------------------------------------------------------------------------


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            require_tool("kubernetes-validate", install=FROM_THE_LOCK),
            "--strict",
            "--kubernetes-version",
            KUBERNETES_VERSION,
            "--quiet",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_passes_strict_schema_validation(
    overlay: str, rendered: dict[str, Rendered], tmp_path: Path
) -> None:
    # kubernetes-validate has schemas of the built-in kinds only; the custom resources
    # (ServiceMonitor, PrometheusRule, HTTPRoute) are left to
    # test_custom_resources_have_the_fields_their_operators_need, since no offline schema of
    # those CRDs is packaged on a registry this project reaches.
    docs = [d for d in rendered[overlay].docs if not d["apiVersion"].startswith(CRD_GROUPS)]
    path = tmp_path / f"{overlay}-builtin.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    proc = _validate(path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_secret_template_passes_strict_schema_validation() -> None:
    proc = _validate(SECRET_TEMPLATE)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_strict_validation_rejects_an_unknown_field(tmp_path: Path) -> None:
    # Proves the validator really checks: a misspelt field must not pass.
    path = tmp_path / "bad.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n"
        "spec: {ports: [{port: 80, targetPrt: 8080}]}\n"
    )
    assert _validate(path).returncode != 0


def test_custom_resources_have_the_fields_their_operators_need(
    rendered: dict[str, Rendered],
) -> None:
    for r in rendered.values():
        for doc in r.docs:
            if not doc["apiVersion"].startswith(CRD_GROUPS):
                continue
            kind, spec = doc["kind"], doc["spec"]
            if kind == "ServiceMonitor":
                assert doc["apiVersion"] == "monitoring.coreos.com/v1"
                assert spec["selector"]["matchLabels"] and spec["endpoints"]
                assert {"port", "path"} <= set(spec["endpoints"][0])
            elif kind == "PrometheusRule":
                assert doc["apiVersion"] == "monitoring.coreos.com/v1"
                for group in spec["groups"]:
                    assert group["name"] and group["rules"]
                    for rule in group["rules"]:
                        assert set(rule) <= RULE_FIELDS
                        assert rule["expr"].strip()
                        assert "record" in rule or rule["labels"]["severity"]
            elif kind == "HTTPRoute":
                assert doc["apiVersion"] == "gateway.networking.k8s.io/v1"
                assert spec["parentRefs"] and spec["rules"]
            else:
                pytest.fail(f"{r.overlay}: unexpected custom resource {kind}")


# --- the app behind the manifests -----------------------------------------------------------


def _is_bff(container: dict[str, Any]) -> bool:
    return container["image"].split("/")[-1].split(":")[0].split("@")[0] == BFF_IMAGE


def _runs(container: dict[str, Any], module: str) -> bool:
    command = [*container.get("command", []), *container.get("args", [])]
    return _is_bff(container) and command[:3] == ["python", "-m", module]


def _get_route_exists(app: Any, path: str) -> bool:
    scope = {"type": "http", "path": path, "method": "GET", "root_path": "", "path_params": {}}
    return any(route.matches(scope)[0] == Match.FULL for route in app.routes)


@pytest.fixture(scope="module")
def apps() -> dict[str, Any]:
    """The real route tables: the BFF's and the sandbox's (no lifespan needed to read them)."""
    return {
        "app": create_app(Settings(_env_file=None)),
        "sandbox": create_sandbox_app(SandboxConfig()),
    }


def _workload_containers(r: Rendered) -> list[tuple[dict[str, Any], dict[str, Any], dict]]:
    out = []
    for doc in r.docs:
        for spec in pod_specs(doc):
            for c in containers(spec):
                out.append((doc, spec, c))
    return out


def _port_number(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    named = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == port]
    assert named, f"{container['name']}: no port named {port}"
    return named[0]


def _arg(command: list[str], flag: str) -> str:
    assert flag in command, f"{command} has no {flag}"
    return command[command.index(flag) + 1]


def test_probes_call_real_routes_of_the_app_they_probe(
    rendered: dict[str, Rendered], apps: dict[str, Any]
) -> None:
    checked = 0
    for r in rendered.values():
        for doc, _, c in _workload_containers(r):
            module = next((m for m in apps if _runs(c, m)), None)
            for probe_name in ("startupProbe", "readinessProbe", "livenessProbe"):
                probe = c.get(probe_name)
                if not probe or "httpGet" not in probe:
                    continue
                assert module, f"{r.overlay}: HTTP probe on {c['name']}, which runs no known app"
                path = probe["httpGet"]["path"]
                assert _get_route_exists(apps[module], path), (
                    f"{r.overlay}: {doc['metadata']['name']}/{c['name']} {probe_name} GET {path} "
                    f"is not a route of {module}"
                )
                port = _port_number(c, probe["httpGet"]["port"])
                assert port == int(_arg(c["command"], "--port"))
                checked += 1
    assert checked >= 3 * len(rendered)


def test_the_service_probes_readiness_on_readyz_and_liveness_on_livez(
    rendered: dict[str, Rendered],
) -> None:
    for r in rendered.values():
        c = r.get("Deployment", "checkout-bff")["spec"]["template"]["spec"]["containers"][0]
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert c["livenessProbe"]["httpGet"]["path"] == "/livez"
        # /readyz reports Postgres and Redis and waits on their checks; the process being up
        # is what startup waits for.
        assert c["startupProbe"]["httpGet"]["path"] == "/livez"


def test_commands_are_ones_the_image_understands(rendered: dict[str, Rendered]) -> None:
    for r in rendered.values():
        for _, _, c in _workload_containers(r):
            if _runs(c, "app"):
                command = c["command"][3:]
                with pytest.raises(SystemExit) as exit_info:
                    # --help parses the command as the image would, then exits without running it.
                    app_main([*command, "--help"] if command else ["--help"])
                assert exit_info.value.code == 0, command
        job = r.get("Job", "checkout-bff-migrate")["spec"]["template"]["spec"]["containers"][0]
        assert job["command"] == ["alembic", "upgrade", "head"]
        cron = r.get("CronJob", "checkout-bff-reconcile")["spec"]["jobTemplate"]["spec"]
        assert cron["template"]["spec"]["containers"][0]["command"][-1] == "reconcile"


def test_ports_match_from_the_service_to_the_process(rendered: dict[str, Rendered]) -> None:
    for r in rendered.values():
        workloads = [d for d in r.docs if d["kind"] in WORKLOAD_KINDS]
        for service in r.of_kind("Service"):
            selector = service["spec"]["selector"]
            targets = [
                w
                for w in workloads
                if w["kind"] != "CronJob"
                and selector.items() <= w["spec"]["template"]["metadata"]["labels"].items()
            ]
            assert len(targets) == 1, f"{r.overlay}: Service {service['metadata']['name']}"
            (target,) = targets
            (container,) = target["spec"]["template"]["spec"]["containers"]
            config = _effective_settings_env(r, target["spec"]["template"]["spec"])
            for port in service["spec"]["ports"]:
                number = _port_number(container, port["targetPort"])
                if port["name"] == "metrics":
                    # prometheus-client's own server, on BFF_METRICS_PORT
                    assert number == int(config["BFF_METRICS_PORT"])
                elif "--port" in container.get("command", []):
                    assert number == int(_arg(container["command"], "--port"))
        bff = r.get("Deployment", "checkout-bff")["spec"]["template"]["spec"]["containers"][0]
        # The app's own default port (python -m app serve) and the one the pod runs it on.
        assert int(_arg(bff["command"], "--port")) == 8080
        assert bff["ports"][0]["containerPort"] == 8080


RESTRICTED_POD = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


def test_every_container_meets_the_restricted_pod_security_profile(
    rendered: dict[str, Rendered],
) -> None:
    for r in rendered.values():
        for doc, spec, c in _workload_containers(r):
            where = f"{r.overlay}: {doc['kind']} {doc['metadata']['name']}/{c['name']}"
            pod_sc = spec.get("securityContext", {})
            sc = c.get("securityContext", {})
            assert sc.get("allowPrivilegeEscalation") is False, where
            assert sc.get("readOnlyRootFilesystem") is True, where
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], where
            assert not sc.get("capabilities", {}).get("add"), where
            assert not sc.get("privileged"), where
            assert (sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))) is True, where
            assert sc.get("runAsUser", pod_sc.get("runAsUser")) not in (None, 0), where
            seccomp = sc.get("seccompProfile") or pod_sc.get("seccompProfile")
            assert seccomp == {"type": "RuntimeDefault"}, where
            assert not spec.get("hostNetwork") and not spec.get("hostPID"), where
            assert spec.get("automountServiceAccountToken") is False, where
            for volume in spec.get("volumes", []):
                assert "hostPath" not in volume, where
            assert c["resources"]["requests"] and c["resources"]["limits"], where
            if _is_bff(c):
                assert sc.get("runAsUser", pod_sc.get("runAsUser")) == 10001, where
                tmp = [m for m in c.get("volumeMounts", []) if m["mountPath"] == "/tmp"]  # noqa: S108
                volumes = {v["name"]: v for v in spec.get("volumes", [])}
                assert tmp and "emptyDir" in volumes[tmp[0]["name"]], where
        for account in r.of_kind("ServiceAccount"):
            assert account.get("automountServiceAccountToken") is False


def test_the_deployment_rolls_out_without_unavailability(rendered: dict[str, Rendered]) -> None:
    for r in rendered.values():
        deployment = r.get("Deployment", "checkout-bff")
        spec = deployment["spec"]
        assert "replicas" not in spec  # the HPA owns the count; an apply must not reset it
        assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        pod = spec["template"]["spec"]
        assert pod["topologySpreadConstraints"]
        hpa = r.get("HorizontalPodAutoscaler", "checkout-bff")
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["minReplicas"] >= 2
        assert {m["type"] for m in hpa["spec"]["metrics"]} >= {"Pods"}  # load, not only CPU
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "checkout-bff",
        }


def _effective_settings_env(r: Rendered, pod: dict[str, Any]) -> dict[str, str]:
    """Every variable the pod gets, from env, its ConfigMap and its Secret (or the template)."""
    values: dict[str, str] = {}
    (container,) = pod["containers"]
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            name = source["configMapRef"]["name"]
            values.update(
                next(d for d in r.of_kind("ConfigMap") if d["metadata"]["name"] == name)["data"]
            )
        if "secretRef" in source:
            name = source["secretRef"]["name"]
            secret = [d for d in r.of_kind("Secret") if d["metadata"]["name"] == name]
            if secret:
                data = secret[0].get("data", {})
                values.update({k: base64.b64decode(v).decode() for k, v in data.items()})
            else:  # created out of band: its keys are the template's
                template = yaml.safe_load(SECRET_TEMPLATE.read_text())
                assert template["metadata"]["name"] == name, f"{r.overlay}: Secret {name}"
                values.update(template["stringData"])
    for item in container.get("env", []):
        values[item["name"]] = item.get("value", "")
    return values


SETTINGS_VARIABLES = {f"BFF_{name.upper()}" for name in Settings.model_fields}


def test_every_setting_the_pods_get_exists_and_is_valid(
    rendered: dict[str, Rendered], monkeypatch: pytest.MonkeyPatch
) -> None:
    for r in rendered.values():
        for doc, spec, c in _workload_containers(r):
            if not _is_bff(c) or _runs(c, "sandbox"):
                continue
            env = _effective_settings_env(r, spec)
            unknown = {k for k in env if k.startswith("BFF_")} - SETTINGS_VARIABLES
            assert not unknown, f"{r.overlay}: {doc['metadata']['name']} passes unknown {unknown}"
            with monkeypatch.context() as m:
                for k in [k for k in os.environ if k.startswith("BFF_")]:
                    m.delenv(k)
                for k, v in env.items():
                    if k.startswith("BFF_"):
                        m.setenv(k, v)
                Settings(_env_file=None)  # raises on a bad value, or dev secrets in production


def test_the_secret_template_holds_placeholders_for_every_secret_setting() -> None:
    template = yaml.safe_load(SECRET_TEMPLATE.read_text())
    data = template["stringData"]
    assert set(data) <= SETTINGS_VARIABLES
    for key, value in data.items():
        assert re.fullmatch(r"<[^<>]+>", value), f"{key} holds a value, not a <placeholder>"
    secret_fields = {
        f"BFF_{name.upper()}"
        for name, field in Settings.model_fields.items()
        if "SecretStr" in repr(field.annotation)
    }
    assert secret_fields <= set(data), secret_fields - set(data)


def test_the_grace_period_outlasts_the_pause_and_the_shutdown(
    rendered: dict[str, Rendered],
) -> None:
    for r in rendered.values():
        pod = r.get("Deployment", "checkout-bff")["spec"]["template"]["spec"]
        env = _effective_settings_env(r, pod)
        defaults = Settings.model_fields
        timeout = float(
            env.get("BFF_SHUTDOWN_TIMEOUT_SECONDS", defaults["shutdown_timeout_seconds"].default)
        )
        drain = float(
            env.get("BFF_SHUTDOWN_DRAIN_SECONDS", defaults["shutdown_drain_seconds"].default)
        )
        pause = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert pause >= 5
        assert pod["terminationGracePeriodSeconds"] > pause + drain + timeout


# --- selectors and references -----------------------------------------------------------------


def _pod_labels(r: Rendered) -> list[dict[str, str]]:
    out = []
    for doc in r.docs:
        if doc["kind"] == "CronJob":
            out.append(doc["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"])
        elif doc["kind"] in WORKLOAD_KINDS:
            out.append(doc["spec"]["template"]["metadata"]["labels"])
    return out


def test_selectors_match_the_labels_they_select(rendered: dict[str, Rendered]) -> None:
    for r in rendered.values():
        pods = _pod_labels(r)
        for doc in r.docs:
            if doc["kind"] in ("Deployment", "StatefulSet"):
                selector = doc["spec"]["selector"]["matchLabels"]
                assert selector.items() <= doc["spec"]["template"]["metadata"]["labels"].items()
        for pdb in r.of_kind("PodDisruptionBudget"):
            selector = pdb["spec"]["selector"]["matchLabels"]
            deployment = r.get("Deployment", "checkout-bff")
            assert selector == deployment["spec"]["selector"]["matchLabels"]
        for policy in r.of_kind("NetworkPolicy"):
            selector = policy["spec"]["podSelector"]["matchLabels"]
            assert any(selector.items() <= p.items() for p in pods), policy["metadata"]["name"]
        services = {s["metadata"]["name"]: s for s in r.of_kind("Service")}
        for monitor in r.of_kind("ServiceMonitor"):
            selector = monitor["spec"]["selector"]["matchLabels"]
            matched = [
                s for s in services.values() if selector.items() <= s["metadata"]["labels"].items()
            ]
            assert len(matched) == 1
            port_names = {p["name"] for p in matched[0]["spec"]["ports"]}
            assert {e["port"] for e in monitor["spec"]["endpoints"]} <= port_names
        for ingress in r.of_kind("Ingress"):
            for rule in ingress["spec"]["rules"]:
                for path in rule["http"]["paths"]:
                    backend = path["backend"]["service"]
                    ports = services[backend["name"]]["spec"]["ports"]
                    assert backend["port"]["name"] in {p["name"] for p in ports}
        for route in r.of_kind("HTTPRoute"):
            for rule in route["spec"]["rules"]:
                for ref in rule["backendRefs"]:
                    ports = services[ref["name"]]["spec"]["ports"]
                    assert ref["port"] in {p["port"] for p in ports}


def test_only_the_public_api_is_exposed(
    rendered: dict[str, Rendered], apps: dict[str, Any]
) -> None:
    internal = ("/metrics", "/livez", "/readyz", "/healthz/dependencies", "/docs", "/openapi.json")
    for r in rendered.values():
        prefixes = [
            path["path"]
            for ingress in r.of_kind("Ingress")
            for rule in ingress["spec"]["rules"]
            for path in rule["http"]["paths"]
        ] + [
            match["path"]["value"]
            for route in r.of_kind("HTTPRoute")
            for rule in route["spec"]["rules"]
            for match in rule["matches"]
        ]
        assert prefixes, r.overlay
        for prefix in prefixes:
            assert not any(p.startswith(prefix) for p in internal), f"{r.overlay}: {prefix}"
        # And they lead somewhere: the storefront API and the callbacks receiver.
        assert _get_route_exists(apps["app"], "/v1/orders")
        assert "/v1" in prefixes and "/callbacks/instacart" in prefixes


def test_the_image_is_checkout_bff_with_a_tag_from_the_overlay(
    rendered: dict[str, Rendered],
) -> None:
    for r in rendered.values():
        for doc, _, c in _workload_containers(r):
            if doc["metadata"]["name"].startswith(("checkout-bff", "instacart-sandbox")):
                assert _is_bff(c), c["image"]
                tag = c["image"].rsplit(":", 1)[-1] if ":" in c["image"] else ""
                assert "@sha256:" in c["image"] or tag not in ("", "latest"), c["image"]
