"""Qt-free data access of the flow-log browser: page queries, counts, cell texts, indexes.

Pages are windows of ``PAGE`` rows in a fixed SQL order (``ORDER BY col, start_time, id`` on
an indexed column, all one direction), fetched without loading the table:

* from the top or the bottom of the result (the bottom reads the reverse order), and
* from an *anchor*: the sort key of a row already seen (the first row of every fetched page),
  using a row-value keyset condition ``(col, start_time, id) <= (?, ?, ?)``.

The nearest of these is used, so the OFFSET a page needs is its distance from the nearest
known row: scrolling to the end costs as little as the first page, and scrolling through the
middle costs the distance from the last page seen.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from desktopviz.core.flowlog import FIELDS, JSON_FIELDS
from desktopviz.core.queries_base import KEY_SET, table_for
from desktopviz.core.queries_pages import count_condition, ids_sql, key_groups, key_sorted_ids, rows_by_id
from desktopviz.core.store import COLUMNS, ensure_indexes

PAGE = 256
SORTABLE = (
    "start_time",
    "source_namespace",
    "dest_namespace",
    "source_name_aggr",
    "dest_name_aggr",
    "action",
    "reporter",
)
DEFAULT_COLUMNS = (
    "start_time",
    "action",
    "reporter",
    "source_namespace",
    "source_name_aggr",
    "dest_namespace",
    "dest_name_aggr",
    "dest_port",
    "proto",
    "num_flows",
    "bytes",
    "policies",
)
EXTRA_COLUMNS = ("bytes", "packets", "id")
ALL_COLUMNS: tuple[str, ...] = (*FIELDS, *EXTRA_COLUMNS)
NUMERIC = frozenset(
    {"id", "bytes", "packets", "source_port", "dest_port", "dest_service_port_num"}
    | {n for n in FIELDS if n.startswith(("bytes_", "packets_", "num_", "tcp_", "http_"))}
)
_POS = {n: i for i, n in enumerate(COLUMNS)}

# Indexes the browser's policy and tier filters use: the traces naming a policy (tier) come
# from a covering index of trace_hits (the store creates them; files that lack one get it
# when opened for writing).
BROWSER_INDEXES = (
    ("ix_trace_hits_policy_trace_id", "trace_hits", ("policy", "trace_id")),
    ("ix_trace_hits_tier_trace_id", "trace_hits", ("tier", "trace_id")),
)


def ensure_browser_indexes(
    conn: sqlite3.Connection, *, indexes: bool = True, analyze: bool = False
) -> list[str]:
    """On a writable connection: create the browser's extra indexes; ``analyze`` also runs a
    sampled ``ANALYZE`` (measured: its 1000-row samples mislead the planner on flow logs, so
    the compiler's index hints are used instead and this is off). Returns what it did."""
    done = ensure_indexes(conn) if indexes else []  # the store creates them (schema and on open)
    if analyze:
        conn.execute("PRAGMA analysis_limit = 1000")
        conn.execute("ANALYZE")
        done.append("analyze")
    return done


def missing_browser_indexes(conn: sqlite3.Connection) -> list[str]:
    have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('index', 'table')")}
    out = [name for name, _, _ in BROWSER_INDEXES if name not in have]
    return out + ([] if "sqlite_stat1" in have else ["sqlite_stat1"])


# -- values ------------------------------------------------------------------------------------
def raw_value(row: Sequence[Any], column: str) -> Any:
    """A column's stored value in a ``COLUMNS`` row (``bytes``/``packets`` are in + out)."""
    if column == "bytes":
        return (row[_POS["bytes_in"]] or 0) + (row[_POS["bytes_out"]] or 0)
    if column == "packets":
        return (row[_POS["packets_in"]] or 0) + (row[_POS["packets_out"]] or 0)
    return row[_POS[column]]


def iso_time(t: int | None) -> str:
    if t is None:
        return ""
    return datetime.fromtimestamp(int(t), UTC).strftime("%Y-%m-%d %H:%M:%S")


def enforced_entries(policies: Any) -> list[tuple[str, str]]:
    """(policy name, action) of the enforced trace in trace order (legacy: all_policies)."""
    if not isinstance(policies, dict):
        return []
    entries = policies.get("enforced_policies") or policies.get("all_policies") or []
    parsed = []
    for e in entries:
        parts = str(e).split("|")
        if len(parts) >= 4 and parts[0].lstrip("-").isdigit():
            parsed.append((int(parts[0]), parts[2], parts[3]))
    return [(n, a) for _, n, a in sorted(parsed)]


def enforced_names(policies: Any) -> list[str]:
    """The policy names of the enforced trace, in trace order."""
    return [n for n, _ in enforced_entries(policies)]


def policies_summary(policies: Any) -> str:
    """The deciding policy first, then the tiers that passed: what a reader looks for."""
    entries = enforced_entries(policies)
    if not entries:
        return ""
    name, action = entries[-1]
    text = f"{name} ({action})"
    if len(entries) > 1:
        text += " · after " + ", ".join(n for n, _ in entries[:-1])
    return text


def display_text(column: str, value: Any) -> str:
    """The cell text: ISO UTC times, k=v labels, policy names, thousands for counters."""
    if value is None:
        return ""
    if column in ("start_time", "end_time"):
        return iso_time(value)
    if column in JSON_FIELDS and isinstance(value, str):
        import json

        try:
            value = json.loads(value)
        except ValueError:
            return value
    if column in ("source_labels", "dest_labels"):
        return ", ".join((value or {}).get("labels", []) or [])
    if column == "policies":
        return policies_summary(value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if column in NUMERIC and isinstance(value, int) and column not in ("dest_port", "source_port", "id"):
        return f"{value:,}"
    return str(value)


def tooltip_text(column: str, value: Any) -> str | None:
    """The raw value, or for traces and labels one entry per line."""
    if value is None:
        return None
    if column in JSON_FIELDS and isinstance(value, str):
        import json

        try:
            v = json.loads(value)
        except ValueError:
            return value
        if column == "policies" and isinstance(v, dict):
            lines = []
            for key in ("enforced_policies", "pending_policies"):
                lines.append(f"{key}:")
                lines.extend(f"  {e}" for e in sorted(v.get(key) or []))
            return "\n".join(lines)
        if isinstance(v, dict):
            return "\n".join(v.get("labels", []) or [])
        return "\n".join(str(x) for x in v or [])
    return str(value)


# -- queries ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Query:
    """The rows the browser shows: a WHERE fragment and its parameters, a sort, and the newest
    row id to include (a snapshot: rows stored later join only through a refresh)."""

    where: str = ""
    params: tuple[Any, ...] = ()
    sort: str = "start_time"
    descending: bool = True
    max_id: int | None = None

    def key_columns(self) -> tuple[str, ...]:
        return ("start_time", "id") if self.sort == "start_time" else (self.sort, "start_time", "id")

    def order(self, reverse: bool = False) -> str:
        d = "DESC" if self.descending != reverse else "ASC"
        return "ORDER BY " + ", ".join(f"{c} {d}" for c in self.key_columns())

    def where_clause(self, extra: str = "") -> str:
        # "+id" keeps SQLite from scanning by rowid for the snapshot bound
        parts = [
            f"({self.where})" if self.where.strip() else "",
            "+id <= ?" if self.max_id is not None else "",
            extra,
        ]
        parts = [p for p in parts if p]
        return ("WHERE " + " AND ".join(parts)) if parts else ""

    def args(self, extra: Sequence[Any] = ()) -> tuple[Any, ...]:
        """Parameters of :meth:`where_clause` with ``extra``'s own after them."""
        snap = () if self.max_id is None else (self.max_id,)
        return (*self.params, *snap, *extra)


@dataclass
class Anchors:
    """Known sort keys by row index (first rows of fetched pages)."""

    keys: dict[int, tuple[Any, ...]] = field(default_factory=dict)

    def add(self, index: int, key: tuple[Any, ...]) -> None:
        if None not in key:
            self.keys[index] = key
            if len(self.keys) > 4096:
                self.keys.pop(next(iter(self.keys)))

    def shift(self, by: int) -> None:
        self.keys = {i + by: k for i, k in self.keys.items()}


@dataclass(frozen=True)
class PagePlan:
    sql: str  # SELECT id … (the page's ids in order; the rows are read by id), or the rows
    args: tuple[Any, ...]
    reverse: bool  # rows come in reverse order (read from below)
    rows: bool = False  # ``sql`` selects the page's rows (COLUMNS) itself


def nearest(start: int, length: int, total: int | None, anchors: Anchors) -> tuple[int, int | None, bool]:
    """(offset, anchor row or None, read from below) of the nearest known place to a page."""
    best: tuple[int, int | None, bool] = (start, None, False)
    if total is not None:
        below = total - (start + length)
        if below < best[0]:
            best = (below, None, True)
    for i, _ in anchors.keys.items():
        if i <= start and start - i < best[0]:
            best = (start - i, i, False)
        elif i >= start + length - 1 and i - (start + length - 1) < best[0]:
            best = (i - (start + length - 1), i, True)
    return best


def plan_page(
    q: Query,
    start: int,
    length: int,
    total: int | None,
    anchors: Anchors,
    conn: sqlite3.Connection | None = None,
) -> PagePlan:
    """The cheapest query for rows [start, start + length) (see module doc); with ``conn``, a
    rare key match is read through the key index (:mod:`desktopviz.core.queries_pages`)."""
    offset, anchor, reverse = nearest(start, length, total, anchors)
    extra, args = "", ()
    if anchor is not None:
        key = anchors.keys[anchor]
        cmp = ("<=" if q.descending else ">=") if not reverse else (">=" if q.descending else "<=")
        kc = q.key_columns()
        extra = f"({', '.join(kc)}) {cmp} ({', '.join('?' * len(kc))})"
        args = tuple(key)
    where, wargs = q.where_clause(extra), q.args(args)
    relation = table_for(f"{where} AND {q.sort}" if where else q.sort)
    if conn is None:
        sql = f"SELECT id FROM {relation} {where} {q.order(reverse)} LIMIT ? OFFSET ?"
    elif relation == "flow_data" and offset <= length and not key_groups(where.removeprefix("WHERE ")):
        # no key test: the page's logs have as many keys as rows, so reading each key once
        # saves nothing, and an offset this short skips few joined rows (measured: 2.3 ms
        # against 3.3 ms for the newest 256 of 5 M logs)
        sql = f"SELECT {', '.join(COLUMNS)} FROM flow_logs {where} {q.order(reverse)} LIMIT ? OFFSET ?"
        return PagePlan(sql, (*wargs, length, offset), reverse, rows=True)
    else:
        sql = ids_sql(conn, where, wargs, q.order(reverse), relation, offset + length)
    return PagePlan(sql, (*wargs, length, offset), reverse)


def row_key(q: Query, row: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(row[_POS[c]] for c in q.key_columns())


def fetch_page(
    conn: sqlite3.Connection, q: Query, start: int, length: int, total: int | None, anchors: Anchors
) -> list[tuple[Any, ...]]:
    if q.sort != "start_time":
        by_key = _key_sorted_page(conn, q, start, length, total, anchors)
        if by_key is not None:
            return by_key
    plan = plan_page(q, start, length, total, anchors, conn)
    if plan.rows:
        rows = [tuple(r) for r in conn.execute(plan.sql, plan.args)]
    else:
        rows = rows_by_id(conn, [r[0] for r in conn.execute(plan.sql, plan.args)])
    if plan.reverse:
        rows.reverse()
    return rows


def _key_sorted_page(
    conn: sqlite3.Connection, q: Query, start: int, length: int, total: int | None, anchors: Anchors
) -> list[tuple[Any, ...]] | None:
    """A page sorted by a key column: its ids value by value (no index sorts by a key column
    in schema 3; :func:`desktopviz.core.queries_pages.key_sorted_ids`), then its rows."""
    if q.sort not in KEY_SET:
        return None
    offset, anchor, reverse = nearest(start, length, total, anchors)
    key = None if anchor is None else anchors.keys[anchor]
    where = q.where_clause().removeprefix("WHERE ")
    ids = key_sorted_ids(conn, q.sort, where, q.args(), q.descending != reverse, key, offset, length)
    if ids is None:
        return None
    rows = rows_by_id(conn, ids)
    if reverse:
        rows.reverse()
    return rows


def count(conn: sqlite3.Connection, q: Query, extra: str = "", args: Sequence[Any] = ()) -> int:
    """The number of rows of a query (and ``extra``): every match without the snapshot bound,
    less those stored after it (a rowid range), so that a plain count is SQLite's b-tree count
    (measured 27 ms against 420 ms with ``+id <= ?`` on 5 M logs) and a key filter's count
    reads only the key index (:func:`desktopviz.core.queries_pages.count_condition`)."""
    every = Query(q.where, q.params, q.sort, q.descending, None)
    clause, cargs = every.where_clause(extra), every.args(args)
    clause = count_condition(conn, clause, cargs)
    relation = table_for(clause.removeprefix("WHERE "))
    every_sql = f"SELECT count(*) FROM {relation} {clause}"
    if q.max_id is None:
        return int(conn.execute(every_sql, cargs).fetchone()[0])
    later = f"{clause} AND id > ?" if clause else "WHERE id > ?"
    by_rowid = " NOT INDEXED" if relation == "flow_data" else ""
    # one statement, so both counts see the same rows (logs stored between two statements
    # would be subtracted without having been counted)
    sql = f"SELECT ({every_sql}) - (SELECT count(*) FROM {relation}{by_rowid} {later})"
    return int(conn.execute(sql, (*cargs, *cargs, q.max_id)).fetchone()[0])


class Budget:
    """Run a query on the GUI thread only while it stays within a frame: the progress handler
    interrupts it after ``ms`` milliseconds and the caller hands it to a worker instead."""

    def __init__(self, conn: sqlite3.Connection, ms: float) -> None:
        self.conn, self.ms = conn, ms

    def run(self, fn: Any, *args: Any) -> tuple[bool, Any]:
        deadline = time.perf_counter() + self.ms / 1000
        self.conn.set_progress_handler(lambda: time.perf_counter() > deadline, 1000)
        try:
            return True, fn(self.conn, *args)
        except sqlite3.OperationalError as exc:
            if "interrupt" in str(exc):
                return False, None
            raise
        finally:
            self.conn.set_progress_handler(None, 0)


def open_readonly(path: str) -> sqlite3.Connection:
    """A read-only connection for a worker (checked against the store schema by the caller)."""
    from desktopviz.core.store import FlowStore

    return FlowStore(path, create=False, readonly=True).conn


# the chart strip's data lives in its own module; the browser imports it from here
from desktopviz.ui.flow_browser_charts import (  # noqa: E402
    ChartData,
    bucket_seconds,
    load_chart_data,
    time_bounds,
)

__all__ = ["ChartData", "bucket_seconds", "load_chart_data", "time_bounds"]
