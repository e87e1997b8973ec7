"""What-if: re-evaluate recorded flows against an edited policy set (calico.md §4.3 Preview).

:func:`evaluate_whatif` reads the flow logs of a time range (grouped in SQL by everything
that identifies their endpoints, port, protocol, reporter and action), resolves each end
(:mod:`desktopviz.core.whatif_resolve`), and evaluates it with two engines: the current
policies (*before*) and the edited ones (*after*). Per reporter, as Calico logs it: a `src`
row changes when the egress verdict at the source changes, a `dst` row when the ingress
verdict at the destination changes (or when the source now denies: the packet would never
get there). A `src` row denied before and allowed after has no `dst` row to tell the
destination's verdict: it is evaluated fully and marked `derived`.

A row is **uncertain**, never guessed, when the record does not decide it: pods of one
aggregated name that get different verdicts, members whose labels are unknown where a
changed policy reads them, an aggregated-away IP inside a range that a changed policy's
nets split, a destination port aggregated away (level 3) when a changed policy matches
ports, an endpoint the scenario does not know.

:func:`whatif_aggregates` gives the Flow Visualizer's aggregates (the same dataclass as
:func:`desktopviz.core.queries.flow_aggregates`) as they would be, with `changed` and
`uncertain` markers (module :mod:`desktopviz.core.whatif_aggregate`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from desktopviz.core.model import Cluster, Policy
from desktopviz.core.policy_edit import PolicySetState, delta
from desktopviz.core.policy_text import describe_rule
from desktopviz.core.selector import SelectorError, parse_selector
from desktopviz.core.store import FlowStore, connection_of
from desktopviz.core.verdict import SideResult, Verdict
from desktopviz.core.whatif_resolve import CALICO_PREFIX, Resolved, Resolver, Side, side_of, splits

GROUP_COLUMNS = (
    "source_type",
    "source_namespace",
    "source_name",
    "source_name_aggr",
    "source_ip",
    "source_labels",
    "dest_type",
    "dest_namespace",
    "dest_name",
    "dest_name_aggr",
    "dest_ip",
    "dest_labels",
    "dest_domains",
    "dest_port",
    "proto",
    "reporter",
    "action",
)
SUMS = ("num_flows", "packets_in", "packets_out", "bytes_in", "bytes_out")
_PROTO = {"tcp": "TCP", "udp": "UDP", "icmp": "ICMP", "icmp6": "ICMPv6", "sctp": "SCTP", "udplite": "UDPLite"}


@dataclass
class FlowChange:
    """One group of flow logs (same ends, port, protocol, reporter, recorded action) and its
    verdict before and after the edit at that reporter."""

    source: str  # namespace/name_aggr
    dest: str
    port: int | None
    proto: str
    reporter: str
    recorded: str  # the action the logs hold
    before: str  # this reporter's verdict with the current policies
    after: str  # … with the edited policies
    rule: str = ""  # the trace entry that now decides (index|tier|policy|action|rule)
    rule_text: str = ""  # that rule as a sentence
    uncertain: bool = False
    reason: str = ""  # why uncertain, or a note (derived, denied at source now)
    derived: bool = False  # the destination's verdict was computed, not recorded
    src_denies: bool = False  # a dst row whose source now denies (it would not be logged)
    final_before: str = ""  # the connection's verdict (both sides)
    final_after: str = ""
    logs: int = 0
    num_flows: int = 0
    packets_in: int = 0
    packets_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    start_time: int = 0
    end_time: int = 0
    src_side: Side | None = field(default=None, repr=False)
    dst_side: Side | None = field(default=None, repr=False)

    @property
    def changed(self) -> bool:
        return not self.uncertain and self.before != self.after

    @property
    def direction(self) -> str:
        return f"{self.before} → {self.after}"

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "dest": self.dest,
            "port": self.port,
            "proto": self.proto,
            "reporter": self.reporter,
            "before": self.before,
            "after": self.after,
            "rule": self.rule,
            "uncertain": self.uncertain,
            "reason": self.reason,
            "num_flows": self.num_flows,
            "logs": self.logs,
        }


@dataclass
class WhatIfResult:
    """Every evaluated group; `changes` are the certain verdict changes."""

    rows: list[FlowChange]
    since: int | None = None
    until: int | None = None
    changed_keys: list[str] = field(default_factory=list)  # policies the edit touched

    @property
    def changes(self) -> list[FlowChange]:
        return [r for r in self.rows if r.changed]

    @property
    def uncertain(self) -> list[FlowChange]:
        return [r for r in self.rows if r.uncertain]

    @property
    def allow_to_deny(self) -> int:
        return sum(1 for r in self.changes if r.before == "allow")

    @property
    def deny_to_allow(self) -> int:
        return sum(1 for r in self.changes if r.before == "deny")

    def groups(self) -> dict[tuple[str, str], list[FlowChange]]:
        """Changed and uncertain rows grouped by (source, destination)."""
        out: dict[tuple[str, str], list[FlowChange]] = {}
        for r in self.rows:
            if r.changed or r.uncertain:
                out.setdefault((r.source, r.dest), []).append(r)
        return out

    def to_json(self) -> dict[str, Any]:
        listed = [r for r in self.rows if r.changed or r.uncertain]
        return {
            "changed": len(self.changes),
            "allow_to_deny": self.allow_to_deny,
            "deny_to_allow": self.deny_to_allow,
            "uncertain": len(self.uncertain),
            "evaluated": len(self.rows),
            "since": self.since,
            "until": self.until,
            "policies": self.changed_keys,
            "flows": [r.to_json() for r in listed],
        }


# -- what the edit touches -------------------------------------------------------------------
@dataclass
class _Touch:
    label_keys: set[str] = field(default_factory=set)
    nets: list[Any] = field(default_factory=list)
    ports: bool = False
    service_accounts: bool = False


def _keys_of(text: str | None, out: set[str]) -> None:
    if not text:
        return
    try:
        out.update(parse_selector(text).label_keys())
    except SelectorError:
        pass


def _touch(policies: Iterable[Policy]) -> _Touch:
    t = _Touch()
    for p in policies:
        _keys_of(p.selector, t.label_keys)
        if p.service_account_selector:
            t.service_accounts = True
        for rule in (*p.ingress, *p.egress):
            for ent in (rule.source, rule.destination):
                _keys_of(ent.selector, t.label_keys)
                _keys_of(ent.not_selector, t.label_keys)
                for n in (*ent.nets, *ent.not_nets):
                    t.nets.append(ipaddress.ip_network(n, strict=False))
                if ent.ports or ent.not_ports:
                    t.ports = True
                if ent.service_account_names or ent.service_account_selector:
                    t.service_accounts = True
    return t


def _changed_policies(before: PolicySetState, after: PolicySetState) -> tuple[list[Policy], list[str]]:
    d = delta(before, after)
    touched = {t.name for t in d.tiers} | set(d.removed_tiers)
    pols = [*d.applied, *(before.policies[k] for k in d.removed if k in before.policies)]
    pols += [before.policies[p.key] for p in d.applied if p.key in before.policies]
    pols += [p for p in after.policies.values() if p.tier in touched]
    keys = sorted({p.key for p in d.applied} | set(d.removed))
    return pols, keys


# -- evaluation -------------------------------------------------------------------------------
def _copy(cluster: Cluster) -> Cluster:
    import copy

    out = copy.copy(cluster)
    for attr in ("namespaces", "service_accounts", "workloads", "pods", "services", "network_sets"):
        setattr(out, attr, dict(getattr(cluster, attr)))
    out.host_endpoints = dict(cluster.host_endpoints)
    out.tiers = dict(cluster.tiers)
    out.policies = dict(cluster.policies)
    return out


def _seen_pods(conn: Any) -> list[tuple[str, str, str, Any, Any]]:
    sql = (
        "SELECT DISTINCT {p}_namespace, {p}_name, {p}_name_aggr, {p}_labels, {p}_ip FROM flow_logs "
        "WHERE {p}_type = 'wep' AND {p}_name != '-'"
    )
    rows = list(conn.execute(sql.format(p="source")))
    rows += list(conn.execute(sql.format(p="dest")))
    return rows


def _groups(conn: Any, since: int | None, until: int | None) -> list[dict[str, Any]]:
    where, args = [], []
    if since is not None:
        where.append("start_time >= ?")
        args.append(since)
    if until is not None:
        where.append("start_time < ?")
        args.append(until)
    cols = ", ".join(GROUP_COLUMNS)
    sums = ", ".join(f"sum({c})" for c in SUMS)
    sql = (
        f"SELECT {cols}, count(*), {sums}, min(start_time), max(end_time) FROM flow_logs "
        f"{'WHERE ' + ' AND '.join(where) if where else ''} GROUP BY {cols}"
    )
    names = [*GROUP_COLUMNS, "logs", *SUMS, "start_time", "end_time"]
    return [dict(zip(names, row, strict=True)) for row in conn.execute(sql, args)]


def _proto(text: str) -> str | int:
    t = (text or "").lower()
    if t in _PROTO:
        return _PROTO[t]
    return int(t) if t.isdigit() else t.upper()


def _side_action(v: Verdict, reporter: str) -> str:
    if reporter == "src":
        return v.egress.action if v.egress is not None else "allow"
    if v.egress is not None and v.egress.action == "deny":
        return "deny"
    return v.ingress.action if v.ingress is not None else "allow"


def _decider(v: Verdict, reporter: str) -> SideResult | None:
    if reporter == "src" or (v.egress is not None and v.egress.action == "deny"):
        return v.egress
    return v.ingress


class _Evaluator:
    def __init__(self, base: Cluster, before: PolicySetState, after: PolicySetState) -> None:
        from desktopviz.core.policy import PolicyEngine

        c1, c2 = _copy(base), _copy(base)
        c1.tiers, c1.policies = dict(before.tiers), dict(before.policies)
        c2.tiers, c2.policies = dict(after.tiers), dict(after.policies)
        self.before = PolicyEngine(c1)
        self.after = PolicyEngine(c2)
        self._known: set[str] = set()
        self.policies = after.policies

    def learn(self, pods: Iterable[Any]) -> None:
        for pod in pods:
            if pod.key not in self._known:
                self._known.add(pod.key)
                self.before.add_pod(pod)
                self.after.add_pod(pod)

    def rule_text(self, side: SideResult | None) -> tuple[str, str]:
        if side is None or not side.trace:
            return "", ""
        hit = side.trace[-1]
        pol = self.policies.get(hit.name)
        text = ""
        if pol is not None and hit.rule_index >= 0:
            rules = pol.rules(side.direction)
            if hit.rule_index < len(rules):
                text = describe_rule(rules[hit.rule_index])
        elif hit.rule_index == -1:
            text = f"end of tier {hit.tier}: {hit.action}"
        return str(hit), text


def _uncertainty(
    row: dict[str, Any], src: Resolved, dst: Resolved, touch: _Touch, sa_unknown: set[str] | None = None
) -> str:
    for end, res in (("source", src), ("destination", dst)):
        if res.unknown:
            return res.unknown
        if (
            touch.service_accounts
            and sa_unknown
            and any(getattr(p, "key", None) in sa_unknown for p in res.endpoints)
        ):
            return (
                f"the {end}'s service account is not in its flow logs (Calico leaves "
                "projectcalico.org/* labels out) and a changed rule selects service accounts"
            )
        if res.partial_labels is not None:
            missing = {
                k
                for k in touch.label_keys
                if k not in res.partial_labels and not k.startswith((CALICO_PREFIX, "pcns.", "pcsa."))
            }
            if missing:
                return f"the {end}'s members may differ in {', '.join(sorted(missing))} (aggregated labels)"
        if res.region and touch.nets and splits(res.region, touch.nets):
            return f"the {end} address was aggregated away and a changed rule's nets split its range"
    if row["dest_port"] is None and touch.ports and str(row["proto"]).lower() in ("tcp", "udp", "sctp"):
        return "the destination port was aggregated away and a changed rule matches ports"
    return ""


def evaluate_whatif(
    conn: FlowStore | Any,
    base: Cluster,
    before: PolicySetState,
    after: PolicySetState,
    since: int | None = None,
    until: int | None = None,
) -> WhatIfResult:
    """Re-evaluate the flow logs with start_time in [since, until) under `after` instead of
    `before` (policy-set states; `base` supplies endpoints, namespaces and network sets)."""
    c = connection_of(conn)
    changed_pols, keys = _changed_policies(before, after)
    touch = _touch(changed_pols)
    ev = _Evaluator(base, before, after)
    nets = _touch([*before.policies.values(), *after.policies.values()]).nets
    resolver = Resolver(ev.before.cluster, ev.before.classify_ip, _seen_pods(c), nets)
    rows: list[FlowChange] = []
    for g in _groups(c, since, until):
        rows.append(_evaluate_group(g, ev, resolver, touch))
    rows.sort(key=lambda r: (not r.changed, not r.uncertain, r.source, r.dest, r.reporter, r.port or 0))
    return WhatIfResult(rows, since, until, keys)


def _evaluate_group(g: dict[str, Any], ev: _Evaluator, resolver: Resolver, touch: _Touch) -> FlowChange:
    s, d = side_of(g, "source"), side_of(g, "dest")
    fc = FlowChange(
        source=s.label,
        dest=d.label,
        port=g["dest_port"],
        proto=g["proto"],
        reporter=g["reporter"],
        recorded=g["action"],
        before=g["action"],
        after=g["action"],
        logs=g["logs"],
        start_time=g["start_time"],
        end_time=g["end_time"],
        src_side=s,
        dst_side=d,
        **{k: g[k] or 0 for k in SUMS},
    )
    rs, rd = resolver.resolve(s), resolver.resolve(d)
    reason = _uncertainty(g, rs, rd, touch, resolver.sa_unknown)
    if rs.unknown or rd.unknown:
        fc.uncertain, fc.reason = True, reason
        return fc
    ev.learn([*rs.synthetic, *rd.synthetic])
    outcomes: dict[tuple[str, str, str, str], tuple[Verdict, Verdict]] = {}
    proto, port = _proto(g["proto"]), g["dest_port"]
    for a in rs.endpoints:
        for b in rd.endpoints:
            try:
                vb = ev.before.evaluate(a, b, proto, port)
                va = ev.after.evaluate(a, b, proto, port)
            except ValueError as exc:
                fc.uncertain, fc.reason = True, f"cannot evaluate: {exc}"
                return fc
            rep = g["reporter"]
            outcomes.setdefault(
                (_side_action(vb, rep), _side_action(va, rep), vb.action, va.action), (vb, va)
            )
    # Candidates the record rules out (today's policies give another verdict than it holds)
    # are dropped: the real endpoints behind an aggregated row are among the others.
    consistent = {k: v for k, v in outcomes.items() if k[0] == fc.recorded} or outcomes
    first = sorted(consistent)[0]
    vb, va = consistent[first]
    fc.before, fc.after, fc.final_before, fc.final_after = first
    fc.rule, fc.rule_text = ev.rule_text(_decider(va, fc.reporter))
    if len(consistent) > 1:
        fc.uncertain, fc.reason = True, f"members of {s.label} or {d.label} get different verdicts"
    elif reason:  # the part the record does not tell is what the edit reads
        fc.uncertain, fc.reason = True, reason
    if fc.reporter == "src" and fc.before == "deny" and fc.after == "allow":
        fc.derived = True
        note = f"no dst log was recorded: the destination's verdict ({fc.final_after}) is computed"
        fc.reason = f"{fc.reason}; {note}" if fc.reason else note
    elif fc.reporter == "dst" and va.egress is not None and va.egress.action == "deny":
        fc.src_denies = True
        note = "now denied at the source: the destination would not log it"
        fc.reason = f"{fc.reason}; {note}" if fc.reason else note
    return fc


__all__ = ["FlowChange", "WhatIfResult", "evaluate_whatif"]
