"""The steps of importing one Hubble file: events checked for duplicates, aggregated per
interval (:mod:`import_hubble`), and each closed interval written, a refused one log by log.

A mixin of the importer's per-file job (:mod:`desktopviz.core.importers`), kept apart to
keep that module short; it uses the job's writer, summaries, source, batch size and
progress check.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from desktopviz.core.flowlog import FlowLog
from desktopviz.core.import_apply import REJECTED
from desktopviz.core.import_calico import RecordError
from desktopviz.core.import_db import ImportWriter, Key, event_hash
from desktopviz.core.import_hubble import HubbleAggregator
from desktopviz.core.import_read import Issue, Source, iter_records
from desktopviz.core.import_summary import FileSummary, ImportSummary

__all__ = ["HubbleSteps"]


class HubbleSteps:
    """Hubble input for a per-file import job (which sets these attributes and methods)."""

    writer: ImportWriter
    source: Source
    summary: ImportSummary
    fs: FileSummary
    batch: int
    check: Callable[[int], None]

    def issue(self, where: str, message: str) -> None:  # pragma: no cover - the job's
        raise NotImplementedError

    def _write(
        self, logs: Sequence[FlowLog | tuple[Any, ...]], hashes: Sequence[Key], counts: dict[str, int]
    ) -> None:  # pragma: no cover - the job's
        raise NotImplementedError

    def hubble(self, json_lines: bool, interval: int, level: int) -> None:
        agg = HubbleAggregator(interval, level)
        chunk: list[tuple[str, Any]] = []
        pending = {"records_read": 0, "imported": 0, "duplicates": 0, "skipped": 0}
        for item in iter_records(self.source, json_lines):
            if type(item) is Issue:
                self.fs.skipped += 1
                pending["skipped"] += 1
                self.summary.add_issue(item)
                continue
            chunk.append(item)  # type: ignore[arg-type]
            if len(chunk) >= self.batch:
                self._hubble_chunk(agg, chunk, pending)
                chunk = []
        self._hubble_chunk(agg, chunk, pending)
        self._hubble_write(agg.drain(), pending)
        if any(pending.values()):
            self._write([], [], pending)

    def _hubble_write(
        self, intervals: list[tuple[list[FlowLog], list[Key], int]], pending: dict[str, int]
    ) -> None:
        for logs, digests, events in intervals:
            counts = dict(pending, imported=events)
            for k in pending:
                pending[k] = 0
            try:
                self._write(logs, digests, counts)
            except REJECTED:
                self.writer.forget(digests)
                self._hubble_one_by_one(logs, digests, counts)
            self.fs.imported += events

    def _hubble_one_by_one(self, logs: list[FlowLog], digests: list[Key], counts: dict[str, int]) -> None:
        """An interval the store refused (values out of SQLite's range...): store its logs one
        by one, report the bad ones, then mark its events seen."""
        for log in logs:
            try:
                self._write([log], [], {})
            except REJECTED as exc:
                self.summary.add_issue(
                    Issue(
                        self.source.name,
                        "",
                        f"flow log starting {log.start_time} rejected by the store: {exc}",
                    )
                )
        self.writer.unseen(digests)
        self._write([], digests, counts)

    def _hubble_chunk(
        self,
        agg: HubbleAggregator,
        chunk: list[tuple[str, Any]],
        pending: dict[str, int],
    ) -> None:
        fs = self.fs
        hashes = [(0, event_hash(obj)) for _, obj in chunk]  # events: no start time to key by
        new = self.writer.unseen(hashes)
        for (where, obj), h, is_new in zip(chunk, hashes, new, strict=True):
            fs.records_read += 1
            pending["records_read"] += 1
            if not is_new:
                fs.duplicates += 1
                pending["duplicates"] += 1
                continue
            try:
                reason = agg.add(obj, h)
            except (RecordError, TypeError, ValueError, AttributeError, OverflowError) as exc:
                self.writer.forget([h])
                pending["skipped"] += 1
                self.issue(
                    where, str(exc) if isinstance(exc, RecordError) else f"malformed Hubble flow ({exc})"
                )
                continue
            if reason is not None:
                self.writer.forget([h])
                fs.ignored += 1
                self.summary.ignored[reason] += 1
        self._hubble_write(agg.closed(), pending)
        self.check(fs.records_read)
