"""Policy Board metrics: per policy and per rule, from the indexed policy hits.

Counts come from the day and hour hit rollups (``hit_sums`` per group id, then joined with
``hit_groups``: the ``hit_rollup`` view, summed faster); the partial hours at the ends
of a range from the logs themselves, grouped by trace first (a few hundred distinct traces)
and then spread over each trace's entries (``trace_hits``), so no string parsing and no
per-entry rows. A hit in a ``src`` log is egress, in a ``dst`` log ingress; packets and
bytes in/out are the reporting endpoint's (Calico's ``traffic_direction`` inbound/outbound).
Enforced hits give the metrics; pending hits give the same metrics for staged policies
("what if staged policies were enforced").
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from desktopviz.core.queries_base import Conn, bounds, in_clause, segments
from desktopviz.core.store import COUNTERS, connection_of
from desktopviz.core.store_groups import HIT_GROUP

_CHUNK = 500


def raw_hit_rows(
    c: sqlite3.Connection, lo: int, hi: int, extra: str = "", eargs: Sequence[Any] = ()
) -> list[tuple[Any, ...]]:
    """(kind, policy, tier, reporter, rule_index, action, namespace, hits, *COUNTERS) of the
    logs with lo <= start_time < hi, like a GROUP BY over ``policy_hits``: the logs summed by
    (trace, reporter), then each sum given to every entry of its trace. ``extra`` is a
    condition on trace_hits columns."""
    inner = ", ".join(f"sum({k}) AS {k}" for k in COUNTERS)
    sums = ", ".join(f"sum(g.{k})" for k in COUNTERS)
    by_trace: dict[int, list[tuple[str, int, list[int]]]] = {}
    # the logs summed per key (flow_data by the time index), then per trace and reporter
    for tid, rep, n, *cnt in c.execute(
        f"SELECT k.trace_id, k.reporter, sum(g.n), {sums} FROM (SELECT key_id, count(*) AS n, {inner} "
        "FROM flow_data WHERE start_time >= ? AND start_time < ? GROUP BY key_id) AS g "
        "JOIN flow_keys AS k ON k.id = g.key_id WHERE k.trace_id IS NOT NULL GROUP BY k.trace_id, k.reporter",
        (lo, hi),
    ):
        by_trace.setdefault(tid, []).append((rep, n, [v or 0 for v in cnt]))
    out: dict[tuple[Any, ...], list[Any]] = {}
    ids = list(by_trace)
    for i in range(0, len(ids), _CHUNK):
        part = ids[i : i + _CHUNK]
        sql = (
            "SELECT trace_id, kind, policy, tier, rule_index, action, namespace FROM trace_hits "
            f"WHERE trace_id IN ({', '.join('?' * len(part))})" + (f" AND {extra}" if extra else "")
        )
        for tid, kind, pol, tier, rule, act, ns in c.execute(sql, [*part, *eargs]):
            for rep, n, cnt in by_trace[tid]:
                k = (kind, pol, tier, rep, rule, act)
                acc = out.get(k)
                if acc is None:
                    out[k] = [ns, n, *cnt]
                else:
                    if ns is not None and (acc[0] is None or ns > acc[0]):
                        acc[0] = ns
                    acc[1] += n
                    for j in range(len(cnt)):
                        acc[2 + j] += cnt[j]
    return [(*k, *v) for k, v in out.items()]


@dataclass
class Traffic:
    """Connections, packets and bytes of flow logs (in/out from the reporting endpoint)."""

    connections: int = 0
    packets_in: int = 0
    packets_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    logs: int = 0

    def add(self, hits: int, c: Sequence[int]) -> None:
        self.logs += hits
        self.connections += c[0]
        self.packets_in += c[1]
        self.packets_out += c[2]
        self.bytes_in += c[3]
        self.bytes_out += c[4]


@dataclass
class HitMetrics:
    """Traffic a policy (or one rule) decided: all of it, and split by the hit's action."""

    total: Traffic = field(default_factory=Traffic)
    allowed: Traffic = field(default_factory=Traffic)
    denied: Traffic = field(default_factory=Traffic)
    passed: Traffic = field(default_factory=Traffic)

    @property
    def connections(self) -> int:
        return self.total.connections

    def add(self, action: str, hits: int, c: Sequence[int]) -> None:
        self.total.add(hits, c)
        part = {"allow": self.allowed, "deny": self.denied, "pass": self.passed}.get(action)
        if part is not None:
            part.add(hits, c)


