"""The history checker: the storefront's history against the sandbox's orders and the BFF's rows.

Invariants (issue 7):
- no Idempotency-Key and no user's single checkout gets two upstream orders (every shopper
  of a scenario makes one checkout under one key, so per user is per key);
- every 201 is an order its owner sees, in GET /v1/orders and GET /v1/orders/{id};
- every upstream order is visible to its owner after reconciliation;
- no 500 anywhere: a 5xx is 502/503/504 with its documented code, and a 503 has Retry-After;
- a completed key replays its first answer (201, same id, Idempotent-Replayed: true);
- once settled, every order's owner sees the status Instacart has (issue 15);
- no 409 the storefront takes as final (any but request_in_progress) for a checkout whose
  order exists upstream (issue 15).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from tests.system.faults.history import DOCUMENTED_5XX, RETRYABLE_4XX, Checkout, Exchange


@dataclass
class Truth:
    """What the world looks like once the dust has settled."""

    upstream: list[dict[str, Any]]  # the sandbox's orders: id, user_id, status, ...
    rows: list[dict[str, Any]]  # the BFF's orders table
    listed: dict[str, list[str]]  # user -> order ids in their GET /v1/orders
    readable: dict[str, int]  # order id -> status of the owner's GET /v1/orders/{id}
    shown: dict[str, str | None] = field(default_factory=dict)  # order id -> status it showed


@dataclass
class Report:
    anomalies: list[dict[str, Any]] = field(default_factory=list)

    def add(self, kind: str, **detail: Any) -> None:
        self.anomalies.append({"kind": kind, **detail})


def _brief(e: Exchange) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "op": e.op,
        "replica": e.replica,
        "user": e.user,
        "key": e.key,
        "phase": e.phase,
        "status": e.status,
        "code": e.code,
        "order_id": e.order_id,
        "replayed": e.replayed,
        "error": e.error,
        "t": [e.started, e.ended],
    }


def check_answers(exchanges: list[Exchange], killed: set[str], report: Report) -> None:
    """No 500, only documented 5xx, Retry-After on 503, an answer from every live replica."""
    for e in exchanges:
        if e.status is None:
            if e.replica not in killed:
                report.add("no_answer", **_brief(e))
            continue
        if e.status < 500:
            continue
        if e.op == "ready":  # readiness answers 503 with its checks, not a problem
            if e.status != 503:
                report.add("server_error", **_brief(e))
            continue
        if e.code not in DOCUMENTED_5XX.get(e.status, set()):
            report.add("server_error", **_brief(e))
        elif e.status == 503 and not e.retry_after:
            report.add("503_without_retry_after", **_brief(e))


def check_orders(
    exchanges: list[Exchange], checkouts: list[Checkout], truth: Truth, report: Report
) -> None:
    users = {c.user for c in checkouts}
    upstream_by_user: dict[str, list[str]] = defaultdict(list)
    for order in truth.upstream:
        if order["user_id"] in users:
            upstream_by_user[order["user_id"]].append(order["id"])
    rows = {row["id"]: row for row in truth.rows}

    # one checkout per user: never two upstream orders
    for user, ids in upstream_by_user.items():
        if len(ids) > 1:
            report.add("two_upstream_orders_for_one_checkout", user=user, order_ids=sorted(ids))

    placed = [e for e in exchanges if e.op == "place"]
    by_key: dict[tuple[str, str], list[Exchange]] = defaultdict(list)
    for e in placed:
        by_key[(e.user or "", e.key or "")].append(e)
    for (user, key), answers in by_key.items():
        created = [e for e in answers if e.status == 201]
        ids = {e.order_id for e in created}
        if len(ids) > 1:
            report.add("two_orders_for_one_key", user=user, key=key, order_ids=sorted(ids))
        fresh = [e for e in created if not e.replayed]
        if len(fresh) > 1:
            report.add(
                "second_201_not_a_replay", user=user, key=key, answers=[_brief(e) for e in fresh]
            )

    # every 201 is an order: upstream, listed and readable by its owner
    for e in placed:
        if e.status != 201 or e.order_id is None:
            continue
        user = e.user or ""
        if e.order_id not in upstream_by_user.get(user, []):
            report.add("201_without_upstream_order", **_brief(e))
        if e.order_id not in truth.listed.get(user, []):
            row = rows.get(e.order_id, {})
            report.add(
                "201_not_in_owner_list",
                placement_state=row.get("placement_state"),
                failure_code=row.get("failure_code"),
                **_brief(e),
            )
        if truth.readable.get(e.order_id) != 200:
            report.add(
                "201_not_readable_by_owner", get_status=truth.readable.get(e.order_id), **_brief(e)
            )

    # every upstream order is visible to its owner, and recorded as created
    for user, ids in upstream_by_user.items():
        for order_id in ids:
            row = rows.get(order_id)
            if order_id not in truth.listed.get(user, []):
                report.add(
                    "upstream_order_not_in_owner_list",
                    user=user,
                    order_id=order_id,
                    placement_state=row and row["placement_state"],
                    failure_code=row and row["failure_code"],
                )
            if truth.readable.get(order_id) != 200:
                report.add(
                    "upstream_order_not_readable_by_owner",
                    user=user,
                    order_id=order_id,
                    get_status=truth.readable.get(order_id),
                )
    # once settled, the owner sees the status Instacart has
    for order in truth.upstream:
        shown = truth.shown.get(order["id"])
        readable = truth.readable.get(order["id"]) == 200
        if order["user_id"] in users and readable and shown != order["status"]:
            report.add(
                "status_not_converged", order_id=order["id"], upstream=order["status"], shown=shown
            )

    # a conflict the storefront takes as final (the slot or the hold gone), for a checkout
    # whose order exists upstream; a 422 for a different body under the same key is right
    for e in placed:
        final = e.status == 409 and (e.status, e.code) not in RETRYABLE_4XX
        if final and upstream_by_user.get(e.user or ""):
            report.add("definitive_409_with_an_upstream_order", **_brief(e))

    upstream_ids = {o["id"] for o in truth.upstream}
    for row in truth.rows:
        if row["user_id"] not in users:
            continue
        if row["placement_state"] == "created" and row["id"] not in upstream_ids:
            report.add("created_row_without_upstream_order", order_id=row["id"])
        if row["placement_state"] in ("pending", "unknown"):
            report.add(
                "placement_left_unresolved",
                order_id=row["id"],
                placement_state=row["placement_state"],
            )


def check_completed(exchanges: list[Exchange], checkouts: list[Checkout], report: Report) -> None:
    """Once the faults are over, every checkout the storefront kept retrying got its 201."""
    placed = [e for e in exchanges if e.op == "place" and e.phase != "probe"]
    done = {(e.user, e.key) for e in placed if e.status == 201}
    for c in checkouts:
        if (c.user, c.key) not in done:
            last = [e for e in placed if e.user == c.user][-1:]
            report.add(
                "checkout_never_completed",
                user=c.user,
                key=c.key,
                last=_brief(last[0]) if last else None,
            )


def check_probes(probes: list[tuple[Exchange, str]], report: Report) -> None:
    """Each (replay, the order id the key stands for) answers that order as a replay."""
    for e, expected in probes:
        if e.status != 201 or e.order_id != expected or not e.replayed:
            report.add("replay_does_not_answer_the_order", expected_order_id=expected, **_brief(e))


def summarize(
    scenario: str,
    exchanges: list[Exchange],
    checkouts: list[Checkout],
    truth: Truth,
    faults: dict[str, int],
    report: Report,
    duration: float,
) -> dict[str, Any]:
    users = {c.user for c in checkouts}
    placed = [e for e in exchanges if e.op == "place" and e.phase != "probe"]
    probes = [e for e in exchanges if e.op == "place" and e.phase == "probe"]
    statuses = Counter(
        f"{e.status}:{e.code}" if e.code else str(e.status or e.error) for e in placed
    )
    return {
        "scenario": scenario,
        "checkouts": len(checkouts),
        "requests": len(exchanges),
        "placements": len(placed),
        "placement_answers": dict(sorted(statuses.items())),
        "faults_injected": faults,
        "orders_upstream": sum(1 for o in truth.upstream if o["user_id"] in users),
        "created_201": sum(1 for e in placed if e.status == 201 and not e.replayed),
        "replayed_201": sum(1 for e in placed if e.status == 201 and e.replayed),
        "replay_probes": len(probes),
        "server_errors_500": sum(1 for e in exchanges if e.status == 500),
        "anomalies": len(report.anomalies),
        "anomaly_kinds": dict(Counter(a["kind"] for a in report.anomalies)),
        "duration_seconds": round(duration, 1),
    }
