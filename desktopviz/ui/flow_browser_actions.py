"""The flow-log browser's actions: cell and header menus, the store's "now" (read with the
table's pages), saved filters, charts in a worker, export.

A mixin of :class:`desktopviz.ui.flow_browser.FlowBrowser` (kept apart to keep modules small);
it uses the browser's model, table, query bar, pills, chart strip and pools.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QPoint, QRunnable, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QInputDialog, QMenu

from desktopviz.core.filterlang import FilterError, compile_filter
from desktopviz.ui import flow_browser_menus as menus
from desktopviz.ui.flow_browser_data import ChartData, load_chart_data, open_readonly
from desktopviz.ui.flow_browser_query import history_menu
from desktopviz.ui.flow_table_model import RawRole
from desktopviz.ui.sim_worker_pacing import gui_busy


class ChartSignals(QObject):
    done = Signal(int, object)
    failed = Signal(int, str)


class ChartJob(QRunnable):
    def __init__(self, gen: int, path: str, where: str, params: tuple[Any, ...], since: Any, until: Any,
                 signals: ChartSignals) -> None:  # fmt: skip
        super().__init__()
        self.args = (gen, path, where, params, since, until)
        self.signals = signals

    def run(self) -> None:
        gen, path, where, params, since, until = self.args
        try:
            conn = open_readonly(path)
            try:
                self.signals.done.emit(gen, load_chart_data(conn, where, params, since, until))
            finally:
                conn.close()
        except Exception as exc:  # noqa: BLE001 - a chart is optional; report and keep the table
            self.signals.failed.emit(gen, str(exc))


class BrowserActions:
    """Menus, charts and export of the flow-log browser (mixed into FlowBrowser)."""

    model: Any
    table: Any
    query_bar: Any
    strip: Any
    top: Any
    count_label: Any
    error: Any
    _path: str | None
    _now: int | None
    time_picker: Any
    follow_button: Any
    saved_menu: Any
    filter_text: Any
    save_filter: Any
    _apply: Any

    def export_to(self, out: str | Path, fmt: str = "csv", *, dialog: bool = True) -> Any:
        """Export every row of the current filter off the GUI thread; returns the job
        (signals progress(int) and finished(int, str))."""
        from desktopviz.ui.flow_browser_export import ExportJob, start_export

        if self._path is None:
            raise ValueError("no flow database open")
        job = ExportJob(self._path, str(out), fmt, *self.model_where())
        job.setParent(self)
        job.finished.connect(self._on_export_done)
        self.last_export = job
        start_export(self._export_pool, job, self.model.total(), self if dialog else None)
        return job

    def model_where(self) -> tuple[str, tuple[Any, ...]]:
        """The WHERE fragment and parameters the table shows (time range, query, pills)."""
        q = self.model.query()
        return q.where, q.params

    def _header_menu(self, pos: QPoint) -> None:
        menu = menus.build_column_menu(self, self.model.columns(), self.set_columns)
        menu.exec(self.table.horizontalHeader().mapToGlobal(pos))

    def set_columns(self, columns: list[str]) -> None:
        self.model.set_columns(columns)
        menus.save_columns(self.model.columns())
        self._size_columns()

    def _cell_menu(self, pos: QPoint) -> None:
        index = self.table.indexAt(pos)
        menu = self.cell_menu(index)
        if menu is not None:
            menu.exec(self.table.viewport().mapToGlobal(pos))

    def cell_menu(self, index: QModelIndex) -> QMenu | None:
        """The right-click menu of a cell (tests trigger its actions)."""
        if not index.isValid() or self.model.row_values(index.row()) is None:
            return None
        column = self.model.column_name(index.column())
        value = self.model.data(index, RawRole)
        return menus.build_cell_menu(
            self, column, value, self.add_pill, self._apply_as_filter,
            lambda text: QGuiApplication.clipboard().setText(text), lambda: self._row_json(index.row()),
        )  # fmt: skip

    def _apply_as_filter(self, selected: str, how: str, negate: bool) -> None:
        self.query_bar.set_text(menus.combine_query(self.query_bar.applied_text(), selected, how, negate))

    def _row_json(self, row: int) -> str:
        from desktopviz.core.store import record_from_row

        values = self.model.row_values(row)
        return "" if values is None else json.dumps(record_from_row(tuple(values[1:])).to_dict())

    # -- the store's "now" ------------------------------------------------------------------
    def _on_bounds(self, bounds: tuple[int, int] | None) -> None:
        """The store's newest data time ("now" of the time picker's "Last …" presets and of
        relative times in filters) as the worker read it. The first one after a store opened,
        and every one while following, re-apply a range or filter that depends on it."""
        now = None if bounds is None else int(bounds[1])
        if now == self._now:
            return
        first = self._now is None
        self._now = self.time_picker.now = now
        if (first or self.follow_button.isChecked()) and self._wanted_query() != self.model_where():
            self._apply()

    def _wanted_query(self) -> tuple[str, tuple[Any, ...]] | None:
        """The WHERE fragment and parameters the time range and filters ask for now (None
        when the filter does not compile)."""
        since, until = self.time_picker.range()
        try:
            f = compile_filter(self.filter_text(), now=self._now)
        except FilterError:
            return None
        return self._where(since, until, f.sql, f.params)

    @staticmethod
    def _where(since: int | None, until: int | None, sql: str, params: Any) -> tuple[str, tuple[Any, ...]]:
        parts, args = [], []
        if since is not None:
            parts.append("start_time >= ?")
            args.append(since)
        if until is not None:
            parts.append("start_time < ?")
            args.append(until)
        if sql:
            parts.append(sql)
            args.extend(params)
        return " AND ".join(parts), tuple(args)

    # -- saved filters ----------------------------------------------------------------------
    def _fill_saved_menu(self) -> None:
        m = self.saved_menu
        history_menu(m, menus.load_history(), menus.load_saved(), lambda t: self.query_bar.set_text(t))
        m.addSeparator()
        m.addAction("Save current filter…", self._save_dialog)
        saved = menus.load_saved()
        if saved:
            sub = m.addMenu("Delete saved filter")
            for name in sorted(saved):
                sub.addAction(name, lambda n=name: (menus.delete_saved(n), self._fill_saved_menu()))

    def _save_dialog(self) -> None:
        name, ok = QInputDialog.getText(self, "Save filter", "Name:")
        if ok and name.strip():
            self.save_filter(name.strip())

    # -- charts and export ----------------------------------------------------------------
    def _load_charts(self) -> None:
        self._chart_gen += 1
        if self._path is None:
            self.strip.set_series([], 60, None, None)
            self.top.set_top([], [])
            return
        self.strip.set_loading()
        self._chart_pool.start(
            ChartJob(
                self._chart_gen,
                self._path,
                self._filter_sql,
                self._filter_params,
                self._since,
                self._until,
                self._chart_signals,
            )  # fmt: skip
        )

    def _on_charts(self, gen: int, data: ChartData) -> None:
        if gen != self._chart_gen:
            return
        self.last_chart = data
        gui_busy(0.04)  # redrawing the chart and its axes: a max-speed simulation steps aside
        self.strip.set_series(data.buckets, data.width, data.since, data.until)
        self.top.set_top(data.top_sources, data.top_dests)

    def _export_dialog(self, fmt: str) -> None:
        from PySide6.QtWidgets import QFileDialog

        suffix = "csv" if fmt == "csv" else "jsonl"
        out, _ = QFileDialog.getSaveFileName(self, "Export flow logs", f"flow-logs.{suffix}", f"*.{suffix}")
        if out:
            self.export_to(out, fmt)

    def _on_export_done(self, rows: int, message: str) -> None:
        if rows < 0:
            self.error.emit(message)
        else:
            self.count_label.setText(f"Exported {rows:,} flow logs to {message}")
