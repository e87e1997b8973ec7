"""The writer's side of a parallel import: keyed batches (:mod:`import_keyed`) into the store.

A :class:`KeyedWriter` keeps what the reader process sent once: the texts of its local
label-set and trace ids (a trace's entries numbered as hit keys, as the reader numbers them),
each key's values, each rollup flow's and group's values. It maps local label-set and trace
ids to the store's, looking a text up (or inserting it, with its ``trace_hits``) the first
time it is used, in the order the store's own insert would (so the ids are the same), and a
local key to the store's ``flow_keys`` id through the store's own
:class:`~desktopviz.core.store_keys.KeyIndex` (``FlowStore.keys``: the instance its insert
uses, so both share one cache), and a local rollup flow to the store's ``flow_groups`` id
through ``FlowStore.groups`` likewise, remembering them for the next batches.

A batch whose records are all new (:meth:`KeyedWriter.all_new`: no digest stored, none twice)
is written in one transaction, exactly as :meth:`import_db.ImportWriter.write` would store
its rows: one ``executemany`` of eleven values a record (id, the store's key id, the nine
varying integers) into ``flow_data``, the digests (:func:`import_db.record_digest_groups`),
the rollup rows: the batch's sums (:func:`import_sums.keyed_sums`, per hour and local flow
or group, re-keyed by group id once per batch) made into the rows of every stored level by
the store's :func:`~desktopviz.core.store_rollup.level_rows` (rows of integers: level,
bucket, group id, sums) and the 5-minute series rows, and the file's counts. Anything else (a
duplicate, a trace the store refuses, a value SQLite cannot take) goes through the store's
own insert with :meth:`KeyedBatch.rows` (the caller does that when :meth:`KeyedWriter.take`
says no). A rolled-back batch may have inserted label sets, traces and keys that are gone
with it: the writer then forgets every id it mapped (and the store's key and group caches).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from desktopviz.core.import_complete import DigestCompleter
from desktopviz.core.import_db import COUNT_COLUMNS, COUNTS_SQL, ImportWriter
from desktopviz.core.import_digest import DIGEST_SIZE, unpack_digests
from desktopviz.core.import_keyed import _KDL, _KPOL, _KSL, KEY_FIELDS, KeyedBatch
from desktopviz.core.import_summary import FileSummary, ImportSummary
from desktopviz.core.import_sums import info_table, keyed_sums
from desktopviz.core.import_worker import Handover
from desktopviz.core.store import StoreError
from desktopviz.core.store_ingest import label_set_id, trace_id
from desktopviz.core.store_keys import KEY_COLUMNS, insert_data, rollback
from desktopviz.core.store_rollup import (
    Hit,
    HitKeys,
    HitMemo,
    IntFlows,
    execute_rollups,
    level_rows,
    merge_flow,
)

__all__ = ["REJECTED", "KeyedWriter"]

# What a batch insert can raise for one bad record (the batch is rolled back and retried record by record).
REJECTED = (StoreError, OverflowError, UnicodeEncodeError, sqlite3.Error)

# the reader's key values are the store's flow_keys columns, in their order, once ids are mapped
assert len(KEY_COLUMNS) == len(KEY_FIELDS)
assert (KEY_COLUMNS[_KSL], KEY_COLUMNS[_KDL], KEY_COLUMNS[_KPOL]) == (
    "source_labels_id",
    "dest_labels_id",
    "trace_id",
)


class LazyDigests(Sequence[bytes]):
    """A start time's digests in :func:`pack_digests`' form, cut into a list only when read
    (:meth:`ImportWriter.stored` reads none for a start time the store holds no digest of:
    in a file read in time order, all but a batch's first one or two)."""

    def __init__(self, packed: bytes | list[bytes]) -> None:
        self._packed = packed
        self._list: list[bytes] | None = None

    def _digests(self) -> list[bytes]:
        if self._list is None:
            self._list = unpack_digests(self._packed)
        return self._list

    def __len__(self) -> int:
        return len(self._packed) // DIGEST_SIZE if type(self._packed) is bytes else len(self._packed)

    def __getitem__(self, i: Any) -> Any:
        return self._digests()[i]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._digests())


