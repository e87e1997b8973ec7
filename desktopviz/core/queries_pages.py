"""Pages of flow logs in time order on schema 3: the ids first, from the narrowest relation and
the right index, then the rows of those ids.

A filter's key tests are one ``key_id IN (SELECT id FROM flow_keys WHERE …)`` condition
(:mod:`desktopviz.core.filterlang_sql`), written ``+key_id``. A page of such a filter is read
one of two ways, whichever :func:`_use_key_index` expects to be cheaper (measured on 5 M logs,
CPU per index entry):

* walking the time index ``(start_time, id, key_id)`` newest first, testing the key id in the
  index: about 0.15 µs per entry, ``(offset + rows) / share`` entries, the share of logs that
  match estimated as the share of keys that match;
* through the key index ``(key_id, start_time)``: SQLite reads each matching key's newest
  entries and keeps the best ``offset + rows`` in a sorter: about 7 µs per key plus 2 µs per
  kept entry.

So a common match walks (its first page after a few thousand entries), a match of a few keys
or a rare one (fewer than :data:`RARE_ROWS` logs, counted through the key index, which stops
at that many) uses the key index, and a far page of a narrow match is sorted rather than
walked. Only the page's rows are then read through the ``flow_logs`` view, so an OFFSET skips
index entries, never joined rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from desktopviz.core.queries_base import KEY_SUBQUERY, columns_read, key_test, table_for
from desktopviz.core.store import COLUMNS
from desktopviz.core.store_keys import DATA_COLUMNS, KEY_FIELDS
from desktopviz.core.store_schema import JSON_SOURCE, KEY_TEXT_JOINS

HINT = "(+key_id IN ("
_GROUP = f"+{KEY_SUBQUERY}"
KEY_INDEX = "ix_flow_data_key"
RARE_ROWS = 20_000
WALK_US, KEY_US, SORT_US = 0.15, 7.0, 2.0  # CPU per walked entry, per key, per sorted entry
_CACHE_LIMIT = 256
_CHUNK = 500
_cache: dict[tuple[Any, ...], int] = {}
_Best = tuple[str, tuple[Any, ...], int]  # a key test on flow_keys, its parameters, its number of keys


# each key's row with its labels and policies texts, as the flow_logs view joins them
_KEYS_SQL = (
    f"SELECT k.id, {', '.join(JSON_SOURCE.get(n, 'k.' + n) for n in KEY_FIELDS)} FROM flow_keys AS k "
    f"{KEY_TEXT_JOINS} WHERE k.id IN "
)
# a COLUMNS row from (flow_data row + its key's row)
_PICK = itemgetter(
    *(
        DATA_COLUMNS.index(n) if n in DATA_COLUMNS else len(DATA_COLUMNS) + 1 + KEY_FIELDS.index(n)
        for n in COLUMNS
    )
)


def rows_by_id(conn: sqlite3.Connection, ids: Sequence[int]) -> list[tuple[Any, ...]]:
    """The ``COLUMNS`` rows (as the flow_logs view gives them) of these ids, in this order:
    the narrow rows, then each of their keys once with its labels and trace texts (measured
    on 256 rows of 73 keys: 1.5 ms against 3.5 ms through the view, which makes one Python
    string per row and JSON column; reading the texts once per label set and trace instead
    of once per key measured slower)."""
    data = {
        r[0]: r for r in _rows_in(conn, f"SELECT {', '.join(DATA_COLUMNS)} FROM flow_data WHERE id IN ", ids)
    }
    keys = {r[0]: r for r in _rows_in(conn, _KEYS_SQL, sorted({r[1] for r in data.values()}))}
    none = (None,) * (len(KEY_FIELDS) + 1)  # a log without its key reads as the view's LEFT JOIN
    return [_PICK(data[i] + keys.get(data[i][1], none)) for i in ids if i in data]


def _rows_in(conn: sqlite3.Connection, sql: str, ids: Sequence[int]) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` (ending in ``IN ``) for these ids, in chunks of bound parameters."""
    out: list[tuple[Any, ...]] = []
    for i in range(0, len(ids), _CHUNK):
        part = ids[i : i + _CHUNK]
        out += [tuple(r) for r in conn.execute(f"{sql}({', '.join('?' * len(part))})", part)]
    return out


def unhinted(where: str) -> str:
    """``where`` with its key-id tests free to use the key index (counts, rare matches)."""
    return where.replace(HINT, "(key_id IN (")


def _focus(where_sql: str, best: _Best | None) -> str:
    """``where_sql`` with only its narrowest key test (``best``: :func:`_narrowest`) free to
    use the key index (given two, SQLite takes the first for the index and tests the other on
    every entry it reads)."""
    if best is None:
        return unhinted(where_sql)
    test = f"{_GROUP}{best[0]})"
    return where_sql.replace(test, test[1:], 1)


