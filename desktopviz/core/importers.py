"""Import real flow logs (Calico JSON, Hubble JSON) into a flow store.

    summary = import_files(["flows.log", "hubble.json.gz"], "cluster.sqlite")

Each file's format is detected from its content (:mod:`import_read`), or forced with
``fmt="calico"|"hubble"``. Calico documents are normalised record by record
(:mod:`import_calico`); Hubble events are aggregated into per-interval flow logs
(:mod:`import_hubble`). Records are written in batches, one transaction each, together with
their content digests (:mod:`import_db`): a malformed record is reported with its line and
skipped, a record already in the store is counted as a duplicate, and an interrupted import
leaves the store consistent. ``progress`` is called after each batch; ``cancel()`` returning
True (or Ctrl-C) stops at the next batch with ``summary.cancelled``.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

from desktopviz.core.flowlog import FlowLog
from desktopviz.core.import_apply import REJECTED, KeyedWriter
from desktopviz.core.import_db import ImportWriter, Key, StoredMeanwhile
from desktopviz.core.import_digest import digester, row_hasher, seen_key
from desktopviz.core.import_hubble_file import HubbleSteps
from desktopviz.core.import_prepare import normalise
from desktopviz.core.import_read import (
    ImportFileError,
    Issue,
    Source,
    detect_format,
    estimated_content_bytes,
    is_json_lines,
    iter_records,
)
from desktopviz.core.import_summary import FileSummary, ImportProgress, ImportSummary
from desktopviz.core.import_worker import Handover, LineItems, ParallelItems, _handovers, parallel_pays
from desktopviz.core.store import FlowStore, StoreError
from desktopviz.core.store_bulk import bulk_load, restore_indexes

__all__ = [
    "FORMATS",
    "FileSummary",
    "ImportFileError",
    "ImportProgress",
    "ImportSummary",
    "Issue",
    "import_files",
    "sniff_file",
]

FORMATS = ("auto", "calico", "hubble")
BATCH = 5000
# Records per batch from the reader process (when ``batch`` is not given): a batch's hour and
# day rollup rows are upserted once per batch, and over 20,000 records (about three hours of
# a cluster's logs) there are four times fewer of them than over 5,000; the writer spends 9 %
# fewer instructions a record (cachegrind), 1,000,000 records import 10-15 % faster, and a
# cancel still takes effect within a second.
PARALLEL_BATCH = 20_000
# Bulk loading (indexes rebuilt at the end) by default from this much (uncompressed) input, when
# the input is at least as large as the store: ~2 KB of JSON per stored flow log.
BULK_MIN_BYTES = 64 * 1024 * 1024
BULK_BYTES_PER_ROW = 2048
BULK_DROP_INDEXES = True


ProgressFn = Callable[[ImportProgress], None]
CancelFn = Callable[[], bool]


class _Cancelled(Exception):
    pass


def sniff_file(path: str | Path) -> str | None:
    """'calico' or 'hubble' from a file's content, None if it does not tell."""
    return detect_format(Source(path))


def _open_store(db: str | Path | FlowStore) -> tuple[FlowStore, bool]:
    if isinstance(db, FlowStore):
        return db, False
    return FlowStore(db), True


