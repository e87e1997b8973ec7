"""The Policy Board as plain data (for ``desktopviz policy-metrics`` and its JSON).

Per tier and policy in board order: endpoints, connections, allowed, denied and passed, and
per rule the same, with the tier's end-of-tier action (rule -1) apart. ``connections`` is the
flow logs' ``num_flows``; ``allowed``/``denied``/``passed`` are packets (in + out), with
bytes and per-action connections alongside.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from desktopviz.core.board import BoardLayout, card_metrics, nbytes, no_policy_traffic, packets
from desktopviz.core.board_detail import RuleRow, policy_detail, span_seconds
from desktopviz.core.queries import Conn, HitMetrics, policy_metrics
from desktopviz.core.store import connection_of

UNITS = {
    "connections": "connections (num_flows)",
    "allowed": "packets in + out",
    "denied": "packets in + out",
    "passed": "packets in + out",
}


def metrics_dict(hm: HitMetrics) -> dict[str, Any]:
    parts = {"allowed": hm.allowed, "denied": hm.denied, "passed": hm.passed}
    return {
        "connections": hm.total.connections,
        **{name: packets(t) for name, t in parts.items()},
        "bytes": {name: nbytes(t) for name, t in parts.items()},
        "connections_by_action": {name: t.connections for name, t in parts.items()},
        "packets_in": hm.total.packets_in,
        "packets_out": hm.total.packets_out,
        "bytes_in": hm.total.bytes_in,
        "bytes_out": hm.total.bytes_out,
        "logs": hm.total.logs,
    }


def _rule(r: RuleRow) -> dict[str, Any]:
    out: dict[str, Any] = {
        "index": r.index,
        "action": r.action,
        "text": r.text,
        "metrics": metrics_dict(r.metrics),
    }
    if r.peers:
        out["peers"] = [
            {"endpoint": p.label, "action": p.action, "connections": p.connections, "packets": p.packets}
            for p in r.peers
        ]
    return out


def board_report(
    conn: Conn,
    layout: BoardLayout,
    since: int | None = None,
    until: int | None = None,
    *,
    peers: bool = False,
    scenario: str | Path | None = None,
) -> dict[str, Any]:
    """The board with every policy's and rule's metrics over a time range."""
    c = connection_of(conn)
    all_metrics = policy_metrics(c, since, until)
    cards = card_metrics(layout, all_metrics)
    span = span_seconds(c, since, until)
    tiers: list[dict[str, Any]] = []
    for tier in layout.tiers:
        pols: list[dict[str, Any]] = []
        for bp in tier.policies:
            detail = policy_detail(
                c,
                bp,
                since,
                until,
                tier_default=tier.default_action,
                metrics=all_metrics.get(bp.key),
                peers=peers,
                span=span,
            )
            rules: dict[str, list[dict[str, Any]]] = {"ingress": [], "egress": []}
            for direction in ("ingress", "egress"):
                rules[direction] = [_rule(r) for r in detail.rules(direction)]
            if bp.policy is None:
                for direction in rules:
                    for r in rules[direction]:
                        r["text"] = "unknown: rule texts need the scenario (--scenario)"
            pols.append(
                {
                    "name": bp.key,
                    "display_name": bp.name,
                    "namespace": bp.namespace,
                    "scope": bp.scope,
                    "kind": bp.kind,
                    "staged": bp.staged,
                    "order": bp.order,
                    "endpoints": bp.endpoints,
                    "metrics_from": "pending" if bp.staged else "enforced",
                    "metrics": metrics_dict(cards[bp.key]),
                    "rules": rules,
                    "end_of_tier": {d: _rule(r) for d, r in detail.end_of_tier.items()},
                    **({"other_rules": [_rule(r) for r in detail.other]} if detail.other else {}),
                }
            )
        tiers.append(
            {"name": tier.name, "order": tier.order, "default_action": tier.default_action, "policies": pols}
        )
    return {
        "source": layout.source,
        "scenario": None if scenario is None else str(scenario),
        "since": since,
        "until": until,
        "span_seconds": span,
        "units": UNITS,
        "tiers": tiers,
        "no_policy_traffic": metrics_dict(no_policy_traffic(all_metrics)),
    }
