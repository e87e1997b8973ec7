"""Shared pieces of the store queries: time ranges cut into rollup segments, WHERE clauses.

See :mod:`desktopviz.core.queries` for how time ranges are read.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from desktopviz.core.store import COLUMNS, ROLLUP_LEVELS, FlowStore

Conn = FlowStore | sqlite3.Connection
Segment = tuple[int | None, int, int]  # (rollup level or None for raw logs, lo, hi)
ORDERABLE = frozenset(COLUMNS)


_JSON_COLUMN = re.compile(r"(?<![.\w])(?:source_labels|dest_labels|policies)\b")


def table_for(where_sql: str | None) -> str:
    """The relation a condition can run on: ``flow_rows`` (no JSON joined back in: cheaper
    per row) unless it reads the labels or policies JSON of the ``flow_logs`` view (a
    hand-written condition; the filter language reads only flow_rows columns)."""
    return "flow_logs" if where_sql and _JSON_COLUMN.search(where_sql) else "flow_rows"


class QueryError(ValueError):
    """A query asked for a column or order that is not allowed."""


def build_where(
    since: int | None, until: int | None, where_sql: str = "", params: Sequence[Any] = ()
) -> tuple[str, list[Any]]:
    """A WHERE clause for a time range plus an optional parameterised fragment."""
    parts: list[str] = []
    args: list[Any] = []
    if since is not None:
        parts.append("start_time >= ?")
        args.append(int(since))
    if until is not None:
        parts.append("start_time < ?")
        args.append(int(until))
    if where_sql and where_sql.strip():
        parts.append(f"({where_sql})")
        args.extend(params)
    return ("WHERE " + " AND ".join(parts) if parts else ""), args


def order_clause(order_by: str, descending: bool) -> str:
    if order_by not in ORDERABLE:
        raise QueryError(f"cannot order flow logs by {order_by!r}")
    d = "DESC" if descending else "ASC"
    return f"ORDER BY {order_by} {d}" + ("" if order_by == "id" else f", id {d}")


def segments(lo: int, hi: int, levels: Sequence[int] = ROLLUP_LEVELS) -> list[Segment]:
    """Cut [lo, hi) into whole rollup buckets (coarsest first) and raw pieces at the ends."""
    if lo >= hi:
        return []
    if not levels:
        return [(None, lo, hi)]
    step = levels[0]
    a, b = -(-lo // step) * step, hi // step * step
    if a >= b:
        return segments(lo, hi, levels[1:])
    return [*segments(lo, a, levels[1:]), (step, a, b), *segments(b, hi, levels[1:])]


def bounds(conn: sqlite3.Connection, since: int | None, until: int | None) -> tuple[int, int] | None:
    """The range to read, widened to whole days where it runs past the data (no logs there),
    so that open or generous ranges are answered from the day rollup."""
    lo_data = conn.execute("SELECT min(start_time) FROM flow_rows").fetchone()[0]
    if lo_data is None:
        return None
    hi_data = conn.execute("SELECT max(start_time) FROM flow_rows").fetchone()[0] + 1
    day = ROLLUP_LEVELS[0]
    lo = lo_data // day * day if since is None or since <= lo_data else int(since)
    hi = -(-hi_data // day) * day if until is None or until >= hi_data else int(until)
    return (lo, hi) if lo < hi else None


def in_clause(column: str, values: Iterable[Any]) -> tuple[str, list[Any]]:
    vals = list(values)
    return f"{column} IN ({', '.join('?' * len(vals))})" if vals else "0", vals
