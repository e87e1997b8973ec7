"""The policy view's data: a policy's rules as sentences, each with its own metrics and the
endpoints its traffic came from or went to.

Per-rule metrics come from :func:`desktopviz.core.queries.policy_metrics` (rollups, one
policy); a hit in a ``dst`` log is an ingress rule's, in a ``src`` log an egress rule's.
Rule index -1 is the tier's end-of-tier action attributed to this policy: the traffic that
fell through it. The peers of each rule (the sources of an ingress rule's traffic, the
destinations of an egress rule's) are one grouped query over this policy's logs (found by
the ids of the traces that name it), spread over the traces' entries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from desktopviz.core.board import BoardPolicy
from desktopviz.core.policy_text import describe_rule
from desktopviz.core.queries import Conn, HitMetrics, PolicyMetrics, policy_metrics
from desktopviz.core.queries_base import data_edges
from desktopviz.core.store import connection_of

RuleDirection = Literal["ingress", "egress"]
_REPORTER = {"ingress": "dst", "egress": "src"}
PEER_LIMIT = 8


@dataclass
class Peer:
    """An endpoint (aggregated name) whose traffic hit a rule."""

    namespace: str
    name: str
    action: str
    connections: int = 0
    packets: int = 0

    @property
    def label(self) -> str:
        return self.name if self.namespace in ("-", "", None) else f"{self.namespace}/{self.name}"


@dataclass
class RuleRow:
    direction: RuleDirection
    index: int  # -1: end of tier
    action: str  # Allow/Deny/Pass/Log, or the tier's default action for -1
    text: str
    metrics: HitMetrics = field(default_factory=HitMetrics)
    peers: list[Peer] = field(default_factory=list)
    peer_count: int = 0

    @property
    def has_data(self) -> bool:
        return self.metrics.total.logs > 0


@dataclass
class PolicyDetail:
    """Everything the policy view shows for one policy over one time range."""

    policy: BoardPolicy
    span_seconds: float  # the time range the rates are over
    ingress: list[RuleRow] = field(default_factory=list)
    egress: list[RuleRow] = field(default_factory=list)
    end_of_tier: dict[str, RuleRow] = field(default_factory=dict)  # direction -> rule -1 row
    other: list[RuleRow] = field(default_factory=list)  # hits on rules the model does not have
    totals: HitMetrics = field(default_factory=HitMetrics)

    def rules(self, direction: str) -> list[RuleRow]:
        return self.ingress if direction == "ingress" else self.egress

    def rate(self, value: int) -> float:
        return value / self.span_seconds if self.span_seconds > 0 else 0.0


def span_seconds(conn: Conn, since: int | None, until: int | None) -> float:
    """The seconds of data the range covers (clipped to the stored data), for rates."""
    edges = data_edges(connection_of(conn))
    if edges is None:
        return 0.0
    lo_data, _last, hi_data = edges
    lo = lo_data if since is None else max(int(since), lo_data)
    hi = hi_data if until is None else min(int(until), hi_data)
    return float(max(0, hi - lo))


def end_of_tier_text(bp: BoardPolicy, action: str | None) -> str:
    act = action or "the tier's default action"
    return f"End of tier {bp.tier}: no rule matched, {act}"


def rule_peers(
    conn: Conn, key: str, kind: str, since: int | None, until: int | None
) -> dict[tuple[str, int], list[Peer]]:
    """(direction, rule index) -> peers, busiest first: the sources of ingress hits, the
    destinations of egress hits, with connections and packets per action."""
    c = connection_of(conn)
    entries: dict[int, list[tuple[int, str]]] = {}
    for tid, rule, act in c.execute(
        "SELECT trace_id, rule_index, action FROM trace_hits WHERE policy = ? AND kind = ?", (key, kind)
    ):
        entries.setdefault(tid, []).append((rule, act))
    if not entries:
        return {}
    # the keys of the policy's traces (few), their logs through the (key_id, start_time) index
    where = [
        "key_id IN (SELECT k.id FROM flow_keys AS k WHERE k.trace_id IN "
        "(SELECT trace_id FROM trace_hits WHERE policy = ? AND kind = ?))"
    ]
    args: list[object] = [key, kind]
    if since is not None:
        where.append("start_time >= ?")
        args.append(int(since))
    if until is not None:
        where.append("start_time < ?")
        args.append(int(until))
    # the policy's logs summed per key, then per trace and peer, then per entry of the trace
    sql = (
        "SELECT k.trace_id, k.reporter, "
        "CASE k.reporter WHEN 'dst' THEN k.source_namespace ELSE k.dest_namespace END, "
        "CASE k.reporter WHEN 'dst' THEN k.source_name_aggr ELSE k.dest_name_aggr END, "
        "sum(g.f), sum(g.p) FROM (SELECT key_id, sum(num_flows) AS f, sum(packets_in + packets_out) AS p "
        f"FROM flow_data WHERE {' AND '.join(where)} GROUP BY key_id) AS g "
        "JOIN flow_keys AS k ON k.id = g.key_id GROUP BY 1, 2, 3, 4"
    )
    sums: dict[tuple[str, int, str, str, str], list[int]] = {}
    for tid, rep, ns, name, conns, pkts in c.execute(sql, args):
        for rule, act in entries.get(tid, ()):
            acc = sums.setdefault((rep, rule, act, ns or "-", name or "-"), [0, 0])
            acc[0] += conns or 0
            acc[1] += pkts or 0
    out: dict[tuple[str, int], list[Peer]] = {}
    for (rep, rule, act, ns, name), (conns, pkts) in sums.items():
        direction = "ingress" if rep == "dst" else "egress" if rep == "src" else "forward"
        out.setdefault((direction, rule), []).append(Peer(ns, name, act, conns, pkts))
    for peers in out.values():
        peers.sort(key=lambda p: (-p.connections, -p.packets, p.label))
    return out


def policy_detail(
    conn: Conn,
    bp: BoardPolicy,
    since: int | None = None,
    until: int | None = None,
    *,
    tier_default: str | None = None,
    metrics: PolicyMetrics | None | str = "query",
    peers: bool = True,
    span: float | None = None,
) -> PolicyDetail:
    """The rules of a board policy with their metrics (pending ones for a staged policy).

    `metrics`: this policy's metrics if the caller already has them (None: no traffic);
    by default they are queried."""
    if isinstance(metrics, str):
        metrics = policy_metrics(conn, since, until, policies=[bp.key]).get(bp.key)
    kind = "pending" if bp.staged else "enforced"
    detail = PolicyDetail(bp, span_seconds(conn, since, until) if span is None else span)
    by_rule: dict[tuple[str, int], HitMetrics] = {}
    if metrics is not None:
        detail.totals = metrics.pending if bp.staged else metrics.enforced
        for (direction, index), rm in metrics.rules.items():
            by_rule[(direction, index)] = rm.pending if bp.staged else rm.enforced
    found = rule_peers(conn, bp.key, kind, since, until) if peers else {}
    used: set[tuple[str, int]] = set()

    def row(direction: str, index: int, action: str, text: str) -> RuleRow:
        r = RuleRow(direction, index, action, text)  # type: ignore[arg-type]
        hm = by_rule.get((direction, index))
        if hm is not None and hm.total.logs:
            r.metrics = hm
        ps = found.get((direction, index), [])
        r.peer_count = len({p.label for p in ps})
        r.peers = ps[:PEER_LIMIT]
        used.add((direction, index))
        return r

    if bp.policy is not None:
        for direction in ("ingress", "egress"):
            for i, rule in enumerate(bp.policy.rules(direction)):
                detail.rules(direction).append(row(direction, i, rule.action, describe_rule(rule)))
    for direction in ("ingress", "egress"):
        if bp.policy is None or direction.capitalize() in bp.policy.types or (direction, -1) in by_rule:
            eot = row(direction, -1, tier_default or "", end_of_tier_text(bp, tier_default))
            if not tier_default and eot.peers:
                eot.action = eot.peers[0].action.capitalize()
            detail.end_of_tier[direction] = eot
    for direction, index in sorted(set(by_rule) - used):
        if by_rule[(direction, index)].total.logs == 0:
            continue
        action = next((p.action for p in found.get((direction, index), [])), "")
        text = "Rule text unknown (no scenario)" if bp.policy is None else "Rule not in this policy any more"
        if index == -2:
            text = "Unknown rule (trace without a rule index)"
        r = row(direction, index, action.capitalize(), text)
        (detail.rules(direction) if bp.policy is None and direction in _REPORTER else detail.other).append(r)
    for direction in ("ingress", "egress"):
        detail.rules(direction).sort(key=lambda r: r.index)
    return detail


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def flows_filter(
    bp: BoardPolicy, direction: str | None = None, index: int | None = None, action: str = ""
) -> str:
    """The flow browser's filter (desktopviz.core.filterlang) for the flows a policy, or one
    of its rules, decided: `policy = "ns/tier.name" and trace = enforced`, and for a rule
    `(… and rule = 2 and policy_action = deny) and reporter = dst` (ingress rules are hit in
    `dst` logs, egress rules in `src` logs). Staged policies are found in the pending trace."""
    parts = [f"policy = {_quoted(bp.key)}", f"trace = {'pending' if bp.staged else 'enforced'}"]
    if index is None:
        return " and ".join(parts)
    parts.append(f"rule = {index}")
    act = action.lower()
    if act in ("allow", "deny", "pass"):
        parts.append(f"policy_action = {act}")
    text = "(" + " and ".join(parts) + ")"
    rep = _REPORTER.get(direction or "")
    return f"{text} and reporter = {rep}" if rep else text
