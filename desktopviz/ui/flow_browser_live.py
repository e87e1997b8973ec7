"""Live rows of the flow table (a mixin of FlowTableModel, desktopviz.ui.flow_table_model):
``refresh()`` asks the worker what was stored since the query's snapshot and applies the
answer: new rows on top keep the cached pages (shifted by ``_base``) and arrive with their
content; in other orders the pages shown are marked stale and read again while they stay
on screen.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex

from desktopviz.ui.flow_browser_data import PAGE, Anchors, Query
from desktopviz.ui.flow_browser_worker import Delta
from desktopviz.ui.sim_worker_pacing import REFRESH_BUSY_S, gui_busy


class LiveRows:
    """Expects the FlowTableModel state (``_path``, ``_total``, ``_rows``, ``_base``,
    ``_pages``, ``_padded``, ``_stale``, ``_wanted``, ``_anchors``, ``_query``...)."""

    _path: str | None
    _query: Query
    _total: int | None
    _rows: int
    _base: int
    _gen: int
    _loading: bool
    _refreshing: bool
    _refresh_again: bool
    _top_start: int | None
    _pages: Any
    _padded: set[int]
    _stale: set[int]
    _wanted: set[int]
    _anchors: Anchors
    _counts: dict[Any, int]
    _columns: list[str]
    boundsChanged: Any
    refreshed: Any
    countChanged: Any
    dataChanged: Any

    def refresh(self) -> bool:
        """Take in rows stored since the last look (read by the worker; ``refreshed`` tells
        how many joined). False when there is nothing to refresh yet (no store, the query
        still loading); a refresh asked while one is with the worker follows it."""
        if self._path is None or self._total is None or self._loading:
            return False
        if self._refreshing:
            self._refresh_again = True
            return True
        self._refreshing = True
        self._submit("refresh", (self._query, bool(self.newest_first()), self._base))
        return True

    def _on_refreshed(self, gen: int, d: Delta) -> None:
        if gen != self._gen:
            return
        again, self._refreshing, self._refresh_again = self._refresh_again, False, False
        if d.added:  # rows to insert and the table to repaint: a max-speed simulation steps aside
            gui_busy(REFRESH_BUSY_S)
        if self._total is not None:
            self._apply_delta(d)
        self.boundsChanged.emit(d.bounds)
        self.refreshed.emit(d.added)
        if again:
            self.refresh()

    def _apply_delta(self, d: Delta) -> None:
        assert self._total is not None
        self._query = d.query
        total = self._total + d.added
        self._total = total
        self._counts[self._count_key()] = total
        if not d.added:
            return
        newest_first = self.newest_first()
        on_top = newest_first and (
            self._top_start is None or self._rows == 0 or (d.lo is not None and d.lo >= self._top_start)
        )
        if newest_first is False:  # oldest first: new rows go to the bottom, the last page grows
            self._cancel()
            last = (self._rows - 1 - self._base) // PAGE if self._rows else 0
            if last in self._pages:
                self._stale.add(last)
            self._set_rows(total)
        elif on_top:  # the cached pages stay: their rows move down by `added`
            for page in self._padded:
                self._pages.pop(page, None)
                self._stale.discard(page)
                self._wanted.discard(page)
            self._padded.clear()
            self._base += d.added
            self._anchors.shift(d.added)
            self._top_start = d.hi
            self._install_top(d.top)
            self.beginInsertRows(QModelIndex(), 0, d.added - 1)
            self._rows = total
            self.endInsertRows()
        else:  # new rows land anywhere in this order: what is shown is read again
            self._cancel()
            self._stale.update(self._pages)
            self._anchors = Anchors()
            self._set_rows(total)
            if self._rows:
                self.dataChanged.emit(self.index(0, 0), self.index(self._rows - 1, len(self._columns) - 1))
        self.countChanged.emit(total)

    def _install_top(self, top: list[tuple[Any, ...]]) -> None:
        """Cache the pages over the top rows the refresh read (only whole ones)."""
        page = (-self._base) // PAGE
        while True:
            start, length, _ = self._span(page)
            if length <= 0 or start + length > len(top):
                return
            if page not in self._pages:
                self._store_page(page, top[start : start + length])
            page += 1