def has_key_index(conn: sqlite3.Connection) -> bool:
    """Whether ``ix_flow_data_key`` exists (a bulk load drops it until the load ends)."""
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (KEY_INDEX,))
    return row.fetchone() is not None


def _scan(sql: str) -> list[tuple[int, str, int]]:
    """(position, character, depth before it) of each parenthesis, ``?`` and top-level
    `` AND `` of a condition, outside quoted text."""
    out: list[tuple[int, str, int]] = []
    depth, quote, i = 0, "", 0
    while i < len(sql):
        ch = sql[i]
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "()?":
            out.append((i, ch, depth))
            depth += {"(": 1, ")": -1}.get(ch, 0)
        elif depth == 0 and sql[i : i + 5].upper() == " AND ":
            out.append((i, "&", 0))
            i += 5
            continue
        i += 1
    return out


def _parts(sql: str) -> list[tuple[str, int]]:
    """The top-level ``AND`` parts of a condition, each with the number of ``?`` before it."""
    out: list[tuple[str, int]] = []
    start, marks, before = 0, 0, 0
    for i, ch, _ in _scan(sql):
        if ch == "?":
            marks += 1
        elif ch == "&":
            out.append((sql[start:i], before))
            start, before = i + 5, marks
    out.append((sql[start:], before))
    return out


def _encloses(sql: str, at: int) -> bool:
    """Whether the parenthesis at ``at`` closes at the end of ``sql``."""
    depth = None
    for i, ch, d in _scan(sql):
        if i == at:
            depth = d
        elif depth is not None and ch == ")" and d == depth + 1:
            return i == len(sql) - 1
    return False


def _unwrap(part: str) -> str:
    """A condition without the parentheses that enclose all of it."""
    part = part.strip()
    while part.startswith("(") and _encloses(part, 0):
        part = part[1:-1].strip()
    return part


def key_groups(where: str, before: int = 0) -> list[tuple[str, int, int]]:
    """The hinted key tests that are top-level conjuncts of ``where`` (a fragment): (their
    condition on flow_keys, index of its first parameter, its number of parameters)."""
    out: list[tuple[str, int, int]] = []
    for part, n in _parts(where):
        u = _unwrap(part)
        if u.startswith(_GROUP) and _encloses(u, _GROUP.index("(")):
            cond = u[len(_GROUP) : -1]
            out.append((cond, before + n, sum(1 for _, ch, _ in _scan(cond) if ch == "?")))
        elif len(_parts(u)) > 1:
            out += key_groups(u, before + n)
    return out


def _cached(conn: sqlite3.Connection, sql: str, args: Sequence[Any]) -> int:
    """A count, cached per connection and statement (estimates only: a stale one costs time)."""
    key = (id(conn), sql, tuple(args))
    found = _cache.get(key)
    if found is None:
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()
        found = _cache[key] = int(conn.execute(sql, tuple(args)).fetchone()[0])
    return found


def _key_count(conn: sqlite3.Connection) -> int:
    """The number of flow keys (cached like every estimate: :func:`_cached`)."""
    return _cached(conn, "SELECT count(*) FROM flow_keys", ())


def _narrowest(conn: sqlite3.Connection, where_sql: str, args: Sequence[Any]) -> _Best | None:
    """The hinted key test of a ``WHERE …`` clause on flow_data that matches the fewest keys:
    (its condition on flow_keys, its parameters, the number of keys), or None when the clause
    has none as a conjunct (or runs on a view, or the key index is missing)."""
    frag = where_sql.removeprefix("WHERE ")
    groups = key_groups(frag) if table_for(frag) == "flow_data" else []
    if not groups or not has_key_index(conn):
        return None
    best: _Best | None = None
    for cond, first, n in groups:
        cargs = tuple(args[first : first + n])
        k = _cached(conn, f"SELECT count(*) FROM flow_keys WHERE {cond}", cargs)
        if best is None or k < best[2]:
            best = (cond, cargs, k)
    return best


def _rare(conn: sqlite3.Connection, best: _Best) -> bool:
    """Whether the narrowest key test of a ``WHERE …`` clause on flow_data (``best``:
    :func:`_narrowest`) matches fewer than :data:`RARE_ROWS` logs (counted in the key index
    alone, which stops at that many, whatever else the clause tests)."""
    sql = (
        f"SELECT count(*) FROM (SELECT 1 FROM flow_data INDEXED BY {KEY_INDEX} WHERE key_id IN "
        f"(SELECT id FROM flow_keys WHERE {best[0]}) LIMIT {RARE_ROWS})"
    )
    return _cached(conn, sql, best[1]) < RARE_ROWS


def _use_key_index(conn: sqlite3.Connection, best: _Best, skip: int) -> bool:
    """Whether ids ``skip`` (offset + rows) deep into a ``WHERE …`` clause's matches are
    cheaper through the key index than by walking the time index (module doc); ``best``: the
    clause's narrowest key test (:func:`_narrowest`)."""
    keys = best[2]
    if not keys:
        return True
    total = _key_count(conn)
    if KEY_US * keys + SORT_US * skip < WALK_US * skip * total / keys:
        return True
    return _rare(conn, best)


