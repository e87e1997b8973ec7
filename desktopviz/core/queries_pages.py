"""Pages of flow logs in time order on schema 3: the ids first, from the narrowest relation and
the right index, then the rows of those ids.

A filter's key tests are one ``key_id IN (SELECT id FROM flow_keys WHERE …)`` condition
(:mod:`desktopviz.core.filterlang_sql`), written ``+key_id`` so that a page walks the time
index ``(start_time, id, key_id)`` newest first and tests the key id in the index: the first
page of a common match comes after a few thousand index entries, whatever the store's size. A
rare match would walk the whole index for one page, so when fewer than :data:`RARE_ROWS` logs
match (counted through ``(key_id, start_time)``, which stops at that many) the page lists the
matching entries of that index and sorts them instead (the ids only: a covering index, no rows
read). Either way only the page's rows are then read through the ``flow_logs`` view, so OFFSET
skips index entries, never joined rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from desktopviz.core.queries_base import columns_read, table_for

HINT = "(+key_id IN ("
KEY_INDEX = "ix_flow_data_key"
RARE_ROWS = 20_000
_CACHE_LIMIT = 256
_rare_cache: dict[tuple[Any, ...], bool] = {}


def unhinted(where: str) -> str:
    """``where`` with its key-id tests free to use the key index (counts, rare matches)."""
    return where.replace(HINT, "(key_id IN (")


def has_key_index(conn: sqlite3.Connection) -> bool:
    """Whether ``ix_flow_data_key`` exists (a bulk load drops it until the load ends)."""
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (KEY_INDEX,))
    return row.fetchone() is not None


def is_rare(conn: sqlite3.Connection, where_sql: str, args: Sequence[Any]) -> bool:
    """Whether fewer than :data:`RARE_ROWS` logs satisfy a hinted ``WHERE …`` clause on
    flow_data (cached per connection and condition; a wrong guess costs time, not rows)."""
    if HINT not in where_sql or table_for(where_sql.removeprefix("WHERE ")) != "flow_data":
        return False
    key = (id(conn), where_sql, tuple(args))
    found = _rare_cache.get(key)
    if found is None:
        if not has_key_index(conn):
            return False
        sql = (
            f"SELECT count(*) FROM (SELECT 1 FROM flow_data INDEXED BY {KEY_INDEX} "
            f"{unhinted(where_sql)} LIMIT {RARE_ROWS})"
        )
        found = int(conn.execute(sql, tuple(args)).fetchone()[0]) < RARE_ROWS
        if len(_rare_cache) >= _CACHE_LIMIT:
            _rare_cache.clear()
        _rare_cache[key] = found
    return found


def count_condition(conn: sqlite3.Connection, where_sql: str, args: Sequence[Any]) -> str:
    """A ``WHERE …`` clause for counting: its key-id tests free to use the key index when the
    index holds everything else it reads (key id, start time, id) or few logs match; else the
    hint stays and flow_data is read in order (the key index would read its rows at random:
    measured 2.3 s against 0.6 s for 0.6 M of 5 M logs)."""
    if HINT not in where_sql:
        return where_sql
    index_only = columns_read(where_sql.removeprefix("WHERE ")) <= {"key_id", "id", "start_time"}
    return unhinted(where_sql) if index_only or is_rare(conn, where_sql, args) else where_sql


def page_sql(
    conn: sqlite3.Connection, columns: str, where_sql: str, args: Sequence[Any], order: str, relation: str
) -> str:
    """SELECT ``columns`` FROM flow_logs for a page: ``where_sql`` (a whole ``WHERE …`` clause
    or ""), ``order`` (``ORDER BY …``) and then ``LIMIT ? OFFSET ?`` applied to the ids read
    from ``relation`` (flow_data when the condition and order read only its columns)."""
    if relation == "flow_data" and is_rare(conn, where_sql, args):
        ids = (
            f"SELECT id FROM flow_data INDEXED BY {KEY_INDEX} {unhinted(where_sql)} {order} LIMIT ? OFFSET ?"
        )
    else:
        ids = f"SELECT id FROM {relation} {where_sql} {order} LIMIT ? OFFSET ?"
    return f"SELECT {columns} FROM flow_logs WHERE id IN ({ids}) {order}"


def key_sorted_ids(
    conn: sqlite3.Connection,
    column: str,
    where_sql: str,
    args: Sequence[Any],
    descending: bool,
    anchor: tuple[Any, ...] | None,
    offset: int,
    length: int,
) -> list[int] | None:
    """The ids of rows [offset, offset + length) in the order ``column, start_time, id`` (all
    ``descending`` or all ascending) of the logs matching ``where_sql`` (a fragment, may be
    ""), from ``anchor`` (a ``(value, start_time, id)`` row key, included) or from the start.
    A key column has no index of its own: its values are few, so each value's logs are read
    in time order (:func:`page_sql`'s way) one value after another, and a value skipped whole
    by the offset is counted through the key index. None when the anchor's value is gone."""
    d = "DESC" if descending else "ASC"
    values = [r[0] for r in conn.execute(f"SELECT DISTINCT {column} FROM flow_keys ORDER BY 1 {d}")]
    bound: tuple[str, tuple[Any, ...]] = ("", ())
    if anchor is not None:
        if anchor[0] not in values:
            return None
        values = values[values.index(anchor[0]) :]
        bound = (f" AND (start_time, id) {'<=' if descending else '>='} (?, ?)", tuple(anchor[1:]))
    order = f"ORDER BY start_time {d}, id {d}"
    out: list[int] = []
    for v in values:
        cond = f"({where_sql}) AND " if where_sql.strip() else ""
        cond += f"{HINT}SELECT id FROM flow_keys WHERE {column} IS ?)){bound[0]}"
        cargs = (*args, v, *bound[1])
        bound = ("", ())
        clause = f"WHERE {cond}"
        relation = table_for(cond)
        if relation == "flow_data" and is_rare(conn, clause, cargs):
            sql = (
                f"SELECT id FROM flow_data INDEXED BY {KEY_INDEX} {unhinted(clause)} {order} LIMIT ? OFFSET ?"
            )
        else:
            sql = f"SELECT id FROM {relation} {clause} {order} LIMIT ? OFFSET ?"
        got = [r[0] for r in conn.execute(sql, (*cargs, length - len(out), offset))]
        if offset and not got:  # the whole value is before the page: count it
            counted = count_condition(conn, clause, cargs)
            n = conn.execute(f"SELECT count(*) FROM {table_for(cond)} {counted}", cargs).fetchone()[0]
            offset -= int(n)
            continue
        offset = 0
        out += got
        if len(out) >= length:
            break
    return out
