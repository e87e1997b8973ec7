"""Shared pieces of the store queries: time ranges cut into rollup segments, WHERE clauses.

See :mod:`desktopviz.core.queries` for how time ranges are read.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from desktopviz.core.store import COLUMNS, ROLLUP_LEVELS, FlowStore
from desktopviz.core.store_keys import DATA_COLUMNS, KEY_COLUMNS

Conn = FlowStore | sqlite3.Connection
Segment = tuple[int | None, int, int]  # (rollup level or None for raw logs, lo, hi)
ORDERABLE = frozenset(COLUMNS)


_JSON_COLUMNS = frozenset({"source_labels", "dest_labels", "policies"})
DATA_SET = frozenset(DATA_COLUMNS)
KEY_SET = frozenset(KEY_COLUMNS)
# the filter compiler's form of a condition on key columns (desktopviz.core.filterlang_sql)
KEY_SUBQUERY = "key_id IN (SELECT id FROM flow_keys WHERE "
_TOKEN = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|[A-Za-z_][A-Za-z0-9_]*|\S")
_SQL_WORDS = frozenset(
    """and or not in is null like glob between escape collate nocase case when then else end
    select from where as exists distinct true false cast integer text""".split()
)


def _tokens(sql: str) -> list[str]:
    return _TOKEN.findall(sql)


def _skip_group(toks: list[str], i: int) -> int:
    """The index after the parenthesis closing the one opened at ``toks[i - 1]``."""
    depth = 1
    while i < len(toks) and depth:
        depth += {"(": 1, ")": -1}.get(toks[i], 0)
        i += 1
    return i


def columns_read(where_sql: str) -> set[str]:
    """The names a WHERE fragment reads outside its key subqueries (``key_id IN (SELECT id
    FROM flow_keys WHERE …)``, which read flow_keys only): column names, and any table or
    alias names of other subqueries (which make the fragment look like it needs flow_rows)."""
    toks = _tokens(where_sql)
    out: set[str] = set()
    i = 0
    while i < len(toks):
        t = toks[i]
        if t.startswith('"'):  # a quoted identifier
            out.add(t[1:-1].replace('""', '"').lower())
            i += 1
            continue
        if t.lower() == "key_id" and [x.lower() for x in toks[i + 1 : i + 8]] == [
            "in",
            "(",
            "select",
            "id",
            "from",
            "flow_keys",
            "where",
        ]:
            out.add("key_id")
            i = _skip_group(toks, i + 3)
            continue
        i += 1
        if not (t[0].isalpha() or t[0] == "_") or t.lower() in _SQL_WORDS:
            continue
        if i < len(toks) and toks[i] in ("(", "."):  # a function, or an alias before its column
            continue
        if i >= 2 and toks[i - 2] == ".":  # alias.column: a subquery's own table
            out.add(f".{t}")
            continue
        out.add(t.lower())
    return out


def table_for(where_sql: str | None) -> str:
    """The narrowest relation a condition runs on: ``flow_data`` when it reads only data
    columns and key ids (SQLite 3.40 does not drop the flow_keys join of the ``flow_rows``
    view for ``count(*)``), ``flow_logs`` when it reads the labels or policies JSON (a
    hand-written condition), else ``flow_rows``."""
    if not where_sql or not where_sql.strip():
        return "flow_data"
    cols = columns_read(where_sql)
    if cols & _JSON_COLUMNS:
        return "flow_logs"
    return "flow_data" if cols <= DATA_SET else "flow_rows"


def key_test(condition: str, hint: bool = True) -> str:
    """``condition`` (on flow_keys) as a test of a log's key id, in the one form
    :func:`desktopviz.core.queries_pages.key_groups` finds again; ``hint``: written
    ``+key_id`` (walk the time index, testing the key id in it)."""
    return f"({'+' if hint else ''}{KEY_SUBQUERY}{condition}))"


def keyed(where_sql: str, *, hint: bool = False) -> str:
    """A hand-written condition that reads key columns only, as a test of the key id (the
    condition runs on the few thousand keys, the logs are found by key id); anything else
    unchanged. Exact: every flow_data row has its key, so the condition sees the same values.
    ``hint``: written ``+key_id`` as the filter compiler does for pages (walk the time index)."""
    if not where_sql.strip():
        return where_sql
    cols = columns_read(where_sql)
    if not cols or not cols <= KEY_SET or "select" in where_sql.lower():
        return where_sql
    return key_test(f"({where_sql})", hint)


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


def start_edges(conn: sqlite3.Connection) -> tuple[int, int] | None:
    """(first start_time, newest start_time) of the logs, None for an empty store: the time
    index's two ends (one aggregate per statement: SQLite answers a lone min()/max() from
    the index end)."""
    lo = conn.execute("SELECT min(start_time) FROM flow_data").fetchone()[0]
    hi = conn.execute("SELECT max(start_time) FROM flow_data").fetchone()[0]
    return None if lo is None or hi is None else (lo, hi)


def data_edges(conn: sqlite3.Connection) -> tuple[int, int, int | None] | None:
    """(first start_time, newest start_time, latest end_time of the logs with that newest
    start), None for an empty store: the time index's ends, never a scan (``max(end_time)``
    over the table would read it all). The Policy Board's rate span and the browser's time
    bounds."""
    edges = start_edges(conn)
    if edges is None:
        return None
    lo, hi = edges
    end = conn.execute("SELECT max(end_time) FROM flow_data WHERE start_time = ?", (hi,)).fetchone()[0]
    return lo, hi, end


def bounds(conn: sqlite3.Connection, since: int | None, until: int | None) -> tuple[int, int] | None:
    """The range to read, widened to whole days where it runs past the data (no logs there),
    so that open or generous ranges are answered from the day rollup."""
    edges = start_edges(conn)
    if edges is None:
        return None
    lo_data, hi_data = edges[0], edges[1] + 1
    day = ROLLUP_LEVELS[0]
    lo = lo_data // day * day if since is None or since <= lo_data else int(since)
    hi = -(-hi_data // day) * day if until is None or until >= hi_data else int(until)
    return (lo, hi) if lo < hi else None


def in_clause(column: str, values: Iterable[Any]) -> tuple[str, list[Any]]:
    vals = list(values)
    return f"{column} IN ({', '.join('?' * len(vals))})" if vals else "0", vals
