"""The writer's side of a parallel import: keyed batches (:mod:`import_keyed`) into the store.

A :class:`KeyedWriter` keeps what the reader process sent once: the texts of its local
label-set and trace ids, and each key's values. It maps local label-set and trace ids to the
store's, looking a text up (or inserting it, with its ``trace_hits``) the first time it is
used, in the order the store's own insert would (so the ids are the same), and keeps each key
in the temporary table ``dvz_import_keys`` with the store's ids in place of the local ones.

A batch whose records are all new (:meth:`KeyedWriter.all_new`: no digest stored, none twice)
is written in one transaction, exactly as :meth:`import_db.ImportWriter.write` would store
its rows: the records' key ids and varying integers go into the temporary table
``dvz_import_rows`` (thirteen values bound a record instead of fifty-five), one
``INSERT INTO flow_rows … SELECT`` joins the two tables, one ``INSERT … SELECT`` records the
digests, the rollup rows are upserted as the reader summed them, and the file's counts are
updated. Anything else (a duplicate, a trace the store refuses, a value SQLite cannot take)
goes through the store's own insert with :meth:`KeyedBatch.rows` (the caller does that when
:meth:`KeyedWriter.take` says no).

Temporary tables belong to the connection and to its transactions: a rolled-back batch takes
its new keys with it (so the writer forgets which keys the table holds), and changing the
connection's ``temp_store`` drops them (so each batch checks that they are there).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from desktopviz.core.flowlog import FIELDS
from desktopviz.core.import_db import COUNT_COLUMNS, ImportWriter
from desktopviz.core.import_keyed import KEY_FIELDS, VARYING_FIELDS, KeyedBatch
from desktopviz.core.import_summary import FileSummary, ImportSummary
from desktopviz.core.import_worker import Handover
from desktopviz.core.store import StoreError
from desktopviz.core.store_ingest import ID_COLUMN, ROW_COLUMNS, label_set_id, trace_id
from desktopviz.core.store_rollup import Hit, execute_rollups

__all__ = ["REJECTED", "KeyedWriter"]

# What a batch insert can raise for one bad record (the batch is rolled back and retried record by record).
REJECTED = (StoreError, OverflowError, UnicodeEncodeError, sqlite3.Error)
_CHUNK = 500  # digests per IN (...) look-up

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


class KeyedWriter:
    """Writes the keyed batches of one file through an :class:`ImportWriter` (its store,
    import row and counts); :meth:`close` at the end of the file."""

    def __init__(self, writer: ImportWriter) -> None:
        self.writer = writer
        self.conn: sqlite3.Connection = writer.store.conn
        self.label_texts: dict[int, str] = {}  # what the reader sent for its local ids
        self.trace_texts: dict[int, str] = {}
        self.key_values: dict[int, tuple[Any, ...]] = {}
        self._trace_hits: dict[int, tuple[Hit, ...]] = {}
        self._lid: dict[Any, Any] = {None: None, 0: 0}  # local label-set id -> the store's
        self._tid: dict[Any, Any] = {None: None}
        self._in_table: set[int] = set()  # local key ids in the keys table
        self._clear_keys = False
        self.close()  # an earlier file's keys

    def close(self) -> None:
        """Drop the temporary tables (at the end of the file)."""
        if not self.conn.in_transaction:
            for table in (KEYS_TABLE, ROWS_TABLE):
                self.conn.execute(f"DROP TABLE IF EXISTS temp.{table}")
        self._in_table.clear()

    def accept(self, b: KeyedBatch) -> None:
        """Take note of a batch's new texts and keys (every batch, whether written here or not)."""
        if b.reset:
            self.label_texts.clear()
            self.trace_texts.clear()
            self.key_values.clear()
            self._trace_hits.clear()
            self._forget()
        self.label_texts.update(b.new_labels)
        for tid, text, hits in b.new_traces:
            self.trace_texts[tid] = text
            self._trace_hits[tid] = hits
        self.key_values.update(b.new_keys)

    def take(self, item: Handover, fs: FileSummary, summary: ImportSummary) -> bool:
        """Count a handover's records and skipped lines in the file's summary, and store its
        batch if every record is new and the store takes them (True); False: the caller
        stores :meth:`rows` through the store's insert, which sorts out duplicates and
        refused records."""
        for issue in item.issues:
            fs.skipped += 1
            summary.add_issue(issue)
        b = item.batch
        fs.records_read += item.read
        self.accept(b)
        if not b.n or b.bad_traces or not self.all_new(b):
            return False
        done = self.writer.counts
        counts = {
            "records_read": fs.records_read - done["records_read"],
            "skipped": fs.skipped - done["skipped"],
            "imported": b.n,
            "duplicates": 0,
        }
        try:
            self.write(b, counts)
        except REJECTED:
            return False  # rolled back; the store's insert will find the record it refuses
        fs.flow_logs += b.n
        fs.imported += b.n
        return True

    def _forget(self) -> None:
        """Forget the mapped ids and the keys table's content (after a rollback they may not exist)."""
        self._lid = {None: None, 0: 0}
        self._tid = {None: None}
        self._in_table.clear()
        self._clear_keys = True

    def rows(self, b: KeyedBatch) -> list[tuple[Any, ...]]:
        """The batch's records (FIELDS order), for the store's own insert."""
        return b.rows(self.label_texts, self.trace_texts, self.key_values)

    def all_new(self, b: KeyedBatch) -> bool:
        """Whether no record of the batch is in the store or twice in the batch (False:
        let :meth:`ImportWriter.unseen` sort them out). A start time with no digest stored
        at all needs no look-up of its digests."""
        w = self.writer
        if not b.unique or w._pending or w._legacy:
            return False
        c = self.conn
        keys = b.sorted_keys
        for start, lo, hi in b.starts:
            if c.execute("SELECT 1 FROM import_digests WHERE start_time = ? LIMIT 1", (start,)).fetchone():
                for i in range(lo, hi, _CHUNK):
                    part = [h for _, h in keys[i : min(hi, i + _CHUNK)]]
                    sql = (
                        "SELECT 1 FROM import_digests WHERE start_time = ? AND hash IN "
                        f"({','.join('?' * len(part))}) LIMIT 1"
                    )
                    if c.execute(sql, (start, *part)).fetchone():
                        return False
        return True

    def write(self, b: KeyedBatch, counts: dict[str, int]) -> None:
        """Store a batch whose records are all new with its digests, adding ``counts`` to the
        file's, in one transaction; raises (storing nothing) what the store's insert raises."""
        w = self.writer
        if w.store.readonly:
            raise StoreError(f"{w.store.path}: opened read-only")
        c = self.conn
        totals = {k: w.counts[k] + counts.get(k, 0) for k in COUNT_COLUMNS}
        c.execute("BEGIN IMMEDIATE")
        try:
            self._insert(b)
            c.execute(
                "UPDATE imports SET records_read = ?, imported = ?, duplicates = ?, skipped = ? WHERE id = ?",
                (*(totals[k] for k in COUNT_COLUMNS), w.import_id),
            )
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            self._forget()
            raise
        w.counts = totals

    def _map_ids(self, b: KeyedBatch) -> None:
        c = self.conn
        lid = self._lid
        for local in b.labels_used:
            if local not in lid:
                lid[local] = label_set_id(c, self.label_texts[local])
        tid = self._tid
        for local in b.traces_used:
            if local not in tid:
                tid[local] = trace_id(c, self.trace_texts[local], self._trace_hits[local])

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

    def _insert(self, b: KeyedBatch) -> None:
        """The batch's rows, digests and rollups (the caller holds the transaction)."""
        c = self.conn
        self._map_ids(b)
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