def narrowed(conn: sqlite3.Connection, where_sql: str, args: Sequence[Any], share: float = 0.3) -> str | None:
    """A ``WHERE …`` clause on flow_data as :func:`_focus` makes it, when it is better read
    through the key index for an aggregate over its time range (its narrowest key test matches
    under ``share`` of the keys or few logs: measured on 1 M logs, 24 h, 13 % of the keys 49 ms by
    the key index against 72 ms walking the time range, 87 % 208 ms against 166 ms); else None."""
    best = _narrowest(conn, where_sql, args)
    if best is None:
        return None
    total = _key_count(conn)
    return _focus(where_sql, best) if best[2] < share * total or _rare(conn, best) else None


def count_condition(conn: sqlite3.Connection, where_sql: str, args: Sequence[Any]) -> str:
    """A ``WHERE …`` clause for counting: its key-id tests free to use the key index when the
    index holds everything else it reads (key id, start time, id) or few logs match; else the
    hint stays and flow_data is read in order (the key index would read its rows at random:
    measured 2.3 s against 0.6 s for 0.6 M of 5 M logs)."""
    if HINT not in where_sql:
        return where_sql
    index_only = columns_read(where_sql.removeprefix("WHERE ")) <= {"key_id", "id", "start_time"}
    best = _narrowest(conn, where_sql, args)
    return _focus(where_sql, best) if index_only or (best is not None and _rare(conn, best)) else where_sql


def ids_sql(
    conn: sqlite3.Connection, where_sql: str, args: Sequence[Any], order: str, relation: str, skip: int
) -> str:
    """SELECT id … LIMIT ? OFFSET ? of a page: ``where_sql`` (a whole ``WHERE …`` clause or
    ""), ``order`` (``ORDER BY …``), from ``relation`` (flow_data when the condition and order
    read only its columns); ``skip`` is offset + rows (module doc: which index)."""
    best = _narrowest(conn, where_sql, args) if relation == "flow_data" else None
    if best is not None and _use_key_index(conn, best, skip):
        where_sql = _focus(where_sql, best)
        return f"SELECT id FROM flow_data INDEXED BY {KEY_INDEX} {where_sql} {order} LIMIT ? OFFSET ?"
    return f"SELECT id FROM {relation} {where_sql} {order} LIMIT ? OFFSET ?"


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
    in time order (:func:`ids_sql`) one value after another. A value is one key test with the
    filter's own key tests (so a value none of whose keys match is skipped on flow_keys), and
    a value the offset skips whole is counted (through the key index) instead of read. None
    when the anchor's value is gone."""
    d = "DESC" if descending else "ASC"
    values = [r[0] for r in conn.execute(f"SELECT DISTINCT {column} FROM flow_keys ORDER BY 1 {d}")]
    bound: tuple[str, tuple[Any, ...]] = ("", ())
    if anchor is not None:
        if anchor[0] not in values:
            return None
        values = values[values.index(anchor[0]) :]
        bound = (f" AND (start_time, id) {'<=' if descending else '>='} (?, ?)", tuple(anchor[1:]))
    groups = key_groups(where_sql)
    keys_cond = " AND ".join([f"{column} IS ?", *(f"({g})" for g, _, _ in groups)])
    keys_args = tuple(x for _, first, n in groups for x in args[first : first + n])
    order = f"ORDER BY start_time {d}, id {d}"
    out: list[int] = []
    for v in values:
        vargs = (v, *keys_args)
        if not conn.execute(f"SELECT 1 FROM flow_keys WHERE {keys_cond} LIMIT 1", vargs).fetchone():
            continue  # no key of this value passes the filter's key tests
        cond = f"({where_sql}) AND " if where_sql.strip() else ""
        cond += f"{key_test(keys_cond)}{bound[0]}"
        cargs = (*args, *vargs, *bound[1])
        bound = ("", ())
        clause, relation = f"WHERE {cond}", table_for(cond)
        if offset > 4 * length:  # far: skip the value whole if the offset is past it
            n = _count(conn, relation, clause, cargs)
            if n <= offset:
                offset -= n
                continue
        sql = ids_sql(conn, clause, cargs, order, relation, offset + length - len(out))
        got = [r[0] for r in conn.execute(sql, (*cargs, length - len(out), offset))]
        if offset and not got:  # near: the value ended within the offset (few rows to count)
            offset -= _count(conn, relation, clause, cargs)
            continue
        offset = 0
        out += got
        if len(out) >= length:
            break
    return out


def _count(conn: sqlite3.Connection, relation: str, clause: str, args: Sequence[Any]) -> int:
    counted = count_condition(conn, clause, args)
    return int(conn.execute(f"SELECT count(*) FROM {relation} {counted}", args).fetchone()[0])
