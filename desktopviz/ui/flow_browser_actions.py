"""The flow-log browser's actions: cell and header menus, charts in a worker, export.

A mixin of :class:`desktopviz.ui.flow_browser.FlowBrowser` (kept apart to keep modules small);
it uses the browser's model, table, query bar, pills, chart strip and pools.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QPoint, QRunnable, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMenu

from desktopviz.ui import flow_browser_menus as menus
from desktopviz.ui.flow_browser_data import ChartData, load_chart_data, open_readonly
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