class _FileImport(HubbleSteps):
    """The import of one file into an open store (Hubble input: :class:`HubbleSteps`)."""

    def __init__(
        self,
        store: FlowStore,
        source: Source,
        fmt: str,
        summary: ImportSummary,
        fs: FileSummary,
        batch: int | None,
        check: Callable[[int], None],
    ) -> None:
        self.store, self.source, self.summary, self.fs = store, source, summary, fs
        self.batch = batch or BATCH  # records per transaction when read here
        self.reader_batch = batch or PARALLEL_BATCH  # and per batch from the reader process
        self.writer = ImportWriter(store, str(source.path), fmt)
        self._digester = digester(self.writer.secret) if self.writer.secret is not None else None
        self.check = check
        self.position: Callable[[], int] = source.position  # bytes of the file read so far
        self.keyed_writer: KeyedWriter | None = None

    def issue(self, where: str, message: str) -> None:
        self.fs.skipped += 1
        self.summary.add_issue(Issue(self.source.name, where, message))

    def _write(
        self, logs: Sequence[FlowLog | tuple[Any, ...]], hashes: Sequence[Key], counts: dict[str, int]
    ) -> None:
        self.writer.write(logs, hashes, counts)
        self.fs.flow_logs += len(logs)

    def calico(self, json_lines: bool, parallel: bool, keyed: bool = True) -> None:
        """Import Calico records; JSON lines are read by a second process when ``parallel``,
        else here, as keyed batches (``keyed``) or as rows for the store's own insert."""
        items: Iterable[Any]
        reader: LineItems | ParallelItems | None = None
        version = self.writer.digest_version
        if json_lines:
            if parallel:
                reader = ParallelItems(
                    self.source, batch=self.reader_batch, digest_version=version, secret=self.writer.secret
                )
                items = reader
            elif keyed:  # the reader process's batches, made here
                reader = LineItems(self.source, keyed=True, digest_version=version)
                items = (h for h, _ in _handovers(reader, self.reader_batch))
            else:
                reader = LineItems(self.source, digest_version=version, secret=self.writer.secret)
                items = reader
            self.position = reader.position
        else:
            items = iter_records(self.source, False)
        try:
            self._calico_items(items)
        finally:
            if isinstance(reader, ParallelItems):
                reader.close()  # a cancelled import ends the child now

    def _calico_items(self, items: Iterable[Any]) -> None:
        rows: list[tuple[Any, ...]] = []
        hashes: list[Key] = []
        wheres: list[str] = []
        fs = self.fs
        # version 3: digests made a batch at a time in _calico_batch (None until then)
        row_hash = None if self._digester else row_hasher(self.writer.digest_version, self.writer.secret)
        for item in items:
            if type(item) is Issue:
                fs.skipped += 1
                self.summary.add_issue(item)
                continue
            if type(item) is Handover:  # a batch prepared by the reader process
                if rows:  # (none: handovers come before any line read here)
                    self._calico_batch(rows, hashes, wheres)
                    rows, hashes, wheres = [], [], []
                self._handover(item)
                continue
            fs.records_read += 1
            if len(item) == 3:  # the fast path's (where, row, digest)
                where, row, digest = item
            else:
                where, obj = item
                got = normalise(obj)
                if type(got) is str:
                    self.issue(where, got)
                    continue
                row = got  # type: ignore[assignment]
                digest = row_hash(row) if row_hash else None
            rows.append(row)
            hashes.append(seen_key(row[0], digest))  # FIELDS[0] is start_time
            wheres.append(where)
            if len(rows) >= self.batch:
                self._calico_batch(rows, hashes, wheres)
                rows, hashes, wheres = [], [], []
        self._calico_batch(rows, hashes, wheres)

    def _handover(self, item: Handover) -> None:
        """A batch prepared by the reader process: stored as it is when all its records are
        new (:mod:`import_apply`), else through the store's insert like a batch read here."""
        if self.keyed_writer is None:
            self.keyed_writer = KeyedWriter(self.writer)
        if self.keyed_writer.take(item, self.fs, self.summary):
            self.check(self.fs.records_read)
        else:
            b = self.keyed_writer.batch or item.batch  # (taken: with its digests)
            self._calico_batch(self.keyed_writer.rows(b), b.row_keys(), b.where_texts())

    def _calico_batch(self, rows: list[tuple[Any, ...]], hashes: list[Key], wheres: list[str]) -> None:
        """Store a batch of records (value tuples in FIELDS order) that are not in the store yet
        (a digest still None is made here, for the whole batch at once)."""
        if self._digester is not None:
            hashes = self._digester.fill(rows, hashes)
        new = self.writer.unseen(hashes)
        keep = [i for i, n in enumerate(new) if n]
        dups = len(rows) - len(keep)
        fs = self.fs
        counts = {"records_read": fs.records_read, "skipped": fs.skipped}
        counts = {k: v - self.writer.counts[k] for k, v in counts.items()}
        counts.update(imported=len(keep), duplicates=dups)
        kept_logs = [rows[i] for i in keep]  # value tuples: the store reads them as they are
        kept_hashes = [hashes[i] for i in keep]
        try:
            self._write(kept_logs, kept_hashes, counts)
        except StoredMeanwhile:  # another import of the same records: they are duplicates now
            self.writer.forget(kept_hashes)
            self._calico_batch(rows, hashes, wheres)
            return
        except REJECTED:
            # record by record, the batch's duplicates too: a copy of a record the store
            # refuses is refused (and reported) in its turn, not counted as its duplicate
            self.writer.forget(kept_hashes)
            self._one_by_one(rows, hashes, wheres, dict(counts, imported=0, duplicates=0))
        else:
            fs.imported += len(keep)
            fs.duplicates += dups
        self.check(fs.records_read)

    def _one_by_one(
        self, logs: list[tuple[Any, ...]], hashes: list[Key], wheres: list[str], counts: dict[str, int]
    ) -> None:
        """A batch the store refused: store the records one by one and report the bad ones."""
        pending = dict(counts, imported=0)
        for log, h, where in zip(logs, hashes, wheres, strict=True):
            try:
                if not self.writer.unseen([h])[0]:  # stored already (by this batch, or another import)
                    raise StoredMeanwhile
                self._write([log], [h], dict(pending, imported=1))
            except StoredMeanwhile:
                self.writer.forget([h])
                pending["duplicates"] += 1
                self.fs.duplicates += 1
            except REJECTED as exc:
                self.writer.forget([h])
                self.issue(where, f"rejected by the store: {exc}")
                pending["skipped"] += 1
            else:
                self.fs.imported += 1
                pending = dict.fromkeys(pending, 0)
        if any(pending.values()):
            self._write([], [], pending)


