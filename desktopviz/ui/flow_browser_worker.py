"""The table model's store reads, all off the GUI thread: a query's first page and count, the
rows stored since the last look (with the newest rows and the store's time bounds), and pages
scrolled into view.

Why a worker for every read: the GUI thread never runs SQL while a simulation runs flat out.
CPython's sqlite3 gives up the GIL around each step of a query, and a GUI thread that gave it
up waits for a busy simulation thread to hand it back (up to the switch interval) once per
row: a 5 ms page read took 30-60 ms on the GUI thread (tests/perf/bench_ui_latency.py).

Each job opens its own read-only connection (SQLite connections belong to one thread), is
skipped if the model's generation moved on before it started, and registers its connection
so the model can interrupt it when the query changes.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Signal

from desktopviz.ui import flow_browser_data as data
from desktopviz.ui.flow_browser_data import PAGE, Anchors, Query


class WorkerSignals(QObject):
    page = Signal(int, int, object)  # generation, page number, rows
    count = Signal(int, object)  # generation, count
    loaded = Signal(int, object)  # generation, Loaded
    refreshed = Signal(int, object)  # generation, Delta
    failed = Signal(int, str, str)  # generation, kind of read, message
    finished = Signal()  # a job ended (read, skipped, interrupted or failed)


@dataclass(frozen=True)
class Loaded:
    """A query's first look: its snapshot (max_id set), first page, the store's time bounds."""

    query: Query
    rows: list[tuple[Any, ...]]
    bounds: tuple[int, int] | None


@dataclass(frozen=True)
class Delta:
    """Rows stored since a query's snapshot: how many match, their start times, the newest
    rows of the fresh snapshot (newest-first order only) and the store's time bounds."""

    query: Query  # the fresh snapshot (max_id moved on), or the old one if nothing was stored
    added: int
    lo: int | None
    hi: int | None
    top: list[tuple[Any, ...]]
    bounds: tuple[int, int] | None


def max_row_id(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT coalesce(max(id), 0) FROM flow_logs").fetchone()[0])


def load(conn: sqlite3.Connection, q: Query) -> Loaded:
    """The first page of a query over the store as it is now."""
    snap = replace(q, max_id=max_row_id(conn))
    rows = data.fetch_page(conn, snap, 0, PAGE, None, Anchors())
    return Loaded(snap, rows, data.time_bounds(conn))


def top_rows_wanted(base: int) -> int:
    """Rows to read from the top so that every cached page over the first PAGE view rows is
    whole (pages are PAGE rows from ``base``, the rows joined on top since the query loaded)."""
    return min(2 * PAGE, ((PAGE - 1 - base) // PAGE + 1) * PAGE + base)


def delta(conn: sqlite3.Connection, q: Query, newest_first: bool, base: int) -> Delta:
    """What joined query ``q`` since its snapshot. ``base``: rows already added on top before
    (for newest-first order the top rows returned fill whole pages after this delta)."""
    new_max = max_row_id(conn)
    bounds = data.time_bounds(conn)
    if q.max_id is not None and new_max <= q.max_id:
        return Delta(q, 0, None, None, [], bounds)
    fresh = replace(q, max_id=new_max)
    sql = f"SELECT count(*), min(start_time), max(start_time) FROM flow_logs {fresh.where_clause('id > ?')}"
    added, lo, hi = conn.execute(sql, fresh.args((q.max_id or 0,))).fetchone()
    top: list[tuple[Any, ...]] = []
    if newest_first and added:
        top = data.fetch_page(conn, fresh, 0, top_rows_wanted(base + added), None, Anchors())
    return Delta(fresh, int(added), lo, hi, top, bounds)


class PageJob(QRunnable):
    """One worker read on its own connection; cancelled jobs are skipped or interrupted.
    ``kind``: "load" (then "count" if the first page is full), "refresh", "page", "count"."""

    def __init__(self, model: Any, gen: int, kind: str, arg: Any) -> None:
        super().__init__()
        self.model, self.gen, self.kind, self.arg = model, gen, kind, arg
        self.signals = model._signals
        self.path = model._path

    def run(self) -> None:
        try:
            self._run()
        finally:
            self.signals.finished.emit()

    def _run(self) -> None:
        m = self.model
        if self.gen != m._gen or self.path is None:
            return
        try:
            conn = data.open_readonly(self.path)
        except Exception as exc:  # noqa: BLE001 - reported as a view error
            self.signals.failed.emit(self.gen, self.kind, str(exc))
            return
        m._running.add(conn)
        try:
            self._read(conn)
        except sqlite3.OperationalError as exc:
            if "interrupt" not in str(exc):
                self.signals.failed.emit(self.gen, self.kind, str(exc))
        except Exception as exc:  # noqa: BLE001
            self.signals.failed.emit(self.gen, self.kind, str(exc))
        finally:
            m._running.discard(conn)
            conn.close()

    def _read(self, conn: sqlite3.Connection) -> None:
        gen, emit = self.gen, self.signals
        if self.kind == "load":
            loaded = load(conn, self.arg)
            full = len(loaded.rows) == PAGE
            emit.loaded.emit(gen, loaded)
            if full and gen == self.model._gen:
                emit.count.emit(gen, data.count(conn, loaded.query))
        elif self.kind == "refresh":
            q, newest_first, base = self.arg
            emit.refreshed.emit(gen, delta(conn, q, newest_first, base))
        elif self.kind == "count":
            emit.count.emit(gen, data.count(conn, self.arg))
        else:
            page, q, total, anchors, start, length, base = self.arg
            rows = data.fetch_page(conn, q, start, length, total, anchors)
            emit.page.emit(gen, page, (base, start, rows))
