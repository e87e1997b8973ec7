"""The main window's refresh clock (a mixin of MainWindow): views re-read the store when new
data arrived, one view per ~30 Hz tick and each at most every VIEW_REFRESH_MS (the flow
table every REFRESH_MS_BY_VIEW["flows"]), so their
repaints land in different frames; a view in a closed or tabbed-away dock waits until it is
shown again. Each refresh asks a max-speed simulation to step aside while the view repaints
(desktopviz.ui.sim_worker_pacing). Measured with tests/perf/bench_ui_latency.py.
"""

from __future__ import annotations

import time
from typing import Any

from desktopviz.ui.sim_worker_pacing import MAX_BUSY_S, REFRESH_BUSY_S, gui_busy

VIEW_REFRESH_MS = 200  # views re-read the store at most 5 times a second (at max speed new
# intervals arrive continuously; nobody reads faster, and the views' queries cost GUI time)
REFRESH_MS_BY_VIEW = {"flows": 1000}  # the flow-log table once a second: each refresh inserts
# rows and repaints every visible cell (one call into Python per cell, each waiting for the GIL
# while the simulation runs), and a log table changing five times a second cannot be read
IDLE_JOB_WAIT_S = 1.0  # when_views_idle() jobs run by then even if the views never rest
START_HOLD_S = 0.6  # a new session's simulation steps aside (at most this long) until the
# views have made their first pictures, board cards and table page: each first one costs more
# than a refresh, and several times more while the simulator holds the GIL


class RefreshClock:
    """Expects from MainWindow: ``views``, ``_dirty``, ``_due``, ``_refreshed``, ``_stale``,
    ``_status_dirty``, ``data_refreshed``, ``_update_status`` and ``isVisible``."""

    views: dict[str, Any]
    _dirty: bool
    _status_dirty: bool
    _due: set[str]
    _refreshed: dict[str, float]
    _stale: set[str]
    _hold_until: float
    _idle_jobs: list[Any]
    _idle_jobs_deadline: float
    _flows_busy: bool
    data_refreshed: Any

    def hold_simulation_for_start(self) -> None:
        """A session starts or its store opened: the simulation waits until the views are idle
        (at most START_HOLD_S); a max-speed worker also waits to build its simulator."""
        self._hold_until = time.monotonic() + START_HOLD_S
        gui_busy(MAX_BUSY_S)

    def when_views_idle(self, job: Any) -> None:
        """Run `job` (on the GUI thread) once the views are idle, or after IDLE_JOB_WAIT_S at
        the latest: background work that can wait for a new session's first pictures."""
        if not self._idle_jobs:
            self._idle_jobs_deadline = time.monotonic() + IDLE_JOB_WAIT_S
        self._idle_jobs.append(job)

    def _run_idle_jobs(self, now: float) -> None:
        if self._idle_jobs and ((self._views_idle() and not self._due) or now >= self._idle_jobs_deadline):
            jobs, self._idle_jobs = self._idle_jobs, []
            for job in jobs:
                job()

    def _views_idle(self) -> bool:
        return (
            all(getattr(v, "is_idle", lambda: True)() for v in self.views.values()) and not self._flows_busy
        )

    def _on_refresh_clock(self) -> None:
        now = time.monotonic()
        if now < self._hold_until:
            if self._views_idle() and not self._due:
                self._hold_until = 0.0  # the views are done: the simulation may go
            else:
                gui_busy(min(MAX_BUSY_S, self._hold_until - now))
        self._run_idle_jobs(now)
        if self._dirty:
            self._dirty = False
            self._due.update(self.views)
        due = [
            n
            for n in self._due
            if now - self._refreshed.get(n, 0.0) >= REFRESH_MS_BY_VIEW.get(n, VIEW_REFRESH_MS) / 1000
        ]
        if due:
            # One view per tick, the longest waiting: their repaints land in different frames
            # instead of one long stall of all of them together.
            name = min(due, key=lambda n: self._refreshed.get(n, 0.0))
            self._due.discard(name)
            self._refreshed[name] = now
            view = self.views[name]
            if self.isVisible() and not view.isVisible():  # a closed or tabbed-away dock: later
                self._stale.add(name)
            else:
                gui_busy(REFRESH_BUSY_S)  # the simulation waits while the view re-reads and repaints
                view.refresh()  # type: ignore[attr-defined]
                self.data_refreshed.emit()
        if self._status_dirty:
            self._status_dirty = False
            self._update_status()

    def refresh_now(self) -> None:
        """Refresh every view and the status at once (used by screenshots and tests)."""
        self._dirty = False
        self._due.clear()
        self._stale.clear()
        now = time.monotonic()
        for name, view in self.views.items():
            self._refreshed[name] = now
            view.refresh()  # type: ignore[attr-defined]
        self.data_refreshed.emit()
        self._status_dirty = False
        self._update_status()

    def _on_dock_visible(self, name: str, visible: bool) -> None:
        """A dock came into view: bring its view up to date if it missed refreshes."""
        if visible and name in self._stale:
            self._stale.discard(name)
            self.views[name].refresh()  # type: ignore[attr-defined]