Direction = Literal["ingress", "egress", "forward"]
DIRECTION: dict[str, Direction] = {"src": "egress", "dst": "ingress", "fwd": "forward"}


@dataclass
class RuleMetrics:
    """One rule of a policy in one direction (rule_index -1 = the tier's end-of-tier action)."""

    direction: Direction
    rule_index: int
    enforced: HitMetrics = field(default_factory=HitMetrics)
    pending: HitMetrics = field(default_factory=HitMetrics)


@dataclass
class PolicyMetrics:
    """Metrics of one policy (by trace name) from enforced hits, and staged ones from pending hits."""

    policy: str
    tier: str
    namespace: str | None
    enforced: HitMetrics = field(default_factory=HitMetrics)
    pending: HitMetrics = field(default_factory=HitMetrics)
    rules: dict[tuple[Direction, int], RuleMetrics] = field(default_factory=dict)

    def rule(self, direction: Direction, rule_index: int) -> RuleMetrics | None:
        return self.rules.get((direction, rule_index))


def policy_metrics(
    conn: Conn, since: int | None = None, until: int | None = None, *, policies: Iterable[str] | None = None
) -> dict[str, PolicyMetrics]:
    """Per policy and per (direction, rule) counts over a time range. A hit in a ``src`` log
    is egress, in a ``dst`` log ingress; ``passed`` counts hits whose action is pass."""
    c = connection_of(conn)
    rng = bounds(c, since, until)
    out: dict[str, PolicyMetrics] = {}
    if rng is None:
        return out
    extra, eargs = ("", []) if policies is None else in_clause("policy", policies)
    gkeys = ", ".join(f"g.{k}" for k in HIT_GROUP)
    inner = ", ".join(f"sum({k}) AS {k}" for k in COUNTERS)
    gsums = ", ".join(f"sum(s.{k})" for k in COUNTERS)
    for level, lo, hi in segments(*rng):
        if level is None:
            rows: Iterable[Sequence[Any]] = raw_hit_rows(c, lo, hi, extra, eargs)
        else:  # summed per group id first (integers), then per key of the few groups
            where = "level = ? AND bucket >= ? AND bucket < ?"
            if extra:
                where += f" AND group_id IN (SELECT id FROM hit_groups WHERE {extra})"
            sql = (
                f"SELECT {gkeys}, max(s.namespace), sum(s.hits), {gsums} FROM (SELECT group_id, "
                f"max(namespace) AS namespace, sum(hits) AS hits, {inner} FROM hit_sums WHERE {where} "
                f"GROUP BY group_id) AS s JOIN hit_groups AS g ON g.id = s.group_id GROUP BY {gkeys}"
            )
            rows = c.execute(sql, [level, lo, hi, *eargs])
        for kind, pol, tier, rep, rule, act, ns, hits, *cnt in rows:
            pm = out.get(pol)
            if pm is None:
                pm = out[pol] = PolicyMetrics(pol, tier, ns)
            direction = DIRECTION.get(rep, "forward")
            rm = pm.rules.get((direction, rule))
            if rm is None:
                rm = pm.rules[(direction, rule)] = RuleMetrics(direction, rule)
            counters = [v or 0 for v in cnt]
            target_p, target_r = (pm.pending, rm.pending) if kind == "pending" else (pm.enforced, rm.enforced)
            target_p.add(act, hits, counters)
            target_r.add(act, hits, counters)
    return out
