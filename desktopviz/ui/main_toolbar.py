"""The main window's simulation toolbar and status bar (a mixin of MainWindow): play/pause,
speeds, the simulated clock, reset, the scenario's triggerable events, and the status line
(simulated time, flow logs stored, last interval's allowed/denied, last error).

A live run's figures come from the simulation's own summaries (no store read); a stored run's
are read by a worker thread (:class:`TotalsJob`): the GUI thread never runs SQL."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QLabel, QToolBar

from desktopviz.core.model import Scenario
from desktopviz.ui import settings as app_settings
from desktopviz.ui.sim_controller import SPEEDS, speed_label


def format_sim_time(t: float, origin: float | None = None) -> str:
    stamp = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")
    if origin is None:
        return stamp
    secs = max(0, int(t - origin))
    return f"{stamp}  (+{secs // 3600:d}:{secs // 60 % 60:02d}:{secs % 60:02d})"


def _open_readonly(path: str | Path) -> Any:
    from desktopviz.core.store import FlowStore

    return FlowStore(path, create=False, readonly=True)


def store_totals(path: str | Path) -> dict[str, int]:
    """Flow logs stored, and the allowed/denied counts of the last interval (indexed
    look-ups: rows are never deleted, so the largest id is the count)."""
    try:
        store = _open_readonly(path)
    except Exception:  # noqa: BLE001 - shown elsewhere
        return {}
    try:
        c = store.conn
        out = {"count": int(c.execute("SELECT max(id) FROM flow_logs").fetchone()[0] or 0)}
        start = c.execute("SELECT max(start_time) FROM flow_logs").fetchone()[0]
        if start is not None:
            out["last_end_time"] = int(
                c.execute("SELECT max(end_time) FROM flow_logs WHERE start_time = ?", (start,)).fetchone()[0]
            )
            for action, n in c.execute(
                "SELECT action, count(*) FROM flow_logs WHERE start_time = ? GROUP BY action", (start,)
            ):
                out[f"last_{'allowed' if action == 'allow' else 'denied'}"] = int(n)
        return out
    finally:
        store.close()


class TotalsSignals(QObject):
    done = Signal(str, object)  # the store's path, store_totals() of it


class TotalsJob(QRunnable):
    """store_totals() of a stored run, off the GUI thread."""

    def __init__(self, path: str, signals: TotalsSignals) -> None:
        super().__init__()
        self.path, self.signals = path, signals

    def run(self) -> None:
        self.signals.done.emit(self.path, store_totals(self.path))


class SimulationBar:
    """Toolbar and status bar of MainWindow (uses its controller, scenario and store_path)."""

    controller: Any
    store_path: str | None
    last_error: str | None
    _origin: float | None
    _speed: float
    persist: bool
    status_error: QLabel

    # -- commands (the toolbar's and the Simulation menu's) ------------------------------
    def toggle_play(self) -> None:
        if self.controller is not None:
            self.controller.toggle()

    def set_speed(self, speed: float) -> None:
        self._speed = speed
        if self.persist:
            app_settings.settings().setValue("simulation/speed", speed)
        self.speed_actions[speed].setChecked(True)
        if self.controller is not None:
            self.controller.set_speed(speed)

    def fire_event(self, event_id: str) -> None:
        if self.controller is not None:
            self.controller.fire(event_id)

    def reset_simulation(self) -> None:
        if self.controller is not None:
            self.status_error.clear()
            self.last_error = None
            for act in self.event_actions.values():
                act.setEnabled(True)
            self.controller.reset()

    def _build_toolbar(self) -> None:
        tb = QToolBar("Simulation", self)
        tb.setObjectName("simulation_toolbar")
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)
        self.toolbar = tb
        style = self.style()
        self.play_action = QAction("Pause", self)
        self.play_action.setShortcut(QKeySequence(Qt.Key.Key_Space))
        self.play_action.setToolTip("Play or pause the simulation (Space)")
        self.play_icons = (
            style.standardIcon(style.StandardPixmap.SP_MediaPlay),
            style.standardIcon(style.StandardPixmap.SP_MediaPause),
        )
        tb.addAction(self.play_action)
        self.speed_group = QActionGroup(self)
        self.speed_actions: dict[float, QAction] = {}
        for speed in SPEEDS:
            act = QAction(speed_label(speed) if not math.isinf(speed) else "Max", self)
            act.setCheckable(True)
            act.setData(speed)
            act.setToolTip(
                "As fast as possible" if math.isinf(speed) else f"{speed:g} simulated seconds per second"
            )
            self.speed_group.addAction(act)
            self.speed_actions[speed] = act
            tb.addAction(act)
        self.speed_actions[self._speed].setChecked(True)
        tb.addSeparator()
        self.clock_label = QLabel("—")
        self.clock_label.setObjectName("clock_label")
        self.clock_label.setToolTip("Simulated time (UTC) and time since the scenario started")
        self.clock_label.setMinimumWidth(260)
        tb.addWidget(self.clock_label)
        tb.addSeparator()
        self.reset_action = QAction(style.standardIcon(style.StandardPixmap.SP_BrowserReload), "Reset", self)
        self.reset_action.setToolTip("Start the scenario again from the beginning (a new run database)")
        self.reset_action.setShortcut(QKeySequence("Ctrl+R"))
        tb.addAction(self.reset_action)
        tb.addSeparator()
        self.event_actions: dict[str, QAction] = {}
        self._event_separator = tb.addSeparator()

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.status_time = QLabel("")
        self.status_stored = QLabel("")
        self.status_interval = QLabel("")
        self.status_error = QLabel("")
        self.status_error.setObjectName("status_error")
        self.status_error.setStyleSheet("color: #d93636; font-weight: 600;")
        self.status_error.setWordWrap(False)
        # Permanent (right-hand) widgets stay visible while short messages show on the left.
        bar.addPermanentWidget(self.status_error, 1)
        for lbl in (self.status_time, self.status_stored, self.status_interval):
            lbl.setContentsMargins(8, 0, 8, 0)
            bar.addPermanentWidget(lbl)
        self._totals_pool = QThreadPool(self)
        self._totals_pool.setMaxThreadCount(1)
        self._totals_signals = TotalsSignals(self)
        self._totals_signals.done.connect(self._show_totals)
        self._totals_busy = False  # a TotalsJob is running
        self._totals_again = False  # the status was asked for meanwhile
        self._totals_shown: str | None = None  # the stored run whose figures are shown

    def wait_for_totals(self, ms: int = 5000) -> None:
        """Let a running read of the stored run's figures end (when closing)."""
        self._totals_pool.waitForDone(ms)

    def _set_events(self, scenario: Scenario | None) -> None:
        for act in self.event_actions.values():
            self.toolbar.removeAction(act)
            act.deleteLater()
        self.event_actions = {}
        for ev in scenario.events if scenario else []:
            if ev.at is not None:
                continue  # timed events fire on their own
            text = ev.name or ev.id
            act = QAction(text, self)
            act.setToolTip(f"Fire the scenario event {ev.id!r} now")
            act.setData(ev.id)
            act.triggered.connect(lambda _=False, eid=ev.id: self.fire_event(eid))
            self.toolbar.addAction(act)
            self.event_actions[ev.id] = act
        self.menus.set_events(list(self.event_actions.values()))

    def _update_status(self) -> None:
        ctl = self.controller
        if ctl is not None:
            now = ctl.sim_time
            self.clock_label.setText(format_sim_time(now, self._origin))
            self.status_time.setText(f"Simulated time {format_sim_time(now)} UTC")
            last = ctl.last
            total = last.total if last else 0
            self.status_stored.setText(f"{total:,} flow logs stored")
            if last is not None:
                self.status_interval.setText(
                    f"Last interval: {last.allowed:,} allowed, {last.denied:,} denied"
                )
            else:
                self.status_interval.setText("Waiting for the first flush interval…")
        elif self.store_path:
            if self._totals_busy:
                self._totals_again = True
            else:
                self._totals_busy = True
                self._totals_pool.start(TotalsJob(self.store_path, self._totals_signals))
            if self._totals_shown != self.store_path:
                self.status_stored.setText("Reading the stored run…")
        else:
            self.clock_label.setText("—")
            for lbl in (self.status_time, self.status_stored, self.status_interval):
                lbl.clear()

    def _show_totals(self, path: str, totals: dict[str, int]) -> None:
        """A stored run's figures, read by a TotalsJob (shown if that run is still open)."""
        self._totals_busy = False
        if self._totals_again:
            self._totals_again = False
            self._update_status()
        if self.controller is None and path == self.store_path:
            self._totals_shown = path
            end = totals.get("last_end_time")
            self.clock_label.setText(format_sim_time(end, self._origin) if end else "stored run")
            self.status_time.setText(
                f"Stored run, last interval {format_sim_time(end)} UTC" if end else "Stored run"
            )
            self.status_stored.setText(f"{totals.get('count', 0):,} flow logs stored")
            self.status_interval.setText(
                f"Last interval: {totals.get('last_allowed', 0):,} allowed, {totals.get('last_denied', 0):,} denied"
            )

    def _update_actions(self) -> None:
        ctl = self.controller
        live = ctl is not None and self.last_error is None
        running = bool(ctl and ctl.running)
        self.play_action.setEnabled(live)
        self.play_action.setText("Pause" if running else "Play")
        self.play_action.setIcon(self.play_icons[1] if running else self.play_icons[0])
        for act in self.speed_actions.values():
            act.setEnabled(ctl is not None)
        self.reset_action.setEnabled(ctl is not None)
        self.menus.update_state(ctl is not None)
