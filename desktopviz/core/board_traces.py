"""The Policy Board of a stored or imported run: tiers and policies as found in the traces.

Without the scenario the store only knows trace entries (`idx|tier|name|action|rule`).
Tiers are ordered by where they come in traces (a tier seen before another in any trace is
evaluated first: a topological order of those pairs, ties by mean position); policies inside
a tier alphabetically (a trace names one policy per tier, so their order cannot be known).
The endpoints a policy selects are approximated by the endpoints seen in its hits (the
reporting side: the source of a ``src`` log, the destination of a ``dst`` log).
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from desktopviz.core.board import PROFILE_TIER, BoardLayout, BoardTier, policy_from_trace
from desktopviz.core.queries import Conn
from desktopviz.core.store import connection_of

TRACE_SAMPLE = 5_000  # most recent flow logs whose traces order the tiers
ENDPOINT_SAMPLE = 50_000  # most recent flow logs read for endpoints seen per policy
# the newest `?` flow logs, by rowid (with NOT INDEXED on flow_data: otherwise SQLite reads the
# whole key index for a GROUP BY or DISTINCT over key_id)
_RECENT_ROWS = "id > (SELECT coalesce(max(id), 0) FROM flow_data) - ?"


def trace_policies(conn: Conn) -> list[tuple[str, str]]:
    """Every (tier, trace name) in the store's policy hits, profiles included."""
    c = connection_of(conn)
    # every hit group has sums (written in the same transaction): the groups, not the sums
    rows = c.execute("SELECT DISTINCT tier, policy FROM hit_groups").fetchall()
    if not rows:  # a store written before rollups existed
        rows = c.execute("SELECT DISTINCT tier, policy FROM trace_hits").fetchall()
    return [(str(t), str(p)) for t, p in rows]


def tier_rank(conn: Conn, sample: int = TRACE_SAMPLE) -> dict[str, float]:
    """Tier name -> rank (0 = evaluated first) from the order tiers appear in recent traces."""
    c = connection_of(conn)
    # the traces of the most recent logs, each counted as often as logs carry it
    weight = dict(
        c.execute(
            "SELECT k.trace_id, sum(g.n) FROM (SELECT key_id, count(*) AS n FROM flow_data NOT INDEXED "
            f"WHERE {_RECENT_ROWS} GROUP BY key_id) AS g "
            "JOIN flow_keys AS k ON k.id = g.key_id WHERE k.trace_id IS NOT NULL GROUP BY k.trace_id",
            (sample,),
        ).fetchall()
    )
    traces: dict[tuple[int, str], list[tuple[int, str]]] = defaultdict(list)
    for tid, kind, idx, tier in _hits_of(c, list(weight), "trace_id, kind, idx, tier"):
        traces[(tid, kind)].append((idx, tier))
    before: dict[str, set[str]] = defaultdict(set)
    pos_sum: dict[str, float] = defaultdict(float)
    pos_n: dict[str, int] = defaultdict(int)
    for (tid, _), entries in traces.items():
        n = weight[tid]
        entries.sort()
        names = [t for _, t in entries]
        for i, t in enumerate(names):
            pos_sum[t] += entries[i][0] * n
            pos_n[t] += n
            for later in names[i + 1 :]:
                if later != t:
                    before[t].add(later)
    tiers = set(pos_n)
    mean = {t: pos_sum[t] / pos_n[t] for t in tiers}
    indeg = {t: 0 for t in tiers}
    for t in tiers:
        for u in before[t]:
            if t not in before[u]:  # ignore contradictions (traces from different policy sets)
                indeg[u] += 1
    order: list[str] = []
    left = set(tiers)
    while left:
        ready = [t for t in left if indeg[t] == 0] or list(left)  # a cycle: break it by position
        nxt = min(ready, key=lambda t: (t == PROFILE_TIER, t == "default", mean[t], t))
        order.append(nxt)
        left.discard(nxt)
        for u in before[nxt]:
            if u in left and nxt not in before[u]:
                indeg[u] -= 1
    return {t: float(i) for i, t in enumerate(order)}


