"""A table model over the flow store that never loads the whole table.

Rows are fetched in pages of :data:`PAGE` (see :mod:`desktopviz.ui.flow_browser_data` for
the keyset/offset plan), cached (LRU), and counted once per query. A page or count query is
first tried on the GUI thread with a budget of a few milliseconds; if SQLite needs longer it
is interrupted and run by a worker thread with its own read-only connection, and the rows
show "…" until it answers. ``refresh()`` picks up rows stored since the last look: with the
default newest-first order they are inserted at the top (``rowsInserted``), so the view can
keep the user's rows in place and selections (persistent indexes) follow their rows.

Signals:
    countChanged(int): the number of rows of the current query is known or changed.
    busyChanged(bool): a worker query started (True) or all finished (False).
    error(str): a query failed (message for the status bar).
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from dataclasses import replace
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QThreadPool,
    Signal,
)
from PySide6.QtGui import QBrush, QColor

from desktopviz.ui import flow_browser_data as data
from desktopviz.ui import theme
from desktopviz.ui.flow_browser_cells import LOADING, IdRole, RawRole, TableCells
from desktopviz.ui.flow_browser_data import PAGE, Anchors, Budget, Query
from desktopviz.ui.flow_browser_worker import PageJob, WorkerSignals

Index = QModelIndex | QPersistentModelIndex
BUDGET_MS = 5.0  # GUI-thread time a page or count query may take before a worker runs it
CACHE_PAGES = 64
__all__ = ["LOADING", "IdRole", "RawRole", "FlowTableModel"]


class FlowTableModel(TableCells, QAbstractTableModel):
    countChanged = Signal(int)
    busyChanged = Signal(bool)
    error = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._path: str | None = None
        self._conn: sqlite3.Connection | None = None
        self._columns: list[str] = list(data.DEFAULT_COLUMNS)
        self._query = Query()
        self._rows = 0  # rows shown (the count once known)
        self._total: int | None = None
        self._pages: OrderedDict[int, list[tuple[Any, ...]]] = OrderedDict()
        self._wanted: set[int] = set()
        self._anchors = Anchors()
        self._top_start: int | None = None  # start_time of the newest row (newest-first order)
        # Rows stored since the query was loaded and shown above the cached ones: cached page
        # p holds view rows from p * PAGE + _base, so new rows on top keep the cache (and no
        # page is read again five times a second while a simulation runs). Pages fetched
        # while they reached above the top are padded with None and dropped on a shift.
        self._base = 0
        self._padded: set[int] = set()
        self._gen = 0
        self._counts: dict[tuple[str, tuple[Any, ...], int | None], int] = {}
        self._running: set[sqlite3.Connection] = set()
        self._pending = 0
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._signals = WorkerSignals(self)
        self._signals.page.connect(self._on_page)
        self._signals.count.connect(self._on_count)
        self._signals.failed.connect(self._on_failed)
        self.budget_ms = BUDGET_MS
        self.deny_brush = QBrush(QColor(217, 54, 54, 38))
        self._action_brushes = {True: QBrush(theme.DENIED), False: QBrush(theme.ALLOWED)}
        self.clear_cells()  # cell texts per flow-log id (see flow_browser_cells)

    # -- configuration ------------------------------------------------------------------
    def set_path(self, path: str | None) -> None:
        """Read this store (None: show nothing). Raises StoreError for a file that is not one."""
        from desktopviz.core.store import FlowStore

        self._cancel()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._path = None
        self.clear_cells()  # another database reuses the ids
        if path:
            self._conn = FlowStore(path, create=False, readonly=True).conn
            self._path = str(path)
        self._reload()

    def set_query(self, where: str, params: tuple[Any, ...] | list[Any] = ()) -> None:
        """Show the rows matching a parameterised WHERE fragment over flow_logs."""
        q = Query(where, tuple(params), self._query.sort, self._query.descending, self._query.max_id)
        if q != self._query:
            self._query = q
            self._reload()

    def query(self) -> Query:
        return self._query

    def set_columns(self, columns: list[str]) -> None:
        cols = [c for c in columns if c in data.ALL_COLUMNS] or list(data.DEFAULT_COLUMNS)
        if cols != self._columns:
            self.beginResetModel()
            self._columns = cols
            self.clear_cells()
            self.endResetModel()

    def columns(self) -> list[str]:
        return list(self._columns)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort in SQL; only indexed columns sort (others keep the current order)."""
        if not 0 <= column < len(self._columns) or self._columns[column] not in data.SORTABLE:
            return
        desc = order == Qt.SortOrder.DescendingOrder
        q = Query(self._query.where, self._query.params, self._columns[column], desc, self._query.max_id)
        if q != self._query:
            self._query = q
            self._reload()

    def sort_column(self) -> tuple[str, bool]:
        return self._query.sort, self._query.descending

    def newest_first(self) -> bool | None:
        """True/False when sorted by time (newest at the top / bottom), None otherwise."""
        return self._query.descending if self._query.sort == "start_time" else None

    # -- loading ------------------------------------------------------------------------
    def _cancel(self) -> None:
        self._gen += 1
        for conn in list(self._running):
            conn.interrupt()
        self._wanted.clear()

    def _max_row_id(self) -> int:
        assert self._conn is not None
        return int(self._conn.execute("SELECT coalesce(max(id), 0) FROM flow_logs").fetchone()[0])

    def _reload(self) -> None:
        self.beginResetModel()
        self._cancel()
        self._clear_pages()
        self._top_start = None
        self._rows, self._total = 0, None
        if self._conn is not None:
            try:
                self._query = replace(self._query, max_id=self._max_row_id())
                self._start_count()
                if self._total is None:  # show the first page while the worker counts
                    rows = self._fetch_now(0, PAGE)
                    if rows is not None:
                        self._store_page(0, rows)
                        self._rows = len(rows)
            except sqlite3.Error as exc:
                self.error.emit(f"flow logs: {exc}")
        self.endResetModel()
        if self._total is not None:
            self.countChanged.emit(self._total)

    def _count_key(self) -> tuple[str, tuple[Any, ...], int | None]:
        return (self._query.where, self._query.params, self._query.max_id)

    def _start_count(self) -> None:
        key = self._count_key()
        if key in self._counts:
            self._total = self._rows = self._counts[key]
            return
        assert self._conn is not None
        ok, n = Budget(self._conn, self.budget_ms).run(data.count, self._query)
        if ok:
            self._counts[key] = n
            self._total = self._rows = n
        else:
            self._submit("count", self._query)

    def _submit(self, kind: str, arg: Any) -> None:
        self._pending += 1
        if self._pending == 1:
            self.busyChanged.emit(True)
        self._pool.start(PageJob(self, self._gen, kind, arg))

    def _done(self) -> None:
        self._pending = max(0, self._pending - 1)
        if self._pending == 0:
            self.busyChanged.emit(False)

    def _fetch_now(self, start: int, length: int) -> list[tuple[Any, ...]] | None:
        assert self._conn is not None
        ok, rows = Budget(self._conn, self.budget_ms).run(
            data.fetch_page, self._query, start, length, self._total, self._anchors
        )
        return rows if ok else None

    def _clear_pages(self) -> None:
        self._pages.clear()
        self._padded.clear()
        self._anchors = Anchors()
        self._base = 0

    def _span(self, page: int) -> tuple[int, int, int]:
        """(first view row, row count, padding) of a cached page."""
        start = page * PAGE + self._base
        pad = max(0, -start)
        end = start + PAGE if self._total is None else min(start + PAGE, self._total)
        return start + pad, max(0, end - start - pad), pad

    def _store_page(self, page: int, rows: list[tuple[Any, ...]]) -> None:
        start, _, pad = self._span(page)
        self._pages[page] = [None] * pad + rows if pad else rows  # type: ignore[operator]
        (self._padded.add if pad else self._padded.discard)(page)
        self._pages.move_to_end(page)
        while len(self._pages) > CACHE_PAGES:
            self._padded.discard(self._pages.popitem(last=False)[0])
        if rows:
            self._anchors.add(start, data.row_key(self._query, rows[0]))
            self._anchors.add(start + len(rows) - 1, data.row_key(self._query, rows[-1]))
            if start == 0 and self.newest_first():
                self._top_start = data.raw_value(rows[0], "start_time")

    def _page(self, page: int) -> list[tuple[Any, ...]] | None:
        rows = self._pages.get(page)
        if rows is not None:
            self._pages.move_to_end(page)
            return rows
        if page in self._wanted or self._conn is None:
            return None
        start, length, _ = self._span(page)
        try:
            rows = self._fetch_now(start, length)
        except sqlite3.Error as exc:
            self.error.emit(f"flow logs: {exc}")
            return None
        if rows is not None:
            self._store_page(page, rows)
            return self._pages[page]
        self._wanted.add(page)
        anchors = Anchors(dict(self._anchors.keys))
        self._submit("page", (page, self._query, self._total, anchors, start, length))
        return None

    def _on_page(self, gen: int, page: int, rows: list[tuple[Any, ...]]) -> None:
        self._done()
        if gen != self._gen:
            return
        self._wanted.discard(page)
        self._store_page(page, rows)
        first = self._span(page)[0]
        last = min(self._rows, first + len(rows)) - 1
        if last >= first:
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(self._columns) - 1))

    def _on_count(self, gen: int, n: int) -> None:
        self._done()
        if gen != self._gen:
            return
        self._counts[self._count_key()] = n
        self._total = n
        self._set_rows(n)
        self.countChanged.emit(n)

    def _on_failed(self, gen: int, message: str) -> None:
        self._done()
        if gen == self._gen:
            self.error.emit(f"flow logs: {message}")

    def _set_rows(self, n: int) -> None:
        if n > self._rows:
            self.beginInsertRows(QModelIndex(), self._rows, n - 1)
            self._rows = n
            self.endInsertRows()
        elif n < self._rows:
            self.beginRemoveRows(QModelIndex(), n, self._rows - 1)
            self._rows = n
            self.endRemoveRows()

    # -- live data ----------------------------------------------------------------------
    def refresh(self) -> int:
        """Take in rows stored since the last look; returns how many joined the query."""
        if self._conn is None or self._total is None:
            return 0
        q = self._query
        try:
            new_max = self._max_row_id()
            if q.max_id is not None and new_max <= q.max_id:
                return 0
            fresh = replace(q, max_id=new_max)
            sql = f"SELECT count(*), min(start_time), max(start_time) FROM flow_logs {fresh.where_clause('id > ?')}"
            added, lo, hi = self._conn.execute(sql, fresh.args((q.max_id or 0,))).fetchone()
        except sqlite3.Error as exc:
            self.error.emit(f"flow logs: {exc}")
            return 0
        self._cancel()
        self._query = fresh
        total = self._total + added
        self._counts[self._count_key()] = total
        self._total = total
        if not added:
            return 0
        newest_first = self.newest_first()
        on_top = newest_first and (self._top_start is None or self._rows == 0 or lo >= self._top_start)
        if newest_first is False:  # oldest first: new rows go to the bottom
            self._pages.pop((self._rows - 1 - self._base) // PAGE if self._rows else 0, None)
            self._set_rows(total)
        elif on_top:  # the cached pages stay: their rows move down by `added`
            for page in self._padded:
                self._pages.pop(page, None)
            self._padded.clear()
            self._base += added
            self._anchors.shift(added)
            self._top_start = hi
            self.beginInsertRows(QModelIndex(), 0, added - 1)
            self._rows = total
            self.endInsertRows()
        else:  # new rows land anywhere in this order: re-read what is shown
            self._clear_pages()
            self._set_rows(total)
            if self._rows:
                self.dataChanged.emit(self.index(0, 0), self.index(self._rows - 1, len(self._columns) - 1))
        self.countChanged.emit(total)
        return added

    def total(self) -> int | None:
        """The row count of the current query, None while it is being counted."""
        return self._total

    def is_loaded(self, row: int) -> bool:
        return (row - self._base) // PAGE in self._pages

    # -- access -------------------------------------------------------------------------
    def row_values(self, row: int) -> tuple[Any, ...] | None:
        """The stored row (``COLUMNS`` order) if its page is loaded (loading it otherwise)."""
        if not 0 <= row < self._rows:
            return None
        at = row - self._base
        rows = self._page(at // PAGE)
        if rows is None or at % PAGE >= len(rows):
            return None
        return rows[at % PAGE]

    def row_id(self, row: int) -> int | None:
        values = self.row_values(row)
        return None if values is None else int(values[0])

    def find_row(self, flow_id: int) -> int | None:
        """The row showing a flow log id, among the loaded pages."""
        for page, rows in self._pages.items():
            for i, r in enumerate(rows):
                if r is not None and r[0] == flow_id:
                    return page * PAGE + self._base + i
        return None

    def column_name(self, column: int) -> str:
        return self._columns[column]

    # -- Qt model API -------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else self._rows

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._columns)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self._columns):
            name = self._columns[section]
            if role == Qt.ItemDataRole.DisplayRole:
                return name
            if role == Qt.ItemDataRole.ToolTipRole:
                extra = " (sortable)" if name in data.SORTABLE else ""
                return {"bytes": "bytes_in + bytes_out", "packets": "packets_in + packets_out"}.get(
                    name, name
                ) + extra
        if orientation == Qt.Orientation.Vertical and role == Qt.ItemDataRole.DisplayRole:
            return section + 1
        return None

    def shutdown(self) -> None:
        """Stop worker queries and close the connection (call before deleting the model)."""
        self._cancel()
        self._pool.clear()
        self._pool.waitForDone(5000)
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._path = None
