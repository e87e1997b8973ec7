"""A table model over the flow store that never loads the whole table, and never reads it
on the GUI thread.

Rows are fetched in pages of :data:`PAGE` (see :mod:`desktopviz.ui.flow_browser_data` for
the keyset/offset plan), cached (LRU), and counted once per query. Every read runs in a worker
thread with its own read-only connection (desktopviz.ui.flow_browser_worker): a query's first
page and its count, pages scrolled into view (their rows show "…" until the worker answers,
usually the next frame), and ``refresh()``, which takes in rows stored since the last look.
With the default newest-first order new rows are inserted at the top (``rowsInserted``) with
their content already read, so the view can keep the user's rows in place and selections
(persistent indexes) follow their rows; in other orders the rows shown stay until their
pages are read again (no "…" flashing five times a second while a simulation runs).

Signals:
    countChanged(int): the number of rows of the current query is known or changed.
    busyChanged(bool): a worker query started (True) or all finished (False).
    refreshed(int): a refresh() was answered: how many rows joined the query.
    boundsChanged(object): the store's (first start, newest end) times (None when empty),
        read with each load and refresh (the browser's "now").
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
from desktopviz.ui.flow_browser_data import PAGE, Anchors, Query
from desktopviz.ui.flow_browser_live import LiveRows
from desktopviz.ui.flow_browser_worker import Loaded, PageJob, WorkerSignals
from desktopviz.ui.sim_worker_pacing import REFRESH_BUSY_S, gui_busy

Index = QModelIndex | QPersistentModelIndex
CACHE_PAGES = 64
__all__ = ["LOADING", "IdRole", "RawRole", "FlowTableModel"]


class FlowTableModel(LiveRows, TableCells, QAbstractTableModel):
    countChanged = Signal(int)
    busyChanged = Signal(bool)
    refreshed = Signal(int)
    boundsChanged = Signal(object)
    error = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._path: str | None = None
        self._columns: list[str] = list(data.DEFAULT_COLUMNS)
        self._query = Query()
        self._rows = 0  # rows shown (the count once known)
        self._total: int | None = None
        self._pages: OrderedDict[int, list[tuple[Any, ...]]] = OrderedDict()
        self._wanted: set[int] = set()
        self._stale: set[int] = set()  # cached pages shown until they are read again
        self._anchors = Anchors()
        self._top_start: int | None = None  # start_time of the newest row (newest-first order)
        # Rows stored since the query was loaded and shown above the cached ones: cached page
        # p holds view rows from p * PAGE + _base, so new rows on top keep the cache (and no
        # page is read again five times a second while a simulation runs). Pages fetched
        # while they reached above the top are padded with None and dropped on a shift.
        self._base = 0
        self._padded: set[int] = set()
        self._gen = 0
        self._loading = False  # the first page of the query is being read
        self._refreshing = False  # a refresh is with the worker
        self._refresh_again = False  # refresh() was asked meanwhile
        self._counts: dict[tuple[str, tuple[Any, ...], int | None], int] = {}
        self._running: set[sqlite3.Connection] = set()
        self._pending = 0
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._pool.setExpiryTimeout(-1)  # its thread, made now, is kept: a session's first read
        self._pool.start(lambda: None)  # does not wait for a thread to be created (~3-5 ms)
        self._signals = WorkerSignals(self)
        self._signals.page.connect(self._on_page)
        self._signals.count.connect(self._on_count)
        self._signals.loaded.connect(self._on_loaded)
        self._signals.refreshed.connect(self._on_refreshed)
        self._signals.failed.connect(self._on_failed)
        self._signals.finished.connect(self._done)
        self.deny_brush = QBrush(QColor(217, 54, 54, 38))
        self._action_brushes = {True: QBrush(theme.DENIED), False: QBrush(theme.ALLOWED)}
        self.clear_cells()  # cell texts per flow-log id (see flow_browser_cells)

    # -- configuration ------------------------------------------------------------------
    def set_path(self, path: str | None) -> None:
        """Read this store (None: show nothing). A file that is not a flow store is reported
        through ``error`` (the worker opens it)."""
        self._cancel()
        self._path = str(path) if path else None
        self.clear_cells()  # another database reuses the ids
        self._counts.clear()
        self._reload()

    def path(self) -> str | None:
        return self._path

    def set_query(self, where: str, params: tuple[Any, ...] | list[Any] = ()) -> None:
        """Show the rows matching a parameterised WHERE fragment over flow_logs."""
        q = Query(where, tuple(params), self._query.sort, self._query.descending, self._query.max_id)
        if q != self._query:
            self._query = q
            self._reload(keep=True)

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
            self._reload(keep=True)

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
        self._loading = self._refreshing = self._refresh_again = False

    def _reload(self, keep: bool = False) -> None:
        """Read the query's first page (and count) in the worker. ``keep``: the rows shown
        stay on screen (stale, ``total()`` None) until that page replaces them, so a new
        filter, sort or following range never flashes an empty table; otherwise they go now."""
        self._cancel()
        if keep and self._rows and self._path is not None:
            self._stale.update(self._pages)
            self._total, self._top_start = None, None
            self._loading = True
            self._submit("load", replace(self._query, max_id=None))
            return
        self.beginResetModel()
        self._clear_pages()
        self._top_start = None
        self._rows, self._total = 0, None
        if self._path is not None:
            self._loading = True
            self._submit("load", replace(self._query, max_id=None))
        self.endResetModel()

    def is_loading(self) -> bool:
        """The first page or the count of the current query is still being read."""
        return self._loading or (self._path is not None and self._total is None)

    def _count_key(self) -> tuple[str, tuple[Any, ...], int | None]:
        return (self._query.where, self._query.params, self._query.max_id)

    def _submit(self, kind: str, arg: Any) -> None:
        self._pending += 1
        if self._pending == 1:
            self.busyChanged.emit(True)
        self._pool.start(PageJob(self, self._gen, kind, arg))

    def _done(self) -> None:
        self._pending = max(0, self._pending - 1)
        if self._pending == 0:
            self.busyChanged.emit(False)

    def _on_loaded(self, gen: int, loaded: Loaded) -> None:
        if gen != self._gen:
            return
        gui_busy(REFRESH_BUSY_S)  # the first rows to lay out and paint: the simulation steps aside
        self._loading = False
        self._query = loaded.query
        key = self._count_key()
        known = self._counts.get(key)
        if known is None and len(loaded.rows) < PAGE:  # the whole result is on this page
            known = self._counts[key] = len(loaded.rows)
        self.beginResetModel()  # the rows shown (none, or the previous query's) are replaced
        self._clear_pages()
        self._top_start = None
        self._total = known
        if loaded.rows:
            self._store_page(0, loaded.rows)
        self._rows = known if known is not None else len(loaded.rows)
        self.endResetModel()
        self.boundsChanged.emit(loaded.bounds)
        if known is not None:
            self.countChanged.emit(known)

    def _clear_pages(self) -> None:
        self._pages.clear()
        self._padded.clear()
        self._stale.clear()
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
        self._stale.discard(page)
        self._pages.move_to_end(page)
        while len(self._pages) > CACHE_PAGES:
            old = self._pages.popitem(last=False)[0]
            self._padded.discard(old)
            self._stale.discard(old)
        if rows:
            self._anchors.add(start, data.row_key(self._query, rows[0]))
            self._anchors.add(start + len(rows) - 1, data.row_key(self._query, rows[-1]))
            if start == 0 and self.newest_first():
                self._top_start = data.raw_value(rows[0], "start_time")

    def _page(self, page: int) -> list[tuple[Any, ...]] | None:
        """A cached page (a stale one while it is read again), or None while it is read."""
        rows = self._pages.get(page)
        if rows is not None:
            self._pages.move_to_end(page)
            if page in self._stale and page not in self._wanted and not self._loading:
                self._request(page)
            return rows
        if page not in self._wanted and self._path is not None and not self._loading:
            self._request(page)
        return None

    def _request(self, page: int) -> None:
        start, length, _ = self._span(page)
        if length <= 0:
            return
        self._wanted.add(page)
        anchors = Anchors(dict(self._anchors.keys))
        self._submit("page", (page, self._query, self._total, anchors, start, length, self._base))

    def _on_page(self, gen: int, page: int, result: tuple[int, int, list[tuple[Any, ...]]]) -> None:
        if gen != self._gen:
            return
        self._wanted.discard(page)
        base, start, rows = result
        if base != self._base and page * PAGE + base < 0:
            # it reached above the top and rows joined there since: asked for again when shown
            return
        self._store_page(page, rows)
        first = self._span(page)[0]
        last = min(self._rows, first + len(rows)) - 1
        if last >= first:
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(self._columns) - 1))

    def _on_count(self, gen: int, n: int) -> None:
        if gen != self._gen:
            return
        self._counts[self._count_key()] = n
        self._total = n
        self._set_rows(n)
        self.countChanged.emit(n)

    def _on_failed(self, gen: int, kind: str, message: str) -> None:
        if gen == self._gen:
            if kind == "load":
                self._loading = False
                self.beginResetModel()  # rows kept from the previous query go
                self._clear_pages()
                self._rows = 0
                self.endResetModel()
            elif kind == "refresh":
                self._refreshing = self._refresh_again = False
            elif kind == "page":
                self._wanted.clear()  # asked for again when shown
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

    def total(self) -> int | None:
        """The row count of the current query, None while it is being counted."""
        return self._total

    def is_loaded(self, row: int) -> bool:
        """The row's page is cached and up to date."""
        page = (row - self._base) // PAGE
        return page in self._pages and page not in self._stale

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
        self._pool.clear()  # queued reads never run
        self._pool.waitForDone(5000)
        self._path = None
        self._pending = 0
