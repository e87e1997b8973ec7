"""The main window's menus and the file dialogs behind them.

Kept apart from main_window.py so the window stays a composition root; every action here
calls a public method of the window (or of this module's export helpers).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QFileDialog, QMenu, QMessageBox, QProgressDialog

from desktopviz.core import paths
from desktopviz.ui import settings as app_settings
from desktopviz.ui.snapshot import SnapshotError, save_widget

if TYPE_CHECKING:
    from desktopviz.ui.main_window import MainWindow

PANELS = (
    ("window", "Whole Window"),
    ("visualizer", "Flow Visualizer"),
    ("board", "Policy Board"),
    ("flows", "Flow Logs"),
)

SHORTCUTS_HTML = """<table cellspacing=6>
<tr><td><b>Space</b></td><td>play / pause the simulation</td></tr>
<tr><td><b>Ctrl+O</b></td><td>open a scenario file</td></tr>
<tr><td><b>Ctrl+Shift+O</b></td><td>open a flow database (a stored run)</td></tr>
<tr><td><b>Ctrl+R</b></td><td>reset the simulation</td></tr>
<tr><td><b>Ctrl+1 … Ctrl+4</b></td><td>speed 1×, 10×, 60×, as fast as possible</td></tr>
<tr><td><b>Ctrl+I</b></td><td>import Calico or Hubble flow logs</td></tr>
<tr><td><b>Ctrl+E</b></td><td>export flow logs as CSV</td></tr>
<tr><td><b>Ctrl+Z / Ctrl+Shift+Z</b></td><td>undo / redo a policy change</td></tr>
<tr><td><b>F11</b></td><td>full screen</td></tr>
<tr><td><b>Ctrl+Q</b></td><td>quit</td></tr>
</table>"""


class CsvExportTask(QObject):
    """Writes the flow logs of a database to CSV in its own thread.

    Signals:
        progress(int): rows written so far.
        done(str, int): output path and rows written.
        failed(str): the error message.
    """

    progress = Signal(int)
    done = Signal(str, int)
    failed = Signal(str)

    def __init__(self, db_path: str, out_path: str) -> None:
        super().__init__()
        self.db_path = db_path
        self.out_path = out_path
        self.cancelled = False

    @Slot()
    def run(self) -> None:
        from desktopviz.core.export import ExportCancelled, write_csv
        from desktopviz.core.store import FlowStore

        out = Path(self.out_path)
        try:
            store = FlowStore(self.db_path, create=False, readonly=True)
            try:
                with out.open("w", newline="", encoding="utf-8") as fp:
                    rows = write_csv(store, fp, progress=self.progress.emit, cancel=lambda: self.cancelled)
            finally:
                store.close()
            self.done.emit(self.out_path, int(rows))
        except ExportCancelled:
            out.unlink(missing_ok=True)
            self.failed.emit("Export cancelled; no file written.")
        except Exception as exc:  # noqa: BLE001 - shown to the user
            self.failed.emit(f"{exc.__class__.__name__}: {exc}")
        finally:
            thread = self.thread()
            if thread is not None:
                thread.quit()


class Menus(QObject):
    """Builds and updates the window's menu bar (a QObject living in the GUI thread, so the
    export thread's signals reach its slots queued).

    Signals:
        exported(str, int): a CSV export finished (path, rows), in the GUI thread.
        export_failed(str): a CSV export failed or was cancelled (message).
    """

    exported = Signal(str, int)
    export_failed = Signal(str)

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.w = window
        self._export: tuple[QThread, CsvExportTask, QProgressDialog] | None = None
        self.import_dialog: QDialog | None = None
        bar = window.menuBar()
        self.file_menu = bar.addMenu("&File")
        self.edit_menu = bar.addMenu("&Edit")
        self.view_menu = bar.addMenu("&View")
        self.sim_menu = bar.addMenu("&Simulation")
        self.help_menu = bar.addMenu("&Help")
        self._build_file()
        self._build_edit()
        self._build_view()
        self._build_simulation()
        self._build_help()

    def _action(self, menu: QMenu, text: str, slot, shortcut: QKeySequence | str | None = None) -> QAction:  # noqa: ANN001
        act = QAction(text, self.w)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        act.triggered.connect(slot)
        menu.addAction(act)
        return act

    def _build_file(self) -> None:
        m = self.file_menu
        self._action(m, "Open &Scenario File…", self.open_scenario_file, QKeySequence.StandardKey.Open)
        self._action(m, "Open Scenario &Folder…", self.open_scenario_folder)
        self._action(m, "Open Flow &Database…", self.open_database, "Ctrl+Shift+O")
        self.recent_menu = m.addMenu("Open &Recent")
        m.addSeparator()
        self._action(m, "&Import Flow Logs…", self.import_flow_logs, "Ctrl+I")
        self.export_csv_action = self._action(m, "&Export Flow Logs as CSV…", self.export_csv, "Ctrl+E")
        m.addSeparator()
        self.save_policies_action = self._action(m, "Save &Policies to Scenario…", self.save_policies)
        self.export_policies_action = self._action(m, "Export Policies as &YAML…", self.export_policies)
        for act in (self.save_policies_action, self.export_policies_action):
            act.setEnabled(False)
        shot = m.addMenu("Export Scree&nshot")
        for key, label in PANELS:
            self._action(shot, f"{label}…", lambda _=False, k=key: self.export_screenshot(k))
        m.addSeparator()
        quit_action = self._action(m, "&Quit", self.w.close, QKeySequence.StandardKey.Quit)
        quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        self.update_recent()

    def _build_edit(self) -> None:
        m = self.edit_menu
        self.undo_policy_action = self._action(
            m, "&Undo Policy Change", self.w.undo_policy, QKeySequence.StandardKey.Undo
        )
        self.redo_policy_action = self._action(m, "&Redo Policy Change", self.w.redo_policy, "Ctrl+Shift+Z")
        self.redo_policy_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        for act in (self.undo_policy_action, self.redo_policy_action):
            act.setEnabled(False)
        m.addSeparator()
        self._action(m, "Add &Tier…", lambda: self.w.open_tier_dialog())

    def _build_view(self) -> None:
        m = self.view_menu
        for dock in (self.w.board_dock, self.w.flows_dock, self.w.policy_log_dock):
            m.addAction(dock.toggleViewAction())
        m.addAction(self.w.toolbar.toggleViewAction())
        m.addSeparator()
        self.fullscreen_action = self._action(
            m, "&Full Screen", self.toggle_full_screen, QKeySequence.StandardKey.FullScreen
        )
        self.fullscreen_action.setShortcuts(
            [QKeySequence("F11"), QKeySequence(QKeySequence.StandardKey.FullScreen)]
        )
        self.fullscreen_action.setCheckable(True)

    def _build_simulation(self) -> None:
        m = self.sim_menu
        m.addAction(self.w.play_action)
        speed = m.addMenu("&Speed")
        for i, act in enumerate(self.w.speed_actions.values(), start=1):
            act.setShortcut(QKeySequence(f"Ctrl+{i}"))
            speed.addAction(act)
        m.addAction(self.w.reset_action)
        m.addSeparator()
        self._events_anchor = m.addSection("Events")
        self._event_actions: list[QAction] = []

    def _build_help(self) -> None:
        self._action(self.help_menu, "&Keyboard Shortcuts", self.show_shortcuts)
        about = self._action(self.help_menu, "&About desktopviz", self.show_about)
        about.setMenuRole(QAction.MenuRole.AboutRole)

    # -- state -------------------------------------------------------------------------
    def update_recent(self) -> None:
        self.recent_menu.clear()
        files = app_settings.recent_files()
        for f in files:
            self._action(self.recent_menu, f, lambda _=False, p=f: self.w.open_path(p))
        if files:
            self.recent_menu.addSeparator()
            self._action(self.recent_menu, "Clear List", self._clear_recent)
        self.recent_menu.setEnabled(bool(files))

    def _clear_recent(self) -> None:
        app_settings.clear_recent_files()
        self.update_recent()

    def set_events(self, actions: list[QAction]) -> None:
        for act in self._event_actions:
            self.sim_menu.removeAction(act)
        self._event_actions = list(actions)
        self.sim_menu.addActions(self._event_actions)

    def update_state(self, live: bool) -> None:
        self.export_csv_action.setEnabled(self._export is None)

    def shutdown(self) -> None:
        """Cancel a running CSV export or import and wait for their threads."""
        if self.import_dialog is not None:
            self.import_dialog.shutdown()  # type: ignore[attr-defined]
        if self._export is not None:
            thread, task, _ = self._export
            task.cancelled = True
            thread.wait(30_000)
            self._export = None

    # -- file actions ------------------------------------------------------------------
    def _start_dir(self) -> str:
        return str(app_settings.settings().value("dialogs/last_dir", str(paths.scenarios_dir())))

    def _remember_dir(self, path: str) -> None:
        app_settings.settings().setValue("dialogs/last_dir", str(Path(path).parent))

    def open_scenario_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.w, "Open Scenario", self._start_dir(), "Scenarios (*.yaml *.yml);;All files (*)"
        )
        if path:
            self._remember_dir(path)
            self.w.open_scenario(path)

    def open_scenario_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self.w, "Open Scenario Folder", self._start_dir())
        if path:
            self._remember_dir(path + "/")
            self.w.open_scenario(path)

    def open_database(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.w,
            "Open Flow Database",
            str(paths.data_dir()),
            "Flow databases (*.db *.sqlite);;All files (*)",
        )
        if path:
            self.w.open_database(path)

    def import_flow_logs(self) -> None:
        """Calico or Hubble flow logs into the current or a new database (the import dialog
        runs it off the GUI thread); the result is shown when it is done."""
        from desktopviz.ui.import_dialog import ImportDialog

        if self.import_dialog is None:
            dialog = ImportDialog(self.w.store_path, self.w)
            dialog.imported.connect(self._imported)
            self.import_dialog = dialog
        else:
            self.import_dialog.current_db = self.w.store_path
        self.import_dialog.show()
        self.import_dialog.raise_()

    @Slot(str)
    def _imported(self, db: str) -> None:
        if self.w.store_path and Path(db).resolve() == Path(self.w.store_path).resolve():
            self.w.refresh_now()  # imported into the open database: the views re-read it
        else:
            self.w.open_database(db)

    def export_csv(self) -> None:
        db = self.w.store_path
        if not db or self._export is not None:
            self.w.show_message("info", "Export flow logs", "There is no flow database open to export.")
            return
        default = str(Path.home() / (Path(db).stem + ".csv"))
        out, _ = QFileDialog.getSaveFileName(self.w, "Export Flow Logs as CSV", default, "CSV (*.csv)")
        if out:
            self.start_csv_export(db, out)

    def start_csv_export(self, db: str, out: str) -> CsvExportTask:
        """Export in a thread with a progress dialog (the window stays responsive)."""
        thread = QThread()
        task = CsvExportTask(db, out)
        task.moveToThread(thread)
        dialog = QProgressDialog("Exporting flow logs…", "Cancel", 0, 0, self.w)
        dialog.setWindowTitle("Export Flow Logs")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(300)
        dialog.canceled.connect(self._cancel_export)
        task.progress.connect(self._export_progress)
        task.done.connect(self._export_done)
        task.failed.connect(self._export_failed)
        thread.started.connect(task.run)
        thread.finished.connect(task.deleteLater)  # deleted in its own thread as it ends
        thread.finished.connect(self._export_finished)
        self._export = (thread, task, dialog)
        self.export_csv_action.setEnabled(False)
        thread.start()
        return task

    @Slot()
    def _cancel_export(self) -> None:
        if self._export is not None:
            self._export[1].cancelled = True

    @Slot(int)
    def _export_progress(self, rows: int) -> None:
        if self._export is not None:
            self._export[2].setLabelText(f"Exporting flow logs… {rows:,} rows")

    @Slot(str, int)
    def _export_done(self, out: str, rows: int) -> None:
        self.w.statusBar().showMessage(f"Exported {rows:,} flow logs to {out}", 10_000)
        self.exported.emit(out, rows)

    @Slot(str)
    def _export_failed(self, message: str) -> None:
        self.w.show_message("error", "Export failed", message)
        self.export_failed.emit(message)

    @Slot()
    def _export_finished(self) -> None:
        if self._export is not None:
            thread, task, dialog = self._export
            self._export = None
            dialog.reset()
            dialog.deleteLater()
            thread.wait()
            thread.deleteLater()
        self.export_csv_action.setEnabled(True)

    def save_policies(self) -> None:
        """Choose a folder: the scenario's own (edited in place, changed files kept as .bak)
        or an empty one (a copy of the scenario with the edits)."""
        from desktopviz.ui.main_policies import scenario_folder

        folder = QFileDialog.getExistingDirectory(
            self.w, "Save Policies to Scenario Folder", scenario_folder(self.w.session_path)
        )
        if folder:
            self.w.save_policies_to(folder)

    def export_policies(self) -> None:
        name = f"{self.w.scenario.name if self.w.scenario else 'policies'}-policies.yaml"
        out, _ = QFileDialog.getSaveFileName(
            self.w, "Export Policies as YAML", str(Path.home() / name), "YAML (*.yaml *.yml)"
        )
        if out:
            self.w.export_policies_to(out)

    def export_screenshot(self, panel: str) -> None:
        default = str(Path.home() / f"desktopviz-{panel}.png")
        out, _ = QFileDialog.getSaveFileName(
            self.w, "Export Screenshot", default, "PNG image (*.png);;SVG drawing (*.svg)"
        )
        if not out:
            return
        if not Path(out).suffix:
            out += ".png"
        try:
            save_widget(self.w.panel(panel), out)
        except SnapshotError as exc:
            self.w.show_message("error", "Export screenshot", str(exc))
            return
        self.w.statusBar().showMessage(f"Saved {out}", 10_000)

    # -- view and help -----------------------------------------------------------------
    def toggle_full_screen(self) -> None:
        if self.w.isFullScreen():
            self.w.showNormal()
        else:
            self.w.showFullScreen()
        self.fullscreen_action.setChecked(self.w.isFullScreen())

    def show_shortcuts(self) -> None:
        self.w.show_message("info", "Keyboard Shortcuts", SHORTCUTS_HTML)

    def show_about(self) -> None:
        self.w.show_message("info", "About desktopviz", self.w.about_text())


def build_menus(window: MainWindow) -> Menus:
    return Menus(window)


__all__ = ["CsvExportTask", "Menus", "build_menus", "QMessageBox"]