def import_files(
    paths: Iterable[str | Path],
    db: str | Path | FlowStore,
    *,
    fmt: str = "auto",
    interval: int = 15,
    level: int = 2,
    batch: int | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    bulk: bool | None = None,
    parallel: bool | None = None,
    keyed: bool = True,
) -> ImportSummary:
    """Import flow-log files into the store at ``db`` (created if missing) or an open FlowStore.

    ``interval`` (seconds) and ``level`` (Calico aggregation level 0–3) apply to Hubble input.
    ``bulk`` loads with the store's indexes dropped and rebuilt at the end
    (:mod:`desktopviz.core.store_bulk`); by default when the input is large and at least as
    large as what the store holds. Raises ImportFileError for an unusable ``fmt``; problems with
    a file or a record are in the summary. StoreError if ``db`` is not a flow store.
    ``parallel`` reads Calico JSON lines in a second process (:mod:`import_worker`); by default
    for a bulk load when the machine has a core to spare (:func:`import_worker.parallel_pays`).
    Read here, Calico JSON lines go through the same keyed batches as from the reader
    process (:mod:`import_keyed`, :mod:`import_apply`: less than half the CPU time of rows for
    the store's own insert); ``keyed=False`` takes that insert, batch by batch (what the
    tests compare the keyed batches with). ``batch``: records per transaction (by default
    :data:`BATCH` for rows read here, :data:`PARALLEL_BATCH` for keyed batches)."""
    if fmt not in FORMATS:
        raise ImportFileError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    t0 = time.perf_counter()
    files = [Path(p) for p in paths]
    store, owned = _open_store(db)
    summary = ImportSummary(db_path=str(store.path))
    # Parsing makes millions of short-lived dicts and lists without cycles; the cyclic
    # collector's passes over them cost ~15 % of an import, so it is paused meanwhile.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        restore_indexes(store)  # left dropped by an interrupted bulk load
        stored = store.count()
        was_empty = stored == 0
        if bulk is None:
            size = estimated_content_bytes(files)
            bulk = size >= BULK_MIN_BYTES and size >= stored * BULK_BYTES_PER_ROW
        summary.bulk = bulk
        if parallel is None:
            parallel = bulk and parallel_pays()
        summary.parallel = parallel
        last: list[ImportProgress] = []  # the latest progress reported

        def report(p: ImportProgress) -> None:
            last[:] = [p]
            progress(p)  # type: ignore[misc]

        with bulk_load(store, drop_indexes=BULK_DROP_INDEXES) if bulk else nullcontext(None) as loading:
            for index, path in enumerate(files):
                if summary.cancelled:
                    break
                _import_one(
                    store,
                    path,
                    index,
                    len(files),
                    fmt,
                    interval,
                    level,
                    batch,
                    summary,
                    report if progress is not None else None,
                    cancel,
                    parallel,
                    keyed,
                )
            if loading is not None and loading.dropped and progress is not None and last:
                progress(replace(last[0], phase="indexing"))  # leaving the block rebuilds them
        if loading is not None:
            summary.reindex_seconds = loading.reindex_seconds
        if summary.total("flow_logs") and (was_empty or store.get_meta("source") is None):
            store.set_meta("source", "import")
        if summary.total("flow_logs"):
            store.set_meta("imported_at", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    finally:
        if gc_was_enabled:
            gc.enable()
        if owned:
            store.close()
    summary.seconds = time.perf_counter() - t0
    return summary


def _import_one(
    store: FlowStore,
    path: Path,
    index: int,
    n_files: int,
    fmt: str,
    interval: int,
    level: int,
    batch: int | None,
    summary: ImportSummary,
    progress: ProgressFn | None,
    cancel: CancelFn | None,
    parallel: bool = False,
    keyed: bool = True,
) -> None:
    fs = FileSummary(str(path), fmt)
    summary.files.append(fs)
    try:
        source = Source(path)
        json_lines = is_json_lines(source)
        kind = fmt if fmt != "auto" else detect_format(source, json_lines)
    except ImportFileError as exc:
        fs.status = "failed"
        summary.add_issue(Issue(path.name, "", str(exc).removeprefix(f"{path}: ")))
        return
    if kind is None:
        fs.status = "failed"
        summary.add_issue(
            Issue(
                path.name,
                "",
                "cannot tell the format (no Calico or Hubble record found); choose it with --format",
            )
        )
        return
    fs.format = kind

    def check(records: int) -> None:
        if progress is not None:
            progress(ImportProgress(index, n_files, str(path), job.position(), source.size, records))
        if cancel is not None and cancel():
            raise _Cancelled

    job = _FileImport(store, source, kind, summary, fs, batch, check)
    try:
        if kind == "calico":
            job.calico(json_lines, parallel, keyed)
        else:
            job.hubble(json_lines, interval, level)
    except (_Cancelled, KeyboardInterrupt):
        fs.status = "cancelled"
        summary.cancelled = True
    except StoreError:
        fs.status = "failed"
        job.writer.finish("failed")
        raise
    except StoredMeanwhile as exc:  # Hubble events another import stored meanwhile (Calico batches ask again)
        fs.status = "failed"
        summary.add_issue(Issue(path.name, "", f"{exc}; import the file again to add what it did not store"))
    job.writer.finish(fs.status)
    check_done = ImportProgress(index, n_files, str(path), source.size, source.size, fs.records_read)
    if progress is not None:
        progress(check_done)