def observed_endpoints(
    conn: Conn, since: int | None = None, until: int | None = None, sample: int = ENDPOINT_SAMPLE
) -> dict[str, dict[str, dict[str, str]]]:
    """Policy trace name -> {endpoint "namespace/name_aggr" -> labels} seen in its recent hits."""
    c = connection_of(conn)
    where = [_RECENT_ROWS]
    args: list[Any] = [sample]
    if since is not None:
        where.append("start_time >= ?")
        args.append(int(since))
    if until is not None:
        where.append("start_time < ?")
        args.append(int(until))
    # the recent logs' keys (few), grouped by trace and endpoints, then each trace's policies
    sql = (
        "SELECT k.trace_id, k.reporter, k.source_namespace, k.source_name_aggr, k.dest_namespace, "
        "k.dest_name_aggr, max(k.source_labels_id), max(k.dest_labels_id) FROM flow_keys AS k "
        f"WHERE k.id IN (SELECT DISTINCT key_id FROM flow_data NOT INDEXED WHERE {' AND '.join(where)}) "
        "AND k.trace_id IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6"
    )
    groups = c.execute(sql, args).fetchall()
    policies: dict[int, set[str]] = defaultdict(set)
    for tid, pol in _hits_of(c, list({g[0] for g in groups}), "trace_id, policy"):
        policies[tid].add(pol)
    label_ids = {lid for g in groups for lid in g[6:] if lid is not None}
    texts = dict(_rows_in(c, "SELECT id, labels FROM label_sets", "id", list(label_ids)))
    out: dict[str, dict[str, dict[str, str]]] = defaultdict(dict)
    for tid, rep, sns, sname, dns, dname, slab, dlab in groups:
        ns, name, lab = (sns, sname, slab) if rep == "src" else (dns, dname, dlab)
        labels = _labels(texts.get(lab))
        for pol in policies.get(tid, ()):
            out[pol][f"{ns}/{name}"] = labels
    return dict(out)


def _rows_in(c: Any, sql: str, column: str, ids: list[int], chunk: int = 500) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` whose ``column`` is one of ``ids`` (in chunks of bound parameters)."""
    out: list[tuple[Any, ...]] = []
    for i in range(0, len(ids), chunk):
        part = ids[i : i + chunk]
        glue = " AND " if " WHERE " in sql else " WHERE "
        out += [tuple(r) for r in c.execute(f"{sql}{glue}{column} IN ({', '.join('?' * len(part))})", part)]
    return out


def _hits_of(c: Any, trace_ids: list[int], cols: str) -> list[tuple[Any, ...]]:
    """Columns of the trace_hits rows of these traces."""
    return _rows_in(c, f"SELECT {cols} FROM trace_hits", "trace_id", trace_ids)


def _labels(text: Any) -> dict[str, str]:
    if not text:
        return {}
    try:
        items = json.loads(text).get("labels") or []
    except (ValueError, AttributeError):
        return {}
    out: dict[str, str] = {}
    for item in items:
        k, _, v = str(item).partition("=")
        out[k] = v
    return out


def layout_from_store(
    conn: Conn, since: int | None = None, until: int | None = None, *, endpoints: bool = True
) -> BoardLayout:
    """The board of a run without its scenario: tiers and policies found in the traces."""
    found = trace_policies(conn)
    rank = tier_rank(conn) if found else {}
    layout = BoardLayout(source="store")
    by_tier: dict[str, list[str]] = defaultdict(list)
    for tier, key in found:
        if tier != PROFILE_TIER:
            by_tier[tier].append(key)
    for tier in sorted(by_tier, key=lambda t: (rank.get(t, 1e9), t == "default", t)):
        bt = BoardTier(tier)
        for i, key in enumerate(sorted(by_tier[tier])):
            bp = policy_from_trace(tier, key)
            bp.position = i
            bt.policies.append(bp)
        layout.tiers.append(bt)
    if endpoints:
        seen = observed_endpoints(conn, since, until)
        for bp in layout.policies():
            eps = seen.get(bp.key, {})
            bp.endpoints = len(eps)
            bp.endpoint_keys = frozenset(eps)
            for k, labels in eps.items():
                layout.labels.setdefault(k, labels)
    return layout
