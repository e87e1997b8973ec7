"""Read-only queries the views make on a flow store; each returns plain dataclasses.

Time ranges: a flow log belongs to the time of its ``start_time`` (the start of its flush
interval); ``since``/``until`` select ``since <= start_time < until`` (None = open end).
Ranges are cut into whole days and hours, read from the store's rollup tables, and the
partial hours at the ends, read from the flow logs themselves (:func:`segments`), so an
"all time" aggregate over a million logs reads a few thousand rows.

Counting a connection seen by two reporters (:func:`flow_aggregates`): an allowed connection
between two Calico endpoints is logged twice, by the source (``src``, egress) and by the
destination (``dst``, ingress). Its volume is taken from the reporter nearest the
destination that logged the pair of endpoints: ``dst`` rows when the pair has any ``dst``
row in the range, otherwise ``src`` rows (destination not a Calico endpoint, e.g. ``pub``),
otherwise ``fwd`` rows. So a connection allowed by the source but denied by the destination
counts once, as denied by the destination, and never also as allowed. Denials are disjoint
by reporter (a packet denied at the source never reaches the destination), so denied volume
is the sum of ``src`` and ``dst`` deny rows. Packets and bytes are oriented from the
source's side: ``*_out`` = source → destination, ``*_in`` = replies (``dst`` rows have
in/out swapped to match).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from desktopviz.core.flowlog import FlowLog, parse_labels_field
from desktopviz.core.queries_base import (
    ORDERABLE,
    Conn,
    QueryError,
    bounds,
    build_where,
    in_clause,
    keyed,
    order_clause,
    segments,
    table_for,
)
from desktopviz.core.queries_pages import count_condition, ids_sql, rows_by_id
from desktopviz.core.queries_policy import HitMetrics, PolicyMetrics, RuleMetrics, Traffic, policy_metrics
from desktopviz.core.queries_series import TimeBucket, time_series
from desktopviz.core.store import (
    COLUMNS,
    COUNTERS,
    FLOW_KEY,
    connection_of,
    record_from_row,
)

DISTINCT_COLUMNS = frozenset(
    {
        *FLOW_KEY,
        "proto",
        "dest_port",
        "source_name",
        "dest_name",
        "dest_service_name",
        "dest_service_namespace",
        "dest_service_port",
        "host",
        "process_name",
        "source_ip",
        "dest_ip",
    }
)


# -- Flow Visualizer -------------------------------------------------------------------------
@dataclass
class FlowAggregate:
    """Traffic between two aggregated endpoints with one action over a time range.

    Volume as seen from the source (``*_out`` = towards the destination). ``denied_by`` is
    ``"dst"`` when every denial was at the destination ("denied by destination"), ``"src"``
    when some were at the source, None for allowed flows."""

    source_namespace: str
    source_name_aggr: str
    source_type: str
    dest_namespace: str
    dest_name_aggr: str
    dest_type: str
    action: str
    num_flows: int = 0
    packets_out: int = 0
    packets_in: int = 0
    bytes_out: int = 0
    bytes_in: int = 0
    start_time: int = 0
    end_time: int = 0
    logs: int = 0
    reporter: str = ""  # the reporter(s) the volume came from, e.g. "dst" or "src+dst"
    denied_by: Literal["src", "dst", "fwd"] | None = None
    denied_at_src: int = 0  # connections denied by the source's egress policy
    denied_at_dst: int = 0  # connections denied by the destination's ingress policy

    @property
    def connections(self) -> int:
        return self.num_flows

    @property
    def packets(self) -> int:
        return self.packets_in + self.packets_out

    @property
    def bytes(self) -> int:
        return self.bytes_in + self.bytes_out


def _label_filter(conn: sqlite3.Connection, selector: str) -> tuple[list[int], list[str], bool]:
    """Label sets matching a Calico selector: (ids, JSON texts, whether 'no labels' matches)."""
    from desktopviz.core.selector import parse_selector

    sel = parse_selector(selector)
    ids, texts = [], []
    for lid, text in conn.execute("SELECT id, labels FROM label_sets"):
        if sel.matches(parse_labels_field(json.loads(text))):
            ids.append(lid)
            texts.append(text)
    return ids, texts, sel.matches({})


def _flow_filters(conn: sqlite3.Connection, raw: bool, **f: Any) -> tuple[list[str], list[Any]]:
    parts: list[str] = []
    args: list[Any] = []

    def add(sql: str, vals: list[Any]) -> None:
        parts.append(sql)
        args.extend(vals)

    if f["namespaces"] is not None:
        s1, v1 = in_clause("source_namespace", f["namespaces"])
        s2, v2 = in_clause("dest_namespace", f["namespaces"])
        add(f"({s1} OR {s2})", v1 + v2)
    if f["names"] is not None:
        s1, v1 = in_clause("source_name_aggr", f["names"])
        s2, v2 = in_clause("dest_name_aggr", f["names"])
        add(f"({s1} OR {s2})", v1 + v2)
    for side in ("source", "dest"):
        if f[f"{side}_types"] is not None:
            add(*in_clause(f"{side}_type", f[f"{side}_types"]))
        sel = f[f"{side}_labels"]
        if sel:
            ids, texts, empty = _label_filter(conn, sel)
            if raw:
                s, v = in_clause(f"{side}_labels_id", ids)
                add(f"({s} OR {side}_labels_id IS NULL)" if empty else s, v)
            else:
                add(*in_clause(f"{side}_labels_id", ids + ([0] if empty else [])))
    if f["reporter"] is not None:
        add("reporter = ?", [f["reporter"]])
    return parts, args


_SUMS = ("logs", *COUNTERS)
_INNER = (
    ", ".join(f"sum({k}) AS {k}" for k in _SUMS) + ", min(min_start) AS min_start, max(max_end) AS max_end"
)
_RAW_INNER = (
    "count(*) AS logs, "
    + ", ".join(f"sum({k}) AS {k}" for k in COUNTERS)
    + ", min(start_time) AS min_start, max(end_time) AS max_end"
)
_OUTER = ", ".join(f"sum(s.{k})" for k in _SUMS) + ", min(s.min_start), max(s.max_end)"
_GKEYS = ", ".join(f"g.{k}" for k in FLOW_KEY)
# per kind of segment: (table, its id column, the keys' table, the sums per id, the range)
_RAW = ("flow_data", "key_id", "flow_keys", _RAW_INNER, "start_time >= ? AND start_time < ?")
_ROLLUP = ("flow_sums", "group_id", "flow_groups", _INNER, "level = ? AND bucket >= ? AND bucket < ?")


def _segment_sql(raw: bool, parts: list[str]) -> str:
    """The flow sums per flow key of one segment (the range's arguments: lo, hi for the logs,
    level, lo, hi for a rollup; then the filters' arguments). Summed per id first (integers:
    the logs per key id, a rollup's sums per group id), then per flow key of the few keys or
    groups: over many buckets 3 times as fast as the ``flow_rollup`` view, and the filters (on
    key or group columns only) pick the ids first."""
    table, ids, keys, inner, where = _RAW if raw else _ROLLUP
    if parts:
        where += f" AND {ids} IN (SELECT id FROM {keys} WHERE {' AND '.join(parts)})"
    return (
        f"SELECT {_GKEYS}, {_OUTER} FROM (SELECT {ids}, {inner} FROM {table} WHERE {where} "
        f"GROUP BY {ids}) AS s JOIN {keys} AS g ON g.id = s.{ids} GROUP BY {_GKEYS}"
    )


def flow_aggregates(
    conn: Conn,
    since: int | None = None,
    until: int | None = None,
    *,
    namespaces: Iterable[str] | None = None,
    names: Iterable[str] | None = None,
    source_labels: str | None = None,
    dest_labels: str | None = None,
    source_types: Iterable[str] | None = None,
    dest_types: Iterable[str] | None = None,
    action: str | None = None,
    reporter: str | None = None,
) -> list[FlowAggregate]:
    """Flows grouped by endpoints and action for the Flow Visualizer (module doc: counting).

    ``namespaces``/``names`` keep flows with either end in them; label filters are Calico
    selectors on the source/destination labels; ``reporter`` keeps only that reporter's logs."""
    c = connection_of(conn)
    rng = bounds(c, since, until)
    if rng is None:
        return []
    filt = dict(
        namespaces=None if namespaces is None else list(namespaces),
        names=None if names is None else list(names),
        source_labels=source_labels,
        dest_labels=dest_labels,
        source_types=None if source_types is None else list(source_types),
        dest_types=None if dest_types is None else list(dest_types),
        reporter=reporter,
    )
    pairs: dict[tuple[str, ...], dict[tuple[str, str], list[int]]] = {}
    for level, lo, hi in segments(*rng):
        parts, args = _flow_filters(c, level is None, **filt)
        sql = _segment_sql(level is None, parts)
        qargs = [lo, hi, *args] if level is None else [level, lo, hi, *args]
        for row in c.execute(sql, qargs):
            pk = tuple("-" if v is None else v for v in row[:6])
            acc = pairs.setdefault(pk, {}).get((row[6], row[7]))
            vals = list(row[8:])
            if acc is None:
                pairs[pk][(row[6], row[7])] = vals
            else:
                for j in range(6):
                    acc[j] += vals[j] or 0
                acc[6] = min(acc[6], vals[6])
                acc[7] = max(acc[7], vals[7])
    out: list[FlowAggregate] = []
    for pk, by in pairs.items():
        reps = {r for _, r in by}
        volume_rep = reporter or next((r for r in ("dst", "src", "fwd") if r in reps), None)
        for act in sorted({a for a, _ in by}):
            if action is not None and act != action:
                continue
            agg = FlowAggregate(*pk, act)  # type: ignore[arg-type]
            use = (
                [volume_rep] if act != "deny" or reporter else [r for r in ("src", "fwd", "dst") if r in reps]
            )
            used = []
            for rep in use:
                acc = by.get((act, rep))
                if acc is None:
                    continue
                used.append(rep)
                _add(agg, rep, acc)
                if act == "deny":
                    if rep == "src":
                        agg.denied_at_src += acc[1] or 0
                    elif rep == "dst":
                        agg.denied_at_dst += acc[1] or 0
                    agg.denied_by = agg.denied_by or rep  # type: ignore[assignment]
            if used:
                agg.reporter = "+".join(used)
                out.append(agg)
    out.sort(
        key=lambda a: (a.source_namespace, a.source_name_aggr, a.dest_namespace, a.dest_name_aggr, a.action)
    )
    return out


def _add(agg: FlowAggregate, rep: str, acc: list[int]) -> None:
    logs, nf, pin, pout, bin_, bout, lo, hi = (v or 0 for v in acc)
    if rep == "dst":  # the destination's "in" is the source's "out"
        pin, pout, bin_, bout = pout, pin, bout, bin_
    agg.logs += logs
    agg.num_flows += nf
    agg.packets_in += pin
    agg.packets_out += pout
    agg.bytes_in += bin_
    agg.bytes_out += bout
    agg.start_time = lo if not agg.start_time else min(agg.start_time, lo)
    agg.end_time = max(agg.end_time, hi)


# -- charts, browser, dropdowns --------------------------------------------------------------
@dataclass
class StoredFlowLog:
    """A flow log with its row id in the store."""

    id: int
    log: FlowLog


def flow_rows(
    conn: Conn,
    where_sql: str = "",
    params: Sequence[Any] = (),
    order_by: str = "start_time",
    descending: bool = True,
    limit: int = 100,
    offset: int = 0,
) -> list[StoredFlowLog]:
    """One page of flow logs for the browser. ``where_sql`` is a parameterised fragment over
    flow_logs columns (from the filter language); ``order_by`` must be a column name."""
    c = connection_of(conn)
    cond = keyed(where_sql, hint=True)
    where, args = build_where(None, None, cond, params)
    order = order_clause(order_by, descending)
    relation = table_for(f"{cond} AND {order_by}")
    sql = ids_sql(c, where, args, order, relation, offset + limit)
    rows = rows_by_id(c, [r[0] for r in c.execute(sql, [*args, limit, offset])])
    return [StoredFlowLog(r[0], record_from_row(r[1:])) for r in rows]


def count_rows(conn: Conn, where_sql: str = "", params: Sequence[Any] = ()) -> int:
    c = connection_of(conn)
    cond = keyed(where_sql, hint=True)
    where, args = build_where(None, None, cond, params)
    where = count_condition(c, where, args)
    sql = f"SELECT count(*) FROM {table_for(cond)} {where}"
    return int(c.execute(sql, args).fetchone()[0])


def distinct_values(conn: Conn, column: str, limit: int = 200) -> list[Any]:
    """Distinct values of a column for filter dropdowns, sorted. The visualizer's key columns
    come from the day rollup (instant); the others scan the logs until ``limit`` are found."""
    if column not in DISTINCT_COLUMNS:
        raise QueryError(f"no value list for column {column!r}")
    c = connection_of(conn)
    if column in FLOW_KEY:  # every flow group has sums (written in the same transaction)
        sql = f"SELECT DISTINCT {column} FROM flow_groups ORDER BY 1 LIMIT ?"
        return [r[0] for r in c.execute(sql, (limit,))]
    # every column offered is a key column: the few keys that have logs, not the logs
    sql = (
        f"SELECT v FROM (SELECT DISTINCT {column} AS v FROM flow_keys AS k WHERE {column} IS NOT NULL "
        "AND EXISTS (SELECT 1 FROM flow_data AS d WHERE d.key_id = k.id) LIMIT ?) ORDER BY v"
    )
    return [r[0] for r in c.execute(sql, (limit,))]


def label_sets(conn: Conn) -> list[dict[str, str]]:
    """Every distinct label set in the store (for label-selector suggestions)."""
    rows = connection_of(conn).execute("SELECT labels FROM label_sets ORDER BY id")
    return [parse_labels_field(json.loads(t)) for (t,) in rows]


__all__ = [
    "ORDERABLE",
    "Conn",
    "build_where",
    "order_clause",
    "COLUMNS",
    "FlowAggregate",
    "HitMetrics",
    "PolicyMetrics",
    "QueryError",
    "RuleMetrics",
    "StoredFlowLog",
    "TimeBucket",
    "Traffic",
    "count_rows",
    "distinct_values",
    "flow_aggregates",
    "flow_rows",
    "label_sets",
    "policy_metrics",
    "segments",
    "time_series",
]
