"""How traffic reaches the pods and where the pods may go: a Gateway API route by default with
the Ingress as a component, each opened to its own proxy; Postgres and Redis reached only at the
addresses an overlay names; a disruption budget that never holds a drain on a pod that serves
nothing."""

from __future__ import annotations

import ipaddress
import subprocess
from typing import Any

import yaml

from tests.system.deploy.manifests import DEPLOY, Rendered

DATA_PORTS = {5432, 6379, 26379}  # Postgres, Redis, Redis Sentinel
# What base/networkpolicy.yaml puts where an overlay must name Postgres's and Redis's addresses.
PLACEHOLDER = ipaddress.ip_network("192.0.2.0/24")
# Each way in, and the NetworkPolicy that lets its proxy reach the pods.
WAY_IN_POLICY = {
    "HTTPRoute": "checkout-bff-from-gateway",
    "Ingress": "checkout-bff-from-ingress-nginx",
}
DATA_POLICIES = ("checkout-bff-egress-postgres", "checkout-bff-egress-redis")


def bff_egress_rules(r: Rendered) -> list[tuple[str, dict[str, Any]]]:
    """(policy, rule) of every egress rule that applies to the service's pods."""
    return [
        (policy["metadata"]["name"], rule)
        for policy in r.of_kind("NetworkPolicy")
        if policy["spec"]["podSelector"]["matchLabels"].get("app.kubernetes.io/name")
        == "checkout-bff"
        for rule in policy["spec"].get("egress", [])
    ]


def ports_of(rule: dict[str, Any]) -> set[int] | None:
    """The rule's ports; None when it names none, which opens them all."""
    if not rule.get("ports"):
        return None
    return {p["port"] for p in rule["ports"]}


def test_the_base_routes_through_a_gateway(kubectl: str) -> None:
    proc = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY / "base")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    kinds = {d["kind"] for d in yaml.safe_load_all(proc.stdout) if d}
    assert "HTTPRoute" in kinds and "Ingress" not in kinds


def test_every_overlay_has_one_way_in_opened_to_its_own_proxy(
    rendered: dict[str, Rendered],
) -> None:
    for r in rendered.values():
        ways = [kind for kind in WAY_IN_POLICY if r.of_kind(kind)]
        assert len(ways) == 1, f"{r.overlay}: {ways}"
        policies = {p["metadata"]["name"] for p in r.of_kind("NetworkPolicy")}
        assert WAY_IN_POLICY[ways[0]] in policies, r.overlay
        others = set(WAY_IN_POLICY.values()) - {WAY_IN_POLICY[ways[0]]}
        assert not policies & others, f"{r.overlay}: opened to a proxy it does not use"
    assert rendered["production"].of_kind("HTTPRoute"), "production uses the Gateway API"


def test_postgres_and_redis_are_reached_only_where_the_overlay_says(
    rendered: dict[str, Rendered],
) -> None:
    for r in rendered.values():
        reached: set[int] = set()
        for name, rule in bff_egress_rules(r):
            ports = ports_of(rule)
            if ports is not None and not ports & DATA_PORTS:
                continue
            where = f"{r.overlay}: {name}"
            assert ports is not None, f"{where} opens every port"
            peers = rule.get("to")
            assert peers, f"{where} lets {ports & DATA_PORTS} go to any address"
            for peer in peers:
                if "ipBlock" in peer:
                    network = ipaddress.ip_network(peer["ipBlock"]["cidr"])
                    assert network.prefixlen >= 8, f"{where}: {network} is anywhere"
                    assert not network.overlaps(PLACEHOLDER), f"{where}: the placeholder is left"
                else:
                    assert peer.get("podSelector") or peer.get("namespaceSelector"), where
            reached |= ports & DATA_PORTS
        assert {5432, 6379} <= reached, f"{r.overlay}: Postgres or Redis unreachable"


def test_the_placeholder_checked_above_is_the_one_the_base_holds() -> None:
    policies = yaml.safe_load_all((DEPLOY / "base" / "networkpolicy.yaml").read_text())
    placeholders = [
        peer["ipBlock"]["cidr"]
        for policy in policies
        if policy["metadata"]["name"] in DATA_POLICIES
        for rule in policy["spec"]["egress"]
        for peer in rule["to"]
    ]
    assert placeholders == [str(PLACEHOLDER)] * 2


def test_a_drain_may_evict_a_pod_that_is_not_ready(rendered: dict[str, Rendered]) -> None:
    for r in rendered.values():
        for budget in r.of_kind("PodDisruptionBudget"):
            assert budget["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow", r.overlay
