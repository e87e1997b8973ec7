"""The writer's side of a keyed batch (:mod:`import_keyed`): keys in a temporary table, rows by SQL.

A :class:`KeyedWriter` is a :class:`~desktopviz.core.import_apply.PreparedWriter` (it maps the
reader's local label-set and trace ids to the store's in the same way, checks that a batch's
records are new, and takes plain prepared batches too) that also keeps each key the reader
sent, in the temporary table ``dvz_import_keys`` with the store's ids in place of the local
ones. A batch whose records are all new is written in one transaction: its key ids and
varying integers go into the temporary table ``dvz_import_rows`` (eleven values a record
bound from Python instead of fifty-five), then one ``INSERT INTO flow_rows … SELECT`` joins
the two, then the digests, the rollups and the file's counts, as for a prepared batch.

Temporary tables belong to the connection and to its transactions: a rolled-back batch takes
its new keys with it (so the writer forgets which keys the table holds), and changing the
connection's ``temp_store`` drops them (so each batch checks that they are there).
"""

from __future__ import annotations

from typing import Any

from desktopviz.core.flowlog import FIELDS
from desktopviz.core.import_apply import PreparedWriter
from desktopviz.core.import_db import ImportWriter
from desktopviz.core.import_keyed import KEY_FIELDS, VARYING_FIELDS, KeyedBatch
from desktopviz.core.import_prepare import PreparedBatch
from desktopviz.core.store_ingest import ID_COLUMN, ROW_COLUMNS
from desktopviz.core.store_rollup import execute_rollups

__all__ = ["KeyedWriter"]

KEYS_TABLE = "dvz_import_keys"
ROWS_TABLE = "dvz_import_rows"
_COL = dict(zip(FIELDS, ROW_COLUMNS[1:], strict=True))
_KCOLS = [f"k{i}" for i in range(len(KEY_FIELDS))]
_VCOLS = [f"v{i}" for i in range(len(VARYING_FIELDS))]
_KI = {n: i for i, n in enumerate(KEY_FIELDS)}
_VI = {n: i for i, n in enumerate(VARYING_FIELDS)}
_KSL, _KDL, _KPOL = _KI["source_labels"], _KI["dest_labels"], _KI["policies"]
_CREATE = (
    f"CREATE TEMP TABLE IF NOT EXISTS {KEYS_TABLE} (kid INTEGER PRIMARY KEY, {', '.join(_KCOLS)})",
    f"CREATE TEMP TABLE IF NOT EXISTS {ROWS_TABLE} "
    f"(id INTEGER PRIMARY KEY, kid INTEGER, {', '.join(_VCOLS)}, seen_start INTEGER, hash BLOB)",
)
_INSERT_KEY = f"INSERT INTO temp.{KEYS_TABLE} VALUES (?, {', '.join('?' * len(_KCOLS))})"
_INSERT_ROW = f"INSERT INTO temp.{ROWS_TABLE} VALUES (?, ?, {', '.join('?' * len(_VCOLS))}, ?, ?)"
_SELECT = ", ".join(f"r.v{_VI[n]}" if n in _VI else f"k.k{_KI[n]}" for n in FIELDS)
_INSERT_FLOWS = (
    f"INSERT INTO flow_rows (id, {', '.join(_COL[n] for n in FIELDS)}) SELECT r.id, {_SELECT} "
    f"FROM temp.{ROWS_TABLE} AS r JOIN temp.{KEYS_TABLE} AS k ON k.kid = r.kid ORDER BY r.id"
)
_INSERT_DIGESTS = (
    f"INSERT OR IGNORE INTO import_digests (start_time, hash) SELECT seen_start, hash FROM temp.{ROWS_TABLE} "
    "ORDER BY seen_start, hash"
)
assert set(ID_COLUMN) == {"source_labels", "dest_labels", "policies"}


class KeyedWriter(PreparedWriter):
    """Writes the keyed (and the prepared) batches of one file through an :class:`ImportWriter`."""

    def __init__(self, writer: ImportWriter) -> None:
        super().__init__(writer)
        self.key_values: dict[int, tuple[Any, ...]] = {}  # the reader's local key id -> its values
        self._in_table: set[int] = set()  # local key ids in the keys table
        self.close()  # an earlier file's keys

    def close(self) -> None:
        """Drop the temporary tables (at the end of the file)."""
        if not self.conn.in_transaction:
            for table in (KEYS_TABLE, ROWS_TABLE):
                self.conn.execute(f"DROP TABLE IF EXISTS temp.{table}")
        self._in_table.clear()

    def accept(self, b: PreparedBatch | KeyedBatch) -> None:  # type: ignore[override]
        if b.reset:
            self.key_values.clear()
        super().accept(b)  # type: ignore[arg-type]
        if type(b) is KeyedBatch:
            self.key_values.update(b.new_keys)

    def _forget(self) -> None:
        super()._forget()
        if hasattr(self, "_in_table"):  # (PreparedWriter.__init__ calls it before ours runs)
            self._in_table.clear()  # the keys inserted by a rolled-back batch are gone, the others now unmapped
            self._clear_keys = True

    def rows(self, b: PreparedBatch | KeyedBatch) -> list[tuple[Any, ...]]:  # type: ignore[override]
        if type(b) is KeyedBatch:
            return b.rows(self.label_texts, self.trace_texts, self.key_values)
        return super().rows(b)  # type: ignore[arg-type]

    def _tables(self) -> None:
        c = self.conn
        have = c.execute(
            "SELECT count(*) FROM sqlite_temp_master WHERE type = 'table' AND name IN (?, ?)",
            (KEYS_TABLE, ROWS_TABLE),
        ).fetchone()[0]
        if have != 2 or getattr(self, "_clear_keys", False):
            for sql in _CREATE:
                c.execute(sql)
            c.execute(f"DELETE FROM temp.{KEYS_TABLE}")
            self._in_table.clear()
            self._clear_keys = False

    def _insert(self, b: PreparedBatch | KeyedBatch) -> None:  # type: ignore[override]
        if type(b) is not KeyedBatch:
            super()._insert(b)  # type: ignore[arg-type]
            return
        c = self.conn
        self._map_ids(b)  # type: ignore[arg-type]
        n = b.n
        if not n:
            return
        self._tables()
        lget, tget = self._lid.__getitem__, self._tid.__getitem__
        new = [kid for kid in b.keys_used if kid not in self._in_table]
        if new:
            rows = []
            for kid in new:
                vals = list(self.key_values[kid])
                vals[_KSL], vals[_KDL], vals[_KPOL] = lget(vals[_KSL]), lget(vals[_KDL]), tget(vals[_KPOL])
                rows.append((kid, *vals))
            c.executemany(_INSERT_KEY, rows)
            self._in_table.update(new)
        first = (c.execute("SELECT max(id) FROM flow_rows").fetchone()[0] or 0) + 1
        starts, hashes = zip(*b.keys, strict=True)
        c.executemany(_INSERT_ROW, zip(range(first, first + n), b.kids, *b.ints, starts, hashes, strict=True))
        c.execute(_INSERT_FLOWS)
        c.execute(_INSERT_DIGESTS)
        c.execute(f"DELETE FROM temp.{ROWS_TABLE}")
        f = b.frows
        frows: Any = zip(*f[:10], map(lget, f[10]), map(lget, f[11]), *f[12:], strict=True) if f else ()
        execute_rollups(c, frows, b.hrows, b.srows)
