"""Flow keys (schema 3): everything of a flow log except its times and counters, stored once.

Flow logs repeat every field but the nine varying integers (:data:`VARYING_FIELDS`) from one
flush interval to the next, so ``flow_keys`` holds each distinct rest once (its *key*, in the
store form of schema 2's ``flow_rows``: label-set ids, trace id, list fields as JSON text) and
``flow_data`` holds one narrow row per log: ``(id, key_id, *VARYING_FIELDS)``. A key is found
by its :func:`key_digest` (a UNIQUE column of ``flow_keys``); :class:`KeyIndex` caches the ids
of one connection's keys by content.

Python equality is not SQLite's: ``5 == 5.0 == True`` would share one cache entry while a TEXT
column stores ``'5'`` and ``'5.0'``. Cache keys therefore carry the type of a value that is
neither text nor null in a TEXT column (in an INTEGER column such values are stored alike).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields
from hashlib import blake2b
from marshal import dumps
from typing import Any

from desktopviz.core.flowlog import FIELDS, VARYING_FIELDS, FlowLog
from desktopviz.core.sql_rows import RowInsert, execute_rows

__all__ = [
    "rollback",
    "CACHE_LIMIT",
    "DATA_COLUMNS",
    "DATA_INSERT",
    "DATA_ROWS",
    "ID_COLUMN",
    "INT_FIELDS",
    "KEY_COLUMNS",
    "KEY_FIELDS",
    "KEY_TEXT",
    "ROW_COLUMNS",
    "IdIndex",
    "KeyIndex",
    "cache_key",
    "insert_data",
    "key_digest",
]

# schema 2's flow_rows columns (the flow_rows view's): the three de-duplicated fields as ids
ID_COLUMN = {"source_labels": "source_labels_id", "dest_labels": "dest_labels_id", "policies": "trace_id"}
ROW_COLUMNS: tuple[str, ...] = ("id", *(ID_COLUMN.get(n, n) for n in FIELDS))
_types = {f.name: str(f.type) for f in fields(FlowLog)}
INT_FIELDS = frozenset(n for n in FIELDS if "int" in _types[n] and "list" not in _types[n])

KEY_FIELDS: tuple[str, ...] = tuple(n for n in FIELDS if n not in VARYING_FIELDS)
KEY_COLUMNS: tuple[str, ...] = tuple(ID_COLUMN.get(n, n) for n in KEY_FIELDS)
DATA_COLUMNS: tuple[str, ...] = ("id", "key_id", *VARYING_FIELDS)
# positions in KEY_COLUMNS of the TEXT columns (the others are INTEGER)
KEY_TEXT: tuple[int, ...] = tuple(
    i
    for i, (n, col) in enumerate(zip(KEY_FIELDS, KEY_COLUMNS, strict=True))
    if col == n and n not in INT_FIELDS
)
CACHE_LIMIT = 50_000
_PLAIN = frozenset({str, type(None)})
_TEXT = frozenset(KEY_TEXT)
# flow_data rows (DATA_COLUMNS order), as the store's insert, the upgrade and the keyed writer write them
DATA_ROWS = RowInsert(f"INSERT INTO flow_data ({', '.join(DATA_COLUMNS)})", len(DATA_COLUMNS))
DATA_INSERT = DATA_ROWS.sql()  # one row
_INSERT = f"INSERT INTO flow_keys (digest, {', '.join(KEY_COLUMNS)}) VALUES ({', '.join('?' * (len(KEY_COLUMNS) + 1))})"


def insert_data(conn: sqlite3.Connection, rows: Iterable[Sequence[Any]]) -> None:
    """Insert flow_data rows (DATA_COLUMNS order), as ``executemany(DATA_INSERT, rows)``
    would, 50 rows to a statement (:func:`~desktopviz.core.sql_rows.execute_rows`)."""
    execute_rows(conn, DATA_ROWS, rows)


def rollback(conn: sqlite3.Connection, *resets: Callable[[], None]) -> None:
    """Undo the connection's open transaction, then forget ids it may have handed out (the
    ``resets``: key, label-set, trace caches). SQLite sometimes rolls a transaction back
    itself (disk full, an interrupt): a ROLLBACK would then raise "no transaction is active",
    hide the real error and skip the resets, and later rows would name keys that do not
    exist, or another key that took their id."""
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    finally:
        for reset in resets:
            reset()


def key_digest(values: tuple[Any, ...]) -> bytes:
    """The 16-byte digest of a key's values (store form, KEY_COLUMNS order). marshal version
    2: versions 3 and 4 write back-references by object identity, so equal keys built from
    different objects would get different digests."""
    return blake2b(dumps(values, 2), digest_size=16).digest()


def cache_key(values: tuple[Any, ...], text: tuple[int, ...] = KEY_TEXT) -> tuple[Any, ...]:
    """``values`` as a cache key: a value of a TEXT column (positions ``text``) that is not
    text or null goes with its type (5 and 5.0 are stored as '5' and '5.0')."""
    for i in text:
        if type(values[i]) not in _PLAIN:
            out = list(values)
            for j in text:
                x = out[j]
                if type(x) not in _PLAIN:
                    out[j] = (type(x), x)
            return tuple(out)
    return values


class IdIndex:
    """The ids of one connection's rows of a table of distinct values, cached by content
    (bounded). Subclasses say where the values go (:meth:`find_or_insert`), how many there
    are (``width``) and which are TEXT (``text``: see :func:`cache_key`). The caller holds
    the transaction; after a ROLLBACK call :meth:`reset`."""

    width = 0
    text: tuple[int, ...] = ()
    what = "row"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._ids: dict[tuple[Any, ...], int] = {}

    def reset(self) -> None:
        """Forget the cache (ids made by a rolled-back transaction no longer exist)."""
        self._ids.clear()

    def id_of(self, values: tuple[Any, ...]) -> int:
        """The id of these values: cached, else looked up, else inserted."""
        ck = cache_key(values, self.text) if self.text else values
        rid = self._ids.get(ck)
        if rid is None:
            rid = self.lookup(ck, values)
        return rid

    def lookup(self, ck: tuple[Any, ...], values: tuple[Any, ...]) -> int:
        """The id of values missing from the cache (``ck``: their :func:`cache_key`)."""
        if len(values) != self.width:
            raise ValueError(f"a {self.what} has {self.width} values, not {len(values)}")
        rid = self.find_or_insert(values)
        if len(self._ids) >= CACHE_LIMIT:
            self._ids.clear()
        self._ids[ck] = rid
        return rid

    def find_or_insert(self, values: tuple[Any, ...]) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def cached(self, ck: tuple[Any, ...]) -> int | None:
        """The cached id of a cache key, or None."""
        return self._ids.get(ck)


class KeyIndex(IdIndex):
    """The ids of one connection's flow keys (``flow_keys``), found by digest."""

    width = len(KEY_COLUMNS)
    text = KEY_TEXT
    what = "flow key"

    def key_id(self, values: tuple[Any, ...]) -> int:
        """The id of a key (store-form values in KEY_COLUMNS order): cached, else looked up
        by digest, else inserted."""
        return self.id_of(values)

    def find_or_insert(self, values: tuple[Any, ...]) -> int:
        digest = key_digest(values)
        c = self.conn
        row = c.execute("SELECT id FROM flow_keys WHERE digest = ?", (digest,)).fetchone()
        return int(row[0]) if row is not None else int(c.execute(_INSERT, (digest, *values)).lastrowid or 0)

    def column_ids(self, kcols: list[Any], n: int) -> list[int]:
        """The key id of each row of a chunk (``kcols``: its key columns in KEY_COLUMNS
        order, store form). Only the columns that vary within the chunk are zipped into
        per-row tuples; each distinct one is looked up once, new keys numbered in row order.
        A TEXT column holding values other than text or null is keyed with their types
        (see :func:`cache_key`). The rows must be hashable (values SQLite can store are)."""
        base = [col[0] for col in kcols]
        var: list[int] = []
        mid = n >> 1
        for j, col in enumerate(kcols):
            x = base[j]
            # the same in every row (two samples first: most varying columns stop there);
            # a text column only when that value is text or null (5 == 5.0, '5' != '5.0')
            if col[-1] == x and col[mid] == x and col.count(x) == n and (type(x) in _PLAIN or j not in _TEXT):
                continue
            var.append(j)
        if not var:
            t = tuple(base)
            kid = self.cached(t)
            return [self.lookup(t, t) if kid is None else kid] * n
        rows = list(zip(*(kcols[j] for j in var), strict=True))
        memo: dict[tuple[Any, ...], int] = dict.fromkeys(rows)  # type: ignore[arg-type]
        vtext = [k for k, j in enumerate(var) if j in _TEXT]
        # rows merged by Python's equality hold equal values: a text or null value is only
        # equal to text or null, so types matter only if a distinct row has something else
        if any(type(t[k]) not in _PLAIN for t in memo for k in vtext):
            return self._typed_column_ids(kcols, var, base)
        for t in memo:
            for j, v in zip(var, t, strict=True):
                base[j] = v
            key = tuple(base)
            kid = self.cached(key)
            memo[t] = self.lookup(key, key) if kid is None else kid
        return list(map(memo.__getitem__, rows))

    def _typed_column_ids(self, kcols: list[Any], var: list[int], base: list[Any]) -> list[int]:
        """:meth:`column_ids` for a chunk with numbers (or other values) in text columns: the
        per-row tuples carry those values' types."""
        keyed = []
        for j in var:
            col = kcols[j]
            if j in _TEXT:
                col = [v if type(v) in _PLAIN else (type(v), v) for v in col]
            keyed.append(col)
        rows = list(zip(*keyed, strict=True))
        memo: dict[tuple[Any, ...], int] = dict.fromkeys(rows)  # type: ignore[arg-type]
        ck = list(base)
        for t in memo:
            for j, v in zip(var, t, strict=True):
                ck[j] = v
                base[j] = v[1] if j in _TEXT and type(v) is tuple else v
            key = tuple(ck)
            kid = self.cached(key)
            memo[t] = self.lookup(key, tuple(base)) if kid is None else kid
        return list(map(memo.__getitem__, rows))
