"""The flow-log browser: Calico's flow table over millions of stored logs, with a Kibana-style
query bar and filter pills, a time picker, charts, row detail and export.

Plugging it in (view conventions of the project)::

    browser = FlowBrowser()
    browser.set_store(path_or_None)          # its own read-only connection(s)
    browser.refresh()                        # cheap; new rows join without moving the view
    browser.set_time_range(since, until)     # absolute Unix seconds, None = open
    browser.set_selection(selection_or_None) # the visualizer's selection, as a pill

Signals:
    policyActivated(str): a policy's trace name was clicked in the row detail.
    timeRangeChanged(object, object): the user chose a range here (since, until; None = open).
    flowSelected(object): the selected flow log's id (None when nothing is selected).
    filterChanged(str): the effective filter (query bar and pills), as filter text.
    error(str): a store or query problem, for the status bar.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, Qt, QThreadPool, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QSplitter,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

import desktopviz.core.filterlang_sql  # noqa: F401 - loaded with the window, not by the first filter (~6 ms)
from desktopviz.core.filterlang import FilterError, combine, compile_filter, term
from desktopviz.ui import flow_browser_menus as menus
from desktopviz.ui.charts import TimeStrip, TopDenied
from desktopviz.ui.flow_browser_actions import BrowserActions, ChartSignals
from desktopviz.ui.flow_browser_data import ChartData
from desktopviz.ui.flow_browser_detail import FlowDetail
from desktopviz.ui.flow_browser_query import Pill, PillBar, QueryBar, TimePicker
from desktopviz.ui.flow_table_model import FlowTableModel

CHART_INTERVAL_MS = 2000
ROW_HEIGHT = 22


class FlowBrowser(BrowserActions, QWidget):
    policyActivated = Signal(str)
    timeRangeChanged = Signal(object, object)
    flowSelected = Signal(object)
    filterChanged = Signal(str)
    error = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = FlowTableModel(self)
        self.model.set_columns(menus.load_columns())
        self.query_bar = QueryBar()
        self.pills = PillBar()
        self.time_picker = TimePicker()
        self.strip = TimeStrip()
        self.top = TopDenied()
        self.detail = FlowDetail()
        self.table = QTableView()
        self.count_label = QLabel("No flow database open")
        self._path: str | None = None
        self._now: int | None = None
        self._since: int | None = None
        self._until: int | None = None
        self._selection_pill: Pill | None = None
        self._filter_sql = ""
        self._filter_params: tuple[Any, ...] = ()
        self._chart_gen = 0
        self._chart_pool = QThreadPool(self)
        self._chart_pool.setMaxThreadCount(1)
        self._chart_pool.setExpiryTimeout(-1)
        self._chart_pool.start(lambda: None)  # its thread made now and kept (as FlowTableModel's)
        self._export_pool = QThreadPool(self)
        self._export_pool.setMaxThreadCount(1)
        self._chart_signals = ChartSignals(self)
        self._chart_timer = QTimer(self)
        self._chart_timer.setSingleShot(True)
        self._chart_timer.setInterval(CHART_INTERVAL_MS)
        self._chart_timer.timeout.connect(self._load_charts)
        self.last_chart: ChartData | None = None
        self.last_export: Any = None
        self._build()
        self._connect_signals()

    # -- layout ---------------------------------------------------------------------------
    def _build(self) -> None:
        t = self.table
        t.setModel(self.model)
        t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        t.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        t.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        t.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        t.setWordWrap(False)
        t.setSortingEnabled(False)
        t.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        vh = t.verticalHeader()
        vh.setVisible(False)
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vh.setDefaultSectionSize(ROW_HEIGHT)
        h = t.horizontalHeader()
        h.setSectionsMovable(False)
        h.setSectionsClickable(True)
        h.setSortIndicatorShown(True)
        h.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        h.setHighlightSections(False)
        self._size_columns()

        self.follow_button = QToolButton()
        self.follow_button.setText("Follow")
        self.follow_button.setCheckable(True)
        self.follow_button.setChecked(menus.load_flag("follow", False))
        self.follow_button.setToolTip("Keep the newest flow logs in view as they arrive")
        self.saved_button = QToolButton()
        self.saved_button.setText("Saved ▾")
        self.saved_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.saved_menu = QMenu(self.saved_button)
        self.saved_button.setMenu(self.saved_menu)
        self.saved_button.setToolTip("Saved filters and recent queries")
        self.export_button = QToolButton()
        self.export_button.setText("Export ▾")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        export_menu = QMenu(self.export_button)
        export_menu.addAction("CSV…", lambda: self._export_dialog("csv"))
        export_menu.addAction("JSON lines…", lambda: self._export_dialog("jsonl"))
        self.export_button.setMenu(export_menu)
        self.export_button.setToolTip("Export every row of the current filter")

        bar = QHBoxLayout()
        bar.setContentsMargins(4, 4, 4, 0)
        bar.addWidget(self.time_picker)
        bar.addWidget(self.query_bar.edit, 1)
        for w in (self.query_bar.apply_button, self.saved_button, self.follow_button, self.export_button):
            bar.addWidget(w)
        msg = QHBoxLayout()
        msg.setContentsMargins(8, 0, 4, 0)
        msg.addWidget(self.query_bar.message, 1)
        charts = QSplitter(Qt.Orientation.Horizontal)
        charts.addWidget(self.strip)
        charts.addWidget(self.top)
        charts.setStretchFactor(0, 4)
        charts.setStretchFactor(1, 1)
        charts.setSizes([900, 260])
        self.detail.setMinimumWidth(280)
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self.table)
        lower.addWidget(self.detail)
        lower.setStretchFactor(0, 3)
        lower.setStretchFactor(1, 1)
        lower.setSizes([1180, 380])
        body = QSplitter(Qt.Orientation.Vertical)
        body.addWidget(charts)
        body.addWidget(lower)
        body.setStretchFactor(0, 1)
        body.setStretchFactor(1, 4)
        body.setSizes([150, 600])
        self.body = body
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addLayout(bar)
        lay.addLayout(msg)
        lay.addWidget(self.pills)
        lay.addWidget(body, 1)
        self.count_label.setContentsMargins(6, 0, 6, 2)
        lay.addWidget(self.count_label)
        self._fill_saved_menu()

    def _size_columns(self) -> None:
        widths = {"start_time": 145, "action": 52, "reporter": 60, "source_namespace": 110,
                  "dest_namespace": 110, "source_name_aggr": 165, "dest_name_aggr": 170, "dest_port": 60,
                  "proto": 44, "num_flows": 70, "bytes": 80, "policies": 380}  # fmt: skip
        h = self.table.horizontalHeader()
        fm = h.fontMetrics()
        for i, name in enumerate(self.model.columns()):
            # never narrower than the header's own text (with room for the sort arrow)
            h.resizeSection(i, max(widths.get(name, 120), fm.horizontalAdvance(name) + 14))
        h.setStretchLastSection(True)
        sort, desc = self.model.sort_column()
        if sort in self.model.columns():
            order = Qt.SortOrder.DescendingOrder if desc else Qt.SortOrder.AscendingOrder
            h.setSortIndicator(self.model.columns().index(sort), order)

    def _connect_signals(self) -> None:
        self.query_bar.applied.connect(self._on_query_applied)
        self.pills.changed.connect(self._apply)
        self.time_picker.changed.connect(self._on_picker)
        self.strip.rangeSelected.connect(self._on_strip_range)
        self.top.filterRequested.connect(lambda label, text: self.add_filter_pill(label, text))
        self.detail.policyActivated.connect(self.policyActivated)
        self.detail.filterRequested.connect(self.add_pill)
        self.follow_button.toggled.connect(self._on_follow)
        self.table.customContextMenuRequested.connect(self._cell_menu)
        h = self.table.horizontalHeader()
        h.customContextMenuRequested.connect(self._header_menu)
        h.sectionClicked.connect(self._on_header_clicked)
        self.table.selectionModel().currentRowChanged.connect(self._on_current)
        self.model.modelReset.connect(lambda: self.detail.show_record(None, None))
        self.model.rowsInserted.connect(self._on_rows_inserted)
        self.model.countChanged.connect(self._update_count)
        self.model.busyChanged.connect(lambda _b: self._update_count())
        self.model.error.connect(self.error)
        self.model.boundsChanged.connect(self._on_bounds)
        self._chart_signals.done.connect(self._on_charts)
        self._chart_signals.failed.connect(
            lambda g, m: g == self._chart_gen and self.error.emit(f"charts: {m}")
        )

    # -- public API -----------------------------------------------------------------------
    def set_store(self, path: str | Path | None) -> None:
        """Browse this flow store (None: nothing). Nothing is read here: the table's worker
        opens the store (a file that is not one is reported through ``error``)."""
        self._path = str(path) if path else None
        self._now = None  # the newest data time comes with the first page (boundsChanged)
        self.time_picker.now = None
        self.model.set_path(self._path)
        self._apply()

    def refresh(self) -> None:
        """New rows may be stored: the worker reads them (they join keeping the view on the
        user's rows unless Follow is on) and the charts every few seconds."""
        if self._path is None:
            return
        self.model.refresh()
        if not self._chart_timer.isActive():
            self._chart_timer.start()

    def is_idle(self) -> bool:
        """No read of the table's is with the worker (the window holds a starting simulation
        back until the views are idle)."""
        return not self.model.is_loading()

    def set_time_range(self, since: int | None, until: int | None) -> None:
        """Show this absolute range (from the main window; does not emit timeRangeChanged)."""
        self.time_picker.set_range(since, until)
        self._apply()

    def time_range(self) -> tuple[int | None, int | None]:
        return self._since, self._until

    def set_filter(self, text: str) -> None:
        """Put text in the query bar and apply it (raises FilterError if it is invalid)."""
        compile_filter(text)
        self.query_bar.set_text(text)

    def filter_text(self) -> str:
        """The effective filter: the applied query and the enabled pills, joined by and."""
        return combine([self.query_bar.applied_text(), *self.pills.filter_texts()])

    def add_pill(self, field: str, value: Any, negate: bool = False) -> None:
        """Kibana's "Filter for value" (negate: "Filter out value")."""
        label = f"{field}: {'(missing)' if value is None else value}"
        self.pills.add(Pill(label, term(field, value), negate))

    def add_filter_pill(self, label: str, text: str, negate: bool = False) -> None:
        compile_filter(text)
        self.pills.add(Pill(label, text, negate))

    def set_selection(self, selection: dict[str, Any] | None) -> None:
        """Show only the flow logs of what is selected in the visualizer (a pill that replaces
        the previous selection's); {} or None removes it."""
        label, text = menus.selection_filter(selection)
        old = self._selection_pill
        self.pills.pills = [p for p in self.pills.pills if p is not old]
        self._selection_pill = Pill(label, text) if text else None
        if self._selection_pill is not None:
            self.pills.add(self._selection_pill)
        else:
            self.pills._rebuild()
            self._apply()

    def select_row(self, row: int) -> None:
        self.table.selectRow(row)
        self.table.scrollTo(self.model.index(row, 0))

    def save_filter(self, name: str, text: str | None = None) -> None:
        menus.save_filter(name, self.filter_text() if text is None else text)
        self._fill_saved_menu()

    def shutdown(self) -> None:
        self._chart_timer.stop()
        self._chart_gen += 1
        self._chart_pool.waitForDone(5000)
        if self.last_export is not None:
            self.last_export.cancel()
        self._export_pool.waitForDone(10000)
        self.model.shutdown()

    def closeEvent(self, event: Any) -> None:  # noqa: N802
        self.shutdown()
        super().closeEvent(event)

    # -- applying filters -----------------------------------------------------------------
    def _apply(self) -> None:
        self._since, self._until = self.time_picker.range()
        text = self.filter_text()
        try:
            f = compile_filter(text, now=self._now)
        except FilterError as exc:  # a pill or saved text that no longer parses
            self.error.emit(f"filter: {exc}")
            return
        self._filter_sql, self._filter_params = f.sql, f.params
        self.model.set_query(*self._where(self._since, self._until, f.sql, f.params))
        self._update_count()
        self.filterChanged.emit(text)
        self._chart_timer.stop()
        self._load_charts()
        if self.follow_button.isChecked():
            self._scroll_to_newest()

    def _on_query_applied(self, text: str) -> None:
        menus.push_history(text)
        self._fill_saved_menu()
        self._apply()

    def _on_picker(self, since: Any, until: Any) -> None:
        self._apply()
        self.timeRangeChanged.emit(self._since, self._until)

    def _on_strip_range(self, since: int, until: int) -> None:
        self.time_picker.set_range(since, until)
        self._apply()
        self.timeRangeChanged.emit(since, until)

    # -- table reactions ------------------------------------------------------------------
    def _update_count(self, *_: Any) -> None:
        if self._path is None:
            self.count_label.setText("No flow database open")
            return
        n = self.model.total()
        if n is None and self.model.rowCount():
            return  # rows stay on screen until the new query's count (flow_table_model): so does the label
        text = "counting…" if n is None else f"{n:,} flow logs"
        if self.filter_text():
            text += " match the filter"
        if self._since is not None or self._until is not None:
            from desktopviz.ui.flow_browser_data import iso_time

            text += f" · {iso_time(self._since) or '…'} → {iso_time(self._until) or 'now'} UTC"
        self.count_label.setText(text)

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        from desktopviz.core.store import record_from_row

        values = self.model.row_values(current.row()) if current.isValid() else None
        if values is None:
            self.detail.show_record(None, None)
            self.flowSelected.emit(None)
            return
        self.detail.show_record(int(values[0]), record_from_row(tuple(values[1:])))
        self.flowSelected.emit(int(values[0]))

    def _on_rows_inserted(self, parent: QModelIndex, first: int, last: int) -> None:
        # Lay the rows out now: otherwise Qt's delayed layout repaints the table a second
        # time for every batch of new rows (measured: two paints per live refresh).
        self.table.executeDelayedItemsLayout()
        if first != 0:
            if self.follow_button.isChecked():
                self._scroll_to_newest()
            return
        if self.follow_button.isChecked():
            self._scroll_to_newest()
            return
        if last - first + 1 == self.model.rowCount():  # an empty table filled (its count came
            return  # from the worker): no rows of the user's to keep in place, it stays at the top
        sb = self.table.verticalScrollBar()
        want = sb.value() + (last - first + 1) * ROW_HEIGHT
        self.table.updateGeometries()
        sb.setValue(want)

    def _scroll_to_newest(self) -> None:
        newest_first = self.model.newest_first()
        if newest_first is None or self.model.rowCount() == 0:
            return
        if newest_first:
            self.table.scrollToTop()
        else:
            self.table.scrollToBottom()

    def _on_follow(self, on: bool) -> None:
        menus.save_flag("follow", on)
        if on:
            self._scroll_to_newest()

    def _on_header_clicked(self, section: int) -> None:
        name = self.model.columns()[section]
        sort, desc = self.model.sort_column()
        if name == sort:
            desc = not desc
        elif name != "start_time":
            desc = False
        self.model.sort(section, Qt.SortOrder.DescendingOrder if desc else Qt.SortOrder.AscendingOrder)
        self._size_columns()
