"""What the Flow Visualizer reads and computes off the GUI thread: flows of the store for a
time range and top-bar filter, the right-hand panel's filters, the traffic tables, and the
policies of an endpoint or a flow. No widgets here; the functions run in the worker pool."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktopviz.core.flowgraph import (
    Flow,
    NodeKey,
    endpoint_label,
    flow_from_row,
    merge_flows,
    namespace_label,
)

ENDPOINT_TYPES = ("net", "ns", "hep", "wep")  # Network, Network Set, HEP, WEP
TYPE_NAMES = {"net": "Network", "ns": "Network Set", "hep": "HEP", "wep": "WEP"}


@dataclass(frozen=True)
class QueryState:
    """Top filter bar: time range and endpoint filters, as the store query takes them.

    ``last`` (seconds) is a range relative to the newest flow log in the store (the simulated
    clock's "now"); otherwise ``since``/``until`` are absolute Unix seconds (None = open)."""

    last: int | None = 15 * 60
    since: int | None = None
    until: int | None = None
    src_selector: str = ""
    dst_selector: str = ""
    src_types: tuple[str, ...] = ENDPOINT_TYPES
    dst_types: tuple[str, ...] = ENDPOINT_TYPES


@dataclass
class Loaded:
    flows: list[Flow]
    since: int | None
    until: int | None
    seconds: float  # length of the range, for per-second rates
    data_end: int | None = None  # newest end_time in the store (the clock presets count back from)


def load_flows(path: str | Path, q: QueryState) -> Loaded:
    """Flows of the store for the query (one read-only connection, opened in the calling thread)."""
    from desktopviz.core.queries import flow_aggregates
    from desktopviz.core.store import FlowStore

    store = FlowStore(path, create=False, readonly=True)
    try:
        tr = store.time_range()
        if tr is None:
            return Loaded([], q.since, q.until, 1.0, None)
        since, until = (tr[1] - q.last, None) if q.last is not None else (q.since, q.until)
        rows = flow_aggregates(
            store,
            since,
            until,
            source_labels=q.src_selector or None,
            dest_labels=q.dst_selector or None,
            source_types=None if set(q.src_types) >= set(ENDPOINT_TYPES) else list(q.src_types),
            dest_types=None if set(q.dst_types) >= set(ENDPOINT_TYPES) else list(q.dst_types),
        )
        lo = max(since, tr[0]) if since is not None else tr[0]
        hi = min(until, tr[1]) if until is not None else tr[1]
        flows = merge_flows(flow_from_row(r) for r in rows)
        return Loaded(flows, since, until, float(max(1, hi - lo)), tr[1])
    finally:
        store.close()


@dataclass(frozen=True)
class Focus:
    """What the picture is restricted to (zoom or a panel filter)."""

    kind: str  # "namespace" | "name" | "flow"
    namespace: str
    name: str = ""
    flow: tuple[NodeKey, NodeKey, str] | None = None

    def keeps(self, f: Flow) -> bool:
        if self.kind == "namespace":
            return self.namespace in (f.src_namespace, f.dst_namespace)
        if self.kind == "name":
            return (self.namespace, self.name) in (f.src, f.dst)
        return (f.src, f.dst, f.status) == self.flow


def view_filter(flows: Sequence[Flow], status: str = "any", focus: Sequence[Focus] = ()) -> list[Flow]:
    """Flows kept by the panel's Status filter and by every zoom/focus level."""
    out = []
    for f in flows:
        if status == "allowed" and f.status != "allowed":
            continue
        if status == "denied" and f.status != "denied":
            continue
        if all(z.keeps(f) for z in focus):
            out.append(f)
    return out


@dataclass
class TrafficRow:
    label: str
    namespace: str
    name: str | None
    cps: float
    pps: float
    bps: float
    children: list[TrafficRow] = field(default_factory=list)
    _texts: tuple[str, str, str] | None = None

    def texts(self) -> tuple[str, str, str]:
        """CPS, PPS and BPS as the table shows them (formatted once, in the worker)."""
        if self._texts is None:
            self._texts = (fmt_rate(self.cps), fmt_rate(self.pps), fmt_rate(self.bps))
        return self._texts


def traffic_tables(
    flows: Sequence[Flow], seconds: float, by_name: bool, limit: int = 200
) -> dict[str, list[TrafficRow]]:
    """Denied and Allowed Traffic tables: per source namespace (or name) with its peers
    indented, as connections, packets and bytes per second over the range."""
    out: dict[str, list[TrafficRow]] = {}
    s = max(seconds, 1e-9)
    for status in ("denied", "allowed"):
        groups: dict[Any, dict[Any, list[float]]] = {}
        for f in flows:
            if f.status != status:
                continue
            src: Any = f.src if by_name else f.src_namespace
            dst: Any = f.dst if by_name else f.dst_namespace
            acc = groups.setdefault(src, {}).setdefault(dst, [0.0, 0.0, 0.0])
            acc[0] += f.connections
            acc[1] += f.packets
            acc[2] += f.bytes
        rows = []
        for src, peers in groups.items():
            kids = [_row(p, v, s, by_name) for p, v in peers.items()]
            kids.sort(key=lambda r: (-r.cps, -r.bps, r.label))
            tot = [sum(v[i] for v in peers.values()) for i in range(3)]
            row = _row(src, tot, s, by_name)
            row.children = kids
            rows.append(row)
        rows.sort(key=lambda r: r.label)
        out[status] = rows[:limit]
        for r in out[status]:
            r.texts()
            for k in r.children:
                k.texts()
    return out


def _row(key: Any, v: Sequence[float], s: float, by_name: bool) -> TrafficRow:
    if by_name:
        ns, name = key
        return TrafficRow(endpoint_label(ns, name), ns, name, v[0] / s, v[1] / s, v[2] / s)
    return TrafficRow(namespace_label(key), key, None, v[0] / s, v[1] / s, v[2] / s)


def fmt_rate(v: float) -> str:
    """3 significant digits with k/M suffixes, as in Calico's tables (0.416, 2.46, 19.9k)."""
    for unit, div in (("M", 1e6), ("k", 1e3)):
        if abs(v) >= div:
            return f"{v / div:.3g}{unit}"
    return "0" if v == 0 else f"{v:.3g}"


def flow_policies(path: str | Path, flow: Flow, since: int | None, until: int | None) -> list[str]:
    """Trace entries (``index|tier|policy|action|rule`` and the reporter) that evaluated a
    flow's logs in the range: the distinct (reporter, trace) pairs of its logs, then those
    traces' entries (trace_hits)."""
    from desktopviz.core.store import FlowStore

    store = FlowStore(path, create=False, readonly=True)
    try:
        # the flow's keys (few) that have logs in the range (the key index), then their traces
        logs = ["d.key_id = f.id"]
        args: list[Any] = [flow.src_name, flow.src_namespace, flow.dst_name, flow.dst_namespace, flow.action]
        if since is not None:
            logs.append("d.start_time >= ?")
            args.append(since)
        if until is not None:
            logs.append("d.start_time < ?")
            args.append(until)
        sql = (
            "SELECT DISTINCT f.reporter, h.kind, h.idx, h.tier, h.policy, h.action, h.rule_index "
            "FROM flow_keys f JOIN trace_hits h ON h.trace_id = f.trace_id "
            "WHERE f.source_name_aggr = ? AND f.source_namespace = ? AND f.dest_name_aggr = ? "
            "AND f.dest_namespace = ? AND f.action = ? "
            f"AND EXISTS (SELECT 1 FROM flow_data AS d WHERE {' AND '.join(logs)}) "
            "ORDER BY f.reporter DESC, h.kind, h.idx LIMIT 200"
        )
        return [
            f"{rep} {kind}: {idx}|{tier}|{pol}|{act}|{rule}"
            for rep, kind, idx, tier, pol, act, rule in store.conn.execute(sql, args)
        ]
    finally:
        store.close()


def policy_of_trace(entry: str) -> str:
    """The policy trace name in an entry made by :func:`flow_policies`."""
    parts = entry.split(": ", 1)[-1].split("|")
    return parts[2] if len(parts) > 2 else entry


def endpoint_policies(engine: Any, namespace: str, name: str) -> list[Any]:
    """Policies (in evaluation order, ingress then egress, no repeats) that select an endpoint
    with this aggregated name: a pod whose generateName + "*" is the name, or a host endpoint
    on the host of that name."""
    cluster = getattr(engine, "cluster", None)
    if cluster is None:
        return []
    ep: Any = None
    for pod in cluster.pods.values():
        gen = pod.generate_name or pod.name
        if pod.namespace == namespace and (f"{gen}*" == name or pod.name == name):
            ep = pod
            break
    if ep is None and namespace in ("-", ""):
        ep = next((h for h in cluster.host_endpoints.values() if name in (h.node, h.name)), None)
    if ep is None:
        return []
    seen: dict[str, Any] = {}
    for direction in ("ingress", "egress"):
        for p in engine.policies_selecting(ep, direction):
            seen.setdefault(p.trace_name, p)
    return list(seen.values())