class KeyedWriter:
    """Writes the keyed batches of one file through an :class:`ImportWriter` (its store,
    import row and counts)."""

    def __init__(self, writer: ImportWriter) -> None:
        self.writer = writer
        self.conn: sqlite3.Connection = writer.store.conn
        self.label_texts: dict[int, str] = {}  # what the reader sent for its local ids
        self.trace_texts: dict[int, str] = {}
        self.key_values: dict[int, tuple[Any, ...]] = {}
        self._trace_hits: dict[int, tuple[Hit, ...]] = {}
        self.flow_values: dict[int, tuple[Any, ...]] = {}  # flow id -> rollup flow key (local label ids)
        self.group_values: dict[int, tuple[str, int]] = {}  # group id -> (reporter, local trace id)
        self.key_info: dict[int, tuple[int, int | None, int]] = {}  # local key id -> (flow, group, series id)
        self.series_names: dict[int, tuple[Any, Any]] = {}  # series id -> (action, reporter)
        self._hit_keys = HitKeys()  # numbered as the reader numbers them (the same traces in the same order)
        self._trace_hids: dict[int, tuple[int, ...]] = {}  # local trace id -> its entries' hit keys
        self._lid: dict[Any, Any] = {None: None, 0: 0}  # local label-set id -> the store's
        self._tid: dict[Any, Any] = {None: None}
        self._kid: dict[int, int] = {}  # local key id -> the store's flow_keys id
        self._flow: dict[int, int] = {}  # flow id -> the store's flow_groups id
        self._hit_memo: HitMemo = {}  # reporter -> hit key -> the store's hit_groups id
        secret = writer.secret
        # version 3: the batches come without record digests; they are computed here
        self._completer = DigestCompleter(secret) if secret is not None else None
        self.batch: KeyedBatch | None = None  # the last batch taken, its digests complete
        self._info_table: Any = None  # key_info as an array (import_sums.info_table), when made

    def accept(self, b: KeyedBatch) -> None:
        """Take note of a batch's new texts and keys (every batch, whether written here or not)."""
        if b.reset:
            self.label_texts.clear()
            self.trace_texts.clear()
            self.key_values.clear()
            self._trace_hits.clear()
            self.flow_values.clear()
            self.group_values.clear()
            self.key_info.clear()
            self.series_names.clear()
            self._hit_keys = HitKeys()
            self._trace_hids.clear()
            self._forget()
        self.label_texts.update(b.new_labels)
        for tid, text, hits in b.new_traces:
            self.trace_texts[tid] = text
            self._trace_hits[tid] = hits
            self._trace_hids[tid] = self._hit_keys.of(hits)
        self.key_values.update(b.new_keys)
        self.flow_values.update(b.new_flows)
        self.group_values.update(b.new_groups)
        self.key_info.update(b.new_info)
        self.series_names.update(b.new_series)
        if b.new_info or b.reset:
            self._info_table = None  # (made again when next needed)

    def take(self, item: Handover, fs: FileSummary, summary: ImportSummary) -> bool:
        """Count a handover's records and skipped lines in the file's summary, and store its
        batch if every record is new and the store takes them (True); False: the caller
        stores :meth:`rows` through the store's insert, which sorts out duplicates and
        refused records."""
        for issue in item.issues:
            fs.skipped += 1
            summary.add_issue(issue)
        # (self.batch: what the caller stores through the store's insert if not here)
        b = self.batch = self.complete(item.batch)
        fs.records_read += item.read
        self.accept(b)
        if not b.n or b.bad_traces:
            return False
        done = self.writer.counts
        counts = {
            "records_read": fs.records_read - done["records_read"],
            "skipped": fs.skipped - done["skipped"],
            "imported": b.n,
            "duplicates": 0,
        }
        try:
            if not self.write(b, counts):
                return (
                    False  # another import stored some of these meanwhile: the store's insert sorts them out
                )
        except REJECTED:
            return False  # rolled back; the store's insert will find the record it refuses
        fs.flow_logs += b.n
        fs.imported += b.n
        return True

    def complete(self, b: KeyedBatch) -> KeyedBatch:
        """The batch with its record digests (version 3: computed here, :mod:`import_complete`;
        earlier versions: the reader's). Every batch of the reader goes through here once, in
        order, before :meth:`accept`."""
        return b if self._completer is None else self._completer.complete(b)

    def _forget(self) -> None:
        """Forget the mapped ids (after a rollback, or a reader numbering from scratch)."""
        self._lid = {None: None, 0: 0}
        self._tid = {None: None}
        self._kid = {}
        self._flow = {}
        self._hit_memo = {}

    def rows(self, b: KeyedBatch) -> list[tuple[Any, ...]]:
        """The batch's records (FIELDS order), for the store's own insert."""
        return b.rows(self.label_texts, self.trace_texts, self.key_values)

    def all_new(self, b: KeyedBatch) -> bool:
        """Whether no record of the batch is in the store or twice in the batch (False:
        let :meth:`ImportWriter.unseen` sort them out)."""
        w = self.writer
        if not b.unique or w._pending or w._legacy:
            return False
        return not w.stored((start, LazyDigests(digests)) for start, digests in b.by_start)

    def write(self, b: KeyedBatch, counts: dict[str, int]) -> bool:
        """Store a batch whose records are all new with its digests, adding ``counts`` to the
        file's, in one transaction; False (storing nothing) when a record is not new
        (:meth:`all_new`, checked inside the transaction, so another import of the same file
        writing meanwhile cannot make both store it); raises (storing nothing) what the
        store's insert raises."""
        w = self.writer
        store = w.store
        if store.readonly:
            raise StoreError(f"{store.path}: opened read-only")
        c = self.conn
        totals = {k: w.counts[k] + counts.get(k, 0) for k in COUNT_COLUMNS}
        c.execute("BEGIN IMMEDIATE")
        try:
            if not self.all_new(b):
                c.execute("ROLLBACK")
                return False
            self._insert(b)
            c.execute(COUNTS_SQL, (*(totals[k] for k in COUNT_COLUMNS), w.import_id))
            c.execute("COMMIT")
        except BaseException:
            # the store's caches may hold keys and groups of the rolled-back batch
            rollback(c, self._forget, store.keys.reset, store.groups.reset)
            raise
        w.counts = totals
        return True

    def _map_ids(self, b: KeyedBatch) -> None:
        """The store's ids of the batch's label sets, traces and keys, in the order the store
        meets them (label sets and traces as the keys name them, then the keys)."""
        c = self.conn
        lid = self._lid
        for local in b.labels_used:
            if local not in lid:
                lid[local] = label_set_id(c, self.label_texts[local])
        tid = self._tid
        for local in b.traces_used:
            if local not in tid:
                tid[local] = trace_id(c, self.trace_texts[local], self._trace_hits[local])
        kid = self._kid
        new = [k for k in b.keys_used if k not in kid]
        if new:
            key_id = self.writer.store.keys.key_id
            values = self.key_values
            for k in new:
                vals = list(values[k])
                vals[_KSL], vals[_KDL], vals[_KPOL] = lid[vals[_KSL]], lid[vals[_KDL]], tid[vals[_KPOL]]
                kid[k] = key_id(tuple(vals))
        flow = self._flow
        new = [f for f in b.flows_used if f not in flow]
        if new:
            group_id = self.writer.store.groups.flows.id_of
            for f in new:
                fk = self.flow_values[f]
                flow[f] = group_id((*fk[:-2], lid[fk[-2]], lid[fk[-1]]))

    def _insert(self, b: KeyedBatch) -> None:
        """The batch's rows, digests and rollups (the caller holds the transaction)."""
        c = self.conn
        self._map_ids(b)
        n = b.n
        if not n:
            return
        first = (c.execute("SELECT max(id) FROM flow_data").fetchone()[0] or 0) + 1
        ids = range(first, first + n)
        insert_data(c, zip(ids, map(self._kid.__getitem__, b.kids), *b.ints, strict=True))
        self.writer.record_groups(b.by_start)
        flow, group = self._flow, self.group_values
        if b.columns is not None and self._info_table is None:
            self._info_table = info_table(self.key_info)
        local_flows, local_groups, series = keyed_sums(
            b.kids, b.ints, self.key_info, self.series_names, b.columns, self._info_table
        )
        flows: IntFlows = {}
        get = flows.get
        for (t, f), acc in local_flows.items():
            k = (t, flow[f])
            had = get(k)
            if had is None:
                flows[k] = acc
            else:  # two local flows the store keeps as one group (values Python tells apart)
                merge_flow(had, acc)
        groups = {(t, *group[g]): acc for (t, g), acc in local_groups.items()}
        hit_ids = self.writer.store.groups.hits
        # the flow and group sums are per hour, the finest stored level; series_rollup's
        # rows come from keyed_sums' 5-minute series sums
        frows, hrows = level_rows(flows, groups, self._trace_hids, self._hit_keys, hit_ids, self._hit_memo)
        execute_rollups(c, frows, hrows, [(*k, *v) for k, v in series.items()])
