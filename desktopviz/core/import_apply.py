"""The writer's side of a prepared batch (:mod:`import_prepare`): map ids, check, upsert.

A :class:`PreparedWriter` keeps the texts of the reader process's local label-set and trace
ids (sent once each) and maps those ids to the store's, looking a text up (or inserting it,
with its ``trace_hits``) the first time it is used, in the order the store's own insert
would (so the ids are the same). A batch whose records are all new (:meth:`all_new`) is
written in one transaction with its digests and the file's counts, exactly as
:meth:`import_db.ImportWriter.write` would store its rows: the flow rows bound column by
column (a column with one value in every row written into the statement as a literal when
that stores the same value), the rollup rows upserted as the reader summed them. Anything
else (a duplicate, a trace the store refuses, an error) goes through the store's own insert
with :meth:`PreparedBatch.rows`.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from desktopviz.core.flowlog import FIELDS
from desktopviz.core.import_db import COUNT_COLUMNS, ImportWriter
from desktopviz.core.import_prepare import PreparedBatch, literal
from desktopviz.core.import_summary import FileSummary, ImportSummary
from desktopviz.core.import_worker import Handover
from desktopviz.core.store import StoreError
from desktopviz.core.store_ingest import ROW_COLUMNS, label_set_id, trace_id
from desktopviz.core.store_rollup import Hit, execute_rollups

__all__ = ["REJECTED", "PreparedWriter"]

# What a batch insert can raise for one bad record (the batch is rolled back and retried record by record).
REJECTED = (StoreError, OverflowError, UnicodeEncodeError, sqlite3.Error)

_I = {n: i for i, n in enumerate(FIELDS)}
_SL, _DL, _POL = _I["source_labels"], _I["dest_labels"], _I["policies"]
_CHUNK = 500  # digests per IN (...) look-up


class PreparedWriter:
    """Writes prepared batches of one file through an :class:`ImportWriter` (its store,
    import row and counts)."""

    def __init__(self, writer: ImportWriter) -> None:
        self.writer = writer
        self.conn: sqlite3.Connection = writer.store.conn
        self.label_texts: dict[int, str] = {}
        self.trace_texts: dict[int, str] = {}
        self._trace_hits: dict[int, tuple[Hit, ...]] = {}
        self._lid: dict[Any, Any] = {None: None, 0: 0}  # local label-set id -> the store's
        self._tid: dict[Any, Any] = {None: None}
        self._sql: dict[tuple[Any, ...], str] = {}

    def accept(self, b: PreparedBatch) -> None:
        """Take note of a batch's new texts (every batch, whether written here or not)."""
        if b.reset:
            self.label_texts.clear()
            self.trace_texts.clear()
            self._trace_hits.clear()
            self._forget()
        self.label_texts.update(b.new_labels)
        for tid, text, hits in b.new_traces:
            self.trace_texts[tid] = text
            self._trace_hits[tid] = hits

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
        """Forget the mapped ids (after a rollback they may not exist)."""
        self._lid = {None: None, 0: 0}
        self._tid = {None: None}

    def rows(self, b: PreparedBatch) -> list[tuple[Any, ...]]:
        return b.rows(self.label_texts, self.trace_texts)

    def all_new(self, b: PreparedBatch) -> bool:
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

    def write(self, b: PreparedBatch, counts: dict[str, int]) -> None:
        """Store a batch whose records are all new with its digests, adding ``counts`` to the
        file's, in one transaction; raises (storing nothing) what the store's insert raises."""
        w = self.writer
        if w.store.readonly:
            raise StoreError(f"{w.store.path}: opened read-only")
        c = self.conn
        totals = {k: w.counts[k] + counts.get(k, 0) for k in COUNT_COLUMNS}
        c.execute("BEGIN IMMEDIATE")
        try:
            self._insert(b)  # the rows, their digests and rollups
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

    def _map_ids(self, b: PreparedBatch) -> None:
        c = self.conn
        lid = self._lid
        for local in b.labels_used:
            if local not in lid:
                lid[local] = label_set_id(c, self.label_texts[local])
        tid = self._tid
        for local in b.traces_used:
            if local not in tid:
                tid[local] = trace_id(c, self.trace_texts[local], self._trace_hits[local])

    def _insert(self, b: PreparedBatch) -> None:
        c = self.conn
        self._map_ids(b)
        n = b.n
        if not n:
            return
        lget, tget = self._lid.__getitem__, self._tid.__getitem__
        bound: list[Any] = []
        shape: list[Any] = []  # what the statement depends on: the columns bound, the literals
        for i, col in enumerate(b.cols):
            if col is None:
                continue
            get = lget if i in (_SL, _DL) else tget if i == _POL else None
            if type(col) is list:  # one value in every row
                value = col[0] if get is None else get(col[0])
                lit = literal(value)
                if lit is not None:
                    shape.append((i, lit))
                    continue
                col = [value] * n
            elif get is not None:
                col = list(map(get, col))
            shape.append(i)
            bound.append(col)
        key = tuple(shape)
        sql = self._sql.get(key)
        if sql is None:
            if len(self._sql) > 256:  # literals that change from batch to batch
                self._sql.clear()
            cols = ["id"] + [ROW_COLUMNS[1 + (s if type(s) is int else s[0])] for s in shape]
            values = ["?"] + ["?" if type(s) is int else s[1] for s in shape]
            sql = self._sql[key] = f"INSERT INTO flow_rows ({', '.join(cols)}) VALUES ({', '.join(values)})"
        first = (c.execute("SELECT max(id) FROM flow_rows").fetchone()[0] or 0) + 1
        c.executemany(sql, zip(range(first, first + n), *bound, strict=True))
        f = b.frows
        frows: Any = zip(*f[:10], map(lget, f[10]), map(lget, f[11]), *f[12:], strict=True) if f else ()
        execute_rollups(c, frows, b.hrows, b.srows)
        c.executemany("INSERT OR IGNORE INTO import_digests (start_time, hash) VALUES (?, ?)", b.sorted_keys)
