"""Links between the main window's views (a mixin of MainWindow): a policy named anywhere
opens on the board, the board's "show flows" filters the flow logs, the selected flow log's
policies are marked on the board; plus waiting for the views (screenshots) and About."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEventLoop, QTimer, Slot

from desktopviz import __version__
from desktopviz.core import paths
from desktopviz.ui import settings as app_settings


class ViewLinks:
    """Cross-view slots of MainWindow (connected in MainWindow._connect_signals)."""

    scenario: Any
    store_path: str | None
    visualizer: Any
    board: Any
    flows: Any
    board_dock: Any
    flows_dock: Any
    _flows_busy: bool

    @Slot(bool)
    def _on_flows_busy(self, busy: bool) -> None:
        self._flows_busy = busy

    @Slot(str)
    def _show_policy(self, key: str) -> None:
        """Open a policy (trace name) in the board's policy view."""
        self.board_dock.show()
        self.board_dock.raise_()
        self.board.open_policy(key)

    @Slot(str)
    def _show_flows(self, filter_text: str) -> None:
        """Show the flow logs matching a filter (from the board's "show flows")."""
        self.flows_dock.show()
        self.flows_dock.raise_()
        try:
            self.flows.set_filter(filter_text)
        except ValueError as exc:  # FilterError: a bad filter is a bug upstream; say so
            self._on_view_error(f"Flow logs: {exc}")

    @Slot(object)
    def _highlight_flow_policies(self, flow_id: int | None) -> None:
        """Mark the policies of the selected flow log's trace on the board (from the table's
        loaded row: the selected row's page is in its cache; the store only if it is not)."""
        traces: list[str] = []
        if flow_id is not None and self.store_path:
            try:
                log = self._selected_log(int(flow_id))
                traces = list((log.policies or {}).get("enforced_policies") or [])
                traces = traces or list((log.policies or {}).get("all_policies") or [])
            except (KeyError, OSError, ValueError, Exception):  # noqa: BLE001 - a detail, not an error
                traces = []
        self.board.highlight_policies(traces)

    def _selected_log(self, flow_id: int) -> Any:
        from desktopviz.core.store import FlowStore, record_from_row

        model = self.flows.model
        row = model.find_row(flow_id)
        values = model.row_values(row) if row is not None else None
        if values is not None and int(values[0]) == flow_id:
            return record_from_row(tuple(values[1:]))
        assert self.store_path is not None
        with FlowStore(self.store_path, create=False, readonly=True) as store:
            return store.get(flow_id)

    def settle(self, timeout_ms: int = 10_000) -> None:
        """Refresh every view and process events until they have drawn their data (views
        that render in the background report `is_idle()`); for screenshots."""

        self.refresh_now()
        deadline = time.monotonic() + timeout_ms / 1000
        self._run_until(self._views_settled, deadline, min_ticks=5)
        self.refresh_now()
        self._run_until(self._views_settled, deadline)  # the last refresh's reads

    @staticmethod
    def _run_until(done: Callable[[], bool], deadline: float, min_ticks: int = 1) -> None:
        """Run the event loop, checking `done` every 5 ms (at least `min_ticks` times), until
        it holds or the deadline passes."""
        loop = QEventLoop()
        timer = QTimer()
        timer.setInterval(5)
        ticks = [0]

        def check() -> None:
            ticks[0] += 1
            if (ticks[0] >= min_ticks and done()) or time.monotonic() >= deadline:
                loop.quit()

        timer.timeout.connect(check)
        timer.start()
        loop.exec()
        timer.stop()

    def _views_settled(self) -> bool:
        return (
            self.visualizer.is_idle()
            and self.board.is_idle()
            and not self._flows_busy
            and not getattr(self, "_totals_busy", False)
        )

    def about_text(self) -> str:
        return (
            f"<h3>desktopviz {__version__}</h3>"
            "<p>Calico Enterprise-style network visibility on your desktop: Flow Visualizer, "
            "Policy Board and flow logs, fed by a simulator that evaluates Calico's tiered policy.</p>"
            f"<p>Run databases: <code>{paths.data_dir()}</code><br>"
            f"Built-in scenarios: <code>{paths.scenarios_dir()}</code><br>"
            f"Settings: <code>{app_settings.settings().fileName()}</code></p>"
        )
