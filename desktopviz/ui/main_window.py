"""The main window: the composition root of the application.

It owns the session (a live simulation through :class:`SimController`, or a stored run),
creates the views, and holds every cross-widget connection in :meth:`_connect_signals`.
Views plug in through three methods (``set_store``, ``refresh``, ``set_time_range``); the
window calls ``refresh()`` from a ~30 Hz clock only when new data arrived.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFrame,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QWidget,
)

from desktopviz.core.model import Scenario
from desktopviz.ui import settings as app_settings
from desktopviz.ui.file_kinds import is_database_path
from desktopviz.ui.flow_browser import FlowBrowser
from desktopviz.ui.main_links import ViewLinks
from desktopviz.ui.main_menus import build_menus
from desktopviz.ui.main_policies import PolicyEditing
from desktopviz.ui.main_refresh import VIEW_REFRESH_MS, RefreshClock  # noqa: F401 - re-exported
from desktopviz.ui.main_toolbar import SimulationBar
from desktopviz.ui.policy_board import PolicyBoard
from desktopviz.ui.sim_controller import (
    SPEEDS,
    IntervalSummary,
    SimController,
    SimFactory,
    StoreFactory,
    settle_heap,
)
from desktopviz.ui.visualizer import FlowVisualizer

REFRESH_MS = 33  # the window's clock: status line at ~30 Hz at most
DEFAULT_SPEED = 10.0  # the first flush interval (15 s in storefront) shows after 1.5 s


class StoreView(Protocol):
    """What a view offers the window (UI conventions of the project)."""

    def set_store(self, path: str | Path | None) -> None: ...
    def refresh(self) -> None: ...
    def set_time_range(self, since: int | None, until: int | None) -> None: ...


class MainWindow(PolicyEditing, ViewLinks, RefreshClock, SimulationBar, QMainWindow):
    """desktopviz's window: Flow Visualizer in the centre, Policy Board (right) and flow
    logs (bottom) in docks, the simulation toolbar, menus and status bar.

    Signals:
        session_changed(str): a scenario or database was opened (its path).
        store_changed(str): the views now read this database ("" for none).
        data_refreshed(): a view was refreshed with new data (one view per ~30 Hz tick,
            each at most every VIEW_REFRESH_MS).
    """

    session_changed = Signal(str)
    store_changed = Signal(str)
    data_refreshed = Signal()

    def __init__(
        self,
        *,
        sim_factory: SimFactory | None = None,
        store_factory: StoreFactory | None = None,
        persist: bool = True,
        parent: QWidget | None = None,
    ) -> None:
        """`persist=False` (screenshots): neither read nor write the saved layout, speed and
        recent files."""
        super().__init__(parent)
        self.persist = persist
        self.setObjectName("MainWindow")
        self.setWindowTitle("desktopviz")
        self.resize(1440, 900)
        self._sim_factory = sim_factory
        self._store_factory = store_factory
        self.controller: SimController | None = None
        self.scenario: Scenario | None = None
        self.session_path: str | None = None
        self.store_path: str | None = None
        self.last_error: str | None = None
        self._dirty = False
        self._status_dirty = False
        self._origin: float | None = None
        saved = app_settings.settings().value("simulation/speed", DEFAULT_SPEED) if persist else DEFAULT_SPEED
        self._speed = float(saved or DEFAULT_SPEED)
        if self._speed not in SPEEDS:
            self._speed = DEFAULT_SPEED
        self._closed = False
        self._flows_busy = False
        self._due: set[str] = set()  # views with new data to read
        self._refreshed: dict[str, float] = {}  # view -> when it last re-read the store
        self._stale: set[str] = set()  # views that missed a refresh while hidden
        self._hold_until = 0.0  # a new session's simulation waits until then (main_refresh)
        self._idle_jobs: list[Any] = []  # main_refresh.when_views_idle
        self._idle_jobs_deadline = 0.0

        self._build_views()
        self._init_policy_editing()
        self._build_toolbar()
        self._build_status_bar()
        self.menus = build_menus(self)
        self._connect_signals()
        self._restore_layout()
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setInterval(REFRESH_MS)
        self._refresh_timer.timeout.connect(self._on_refresh_clock)
        self._refresh_timer.start()
        self._update_actions()
        # The heap (modules, Qt wrappers, the widgets just made) collected and frozen now,
        # before the window shows: a session start then collects only what is new (a full
        # collection of it all holds the GIL for ~60 ms).
        settle_heap()

    # -- construction ------------------------------------------------------------------
    def _build_views(self) -> None:
        self.visualizer = FlowVisualizer()
        self.visualizer.setObjectName("visualizer")
        self.setCentralWidget(self.visualizer)
        self.board = PolicyBoard()
        self.flows = FlowBrowser()
        # The flow logs span the full width under the visualizer and the board: the table
        # and its detail pane need the width more than the board needs the height.
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.setCorner(Qt.Corner.TopRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self.board_dock = self._dock(
            "board_dock", "Policy Board", self.board, Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.flows_dock = self._dock(
            "flows_dock", "Flow Logs", self.flows, Qt.DockWidgetArea.BottomDockWidgetArea
        )
        self.resizeDocks([self.board_dock], [560], Qt.Orientation.Horizontal)
        self.resizeDocks([self.flows_dock], [340], Qt.Orientation.Vertical)

    def _dock(self, name: str, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        """A dock whose panel scrolls when the dock is made smaller than the panel's minimum
        size, so the window still fits a 1366×768 laptop screen."""
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        scroll = QScrollArea(dock)
        scroll.setObjectName(f"{name}_scroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(widget)
        dock.setWidget(scroll)
        self.addDockWidget(area, dock)
        return dock

    @property
    def views(self) -> dict[str, QWidget]:
        """The panels by name: visualizer, board, flows."""
        return {"visualizer": self.visualizer, "board": self.board, "flows": self.flows}

    def panel(self, name: str) -> QWidget:
        """A panel to picture: window, visualizer, board or flows."""
        if name == "window":
            return self
        return {"visualizer": self.visualizer, "board": self.board_dock, "flows": self.flows_dock}[name]

    def _connect_signals(self) -> None:
        """Every cross-widget connection of the application."""
        self.play_action.triggered.connect(self.toggle_play)
        self.speed_group.triggered.connect(lambda act: self.set_speed(float(act.data())))
        self.reset_action.triggered.connect(self.reset_simulation)
        self.store_changed.connect(self._on_store_changed)
        self.session_changed.connect(self._on_session_changed)
        for view in self.views.values():
            view.error.connect(self._on_view_error)  # type: ignore[attr-defined]
        viz, flows, board = self.visualizer, self.flows, self.board
        # A time range chosen in one view applies to the others (set_time_range never echoes).
        viz.timeRangeChanged.connect(board.set_time_range)
        viz.timeRangeChanged.connect(flows.set_time_range)
        flows.timeRangeChanged.connect(viz.set_time_range)
        flows.timeRangeChanged.connect(board.set_time_range)
        # What is selected in the visualizer filters the flow logs.
        viz.selectionChanged.connect(flows.set_selection)
        # A policy named anywhere is shown on the board.
        viz.policyActivated.connect(self._show_policy)
        flows.policyActivated.connect(self._show_policy)
        # The policies of the selected flow log are marked on the board; the board's "show
        # flows" filters the flow logs.
        flows.flowSelected.connect(self._highlight_flow_policies)
        board.showFlows.connect(self._show_flows)
        flows.model.busyChanged.connect(self._on_flows_busy)
        self.board_dock.visibilityChanged.connect(lambda on: self._on_dock_visible("board", on))
        self.flows_dock.visibilityChanged.connect(lambda on: self._on_dock_visible("flows", on))
        self._connect_policy_signals()  # board edits → editor, policy set, simulation

    def _restore_layout(self) -> None:
        if not self.persist:
            return
        geometry, state = app_settings.load_window()
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)

    # -- sessions ----------------------------------------------------------------------
    def open_path(self, path: str | Path) -> bool:
        """Open a scenario (file or folder) or a flow database (SQLite file)."""
        p = Path(path)
        if is_database_path(p):
            return self.open_database(p)
        return self.open_scenario(p)

    def open_scenario(
        self,
        path: str | Path,
        *,
        db_path: str | Path | None = None,
        speed: float | None = None,
        running: bool = True,
    ) -> bool:
        """Load a scenario and start simulating it into a new database. A broken scenario
        shows its errors and leaves the current session running."""
        from desktopviz.core.scenario import load_scenario

        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            scenario = load_scenario(path)
        except Exception as exc:  # noqa: BLE001 - ScenarioError, OSError, anything: show it
            QApplication.restoreOverrideCursor()
            self.show_message("error", "Cannot open scenario", f"{path}\n\n{exc}")
            return False
        QApplication.restoreOverrideCursor()
        self.start_simulation(scenario, path, db_path=db_path, speed=speed, running=running)
        return True

    def start_simulation(
        self,
        scenario: Scenario,
        source: str | Path,
        *,
        db_path: str | Path | None = None,
        speed: float | None = None,
        running: bool = True,
    ) -> SimController:
        """Replace the current session by a simulation of an already loaded scenario."""
        self._end_session()
        self.scenario = scenario
        self._origin = float(scenario.settings.start_time)
        if speed is not None:
            self._speed = speed
            self.speed_actions[speed].setChecked(True)
        self.controller = SimController(
            scenario,
            db_path,
            speed=self._speed,
            running=running,
            sim_factory=self._sim_factory,
            store_factory=self._store_factory,
            parent=self,
        )
        self._connect_controller(self.controller)
        self._set_events(scenario)
        self._begin_session(source)
        self.hold_simulation_for_start()
        self.controller.start()
        return self.controller

    def open_database(self, path: str | Path, *, scenario: Scenario | None = None) -> bool:
        """Open a stored run (no simulation). A file that is not a flow database shows the
        error and leaves the current session running. `scenario`, if known, names the run
        and gives the Policy Board its tiers and policies."""
        from desktopviz.core.store import FlowStore
        from desktopviz.ui.store_upgrade import upgrade_if_needed

        try:
            upgrade_if_needed(self, path)  # a file of an older desktopviz: upgraded behind a busy dialog
            FlowStore(path, create=False, readonly=True).close()
        except Exception as exc:  # noqa: BLE001 - StoreError, OSError
            self.show_message("error", "Cannot open flow database", f"{path}\n\n{exc}")
            return False
        self._end_session()
        self.scenario = scenario
        self._origin = float(scenario.settings.start_time) if scenario else None
        self._set_events(None)
        self._begin_session(path)
        self.store_changed.emit(str(path))
        return True

    def _begin_session(self, path: str | Path) -> None:
        self.session_path = str(path)
        self.last_error = None
        self.status_error.clear()
        name = self.scenario.name if self.scenario else Path(path).name
        kind = "stored run" if self.controller is None else "simulation"
        self.setWindowTitle(f"{name} ({kind}) — desktopviz")
        if self.persist:
            app_settings.add_recent_file(path)
            self.menus.update_recent()
        self._update_actions()
        self.session_changed.emit(str(path))

    def _end_session(self) -> None:
        """Stop the running simulation (flushing its last interval) and detach the views."""
        ctl = self.controller
        self.controller = None
        if ctl is not None:
            ctl.shutdown()
            ctl.setParent(None)
            ctl.deleteLater()
        self.store_changed.emit("")

    def _connect_controller(self, ctl: SimController) -> None:
        ctl.store_opened.connect(self.store_changed)
        ctl.clock.connect(self._on_clock)
        ctl.interval.connect(self._on_interval)
        ctl.state_changed.connect(self._on_state)
        ctl.event_fired.connect(self._on_event_fired)
        ctl.cluster_changed.connect(self._on_cluster_changed)
        ctl.failed.connect(self._on_sim_failed)

    def show_message(self, level: str, title: str, text: str) -> None:
        """The one place the window shows a message box (non-modal; tests replace it)."""
        icon = {"error": QMessageBox.Icon.Critical, "warning": QMessageBox.Icon.Warning}.get(
            level, QMessageBox.Icon.Information
        )
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # -- reactions ---------------------------------------------------------------------
    @Slot(str)
    def _on_store_changed(self, path: str) -> None:
        if not path and self.store_path is None:
            return  # no store before either (a first session starting): the views have nothing
        self.store_path = path or None
        self._stale.clear()  # set_store reads the new store (hidden or not)
        if path and self.controller is not None:
            self.hold_simulation_for_start()  # the views' first look at the new run first
        for view in self.views.values():
            view.set_store(path or None)  # type: ignore[attr-defined]
        self._dirty = True
        self._status_dirty = True

    @Slot(str)
    def _on_session_changed(self, path: str) -> None:
        self._start_policy_session()  # board (its own engine off-thread), visualizer engine, editing

    @Slot(float)
    def _on_clock(self, now: float) -> None:
        self._status_dirty = True

    @Slot(object)
    def _on_interval(self, summary: IntervalSummary) -> None:
        self._dirty = True
        self._status_dirty = True

    @Slot(bool, float)
    def _on_state(self, running: bool, speed: float) -> None:
        self._update_actions()

    @Slot(str)
    def _on_event_fired(self, event_id: str) -> None:
        act = self.event_actions.get(event_id)
        if act is not None:
            act.setEnabled(False)
        self.statusBar().showMessage(f"Event fired: {act.text() if act else event_id}", 5000)

    @Slot(str)
    def _on_sim_failed(self, message: str) -> None:
        self.last_error = message
        self.status_error.setText(f"Simulation stopped: {message}")
        self._update_actions()
        self.show_message("error", "Simulation stopped", message)

    @Slot(str)
    def _on_view_error(self, message: str) -> None:
        self.last_error = message
        self.status_error.setText(message)

    # -- closing -----------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Save the layout, stop the simulation (last interval written), close the views'
        databases. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._refresh_timer.stop()
        self._close_policy_windows()
        if self.persist:
            app_settings.save_window(self.saveGeometry(), self.saveState())
        self.menus.shutdown()
        self._end_session()
        self.wait_for_totals()
        for view in self.views.values():
            view.shutdown()  # type: ignore[attr-defined]
