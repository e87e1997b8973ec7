"""The policy editor's Change log (versions and their YAML diffs) and Preview (the what-if on
recorded flows) tabs, and the worker that computes a preview off the GUI thread."""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from desktopviz.core.model import Cluster
from desktopviz.core.policy_edit import Change, PolicySetState


@dataclass(frozen=True)
class WhatIfRequest:
    """What a preview compares: the policy set now and as it would be."""

    before: PolicySetState
    after: PolicySetState
    policy_key: str | None = None
    since: int | None = None
    until: int | None = None


def diff_html(diff: str) -> str:
    """A unified diff as HTML with removed lines red and added lines green."""
    rows = []
    for line in diff.splitlines():
        esc = html.escape(line) or "&nbsp;"
        if line.startswith(("+++", "---")):
            style = "color:#555;font-weight:600"
        elif line.startswith("@@"):
            style = "color:#6a5acd"
        elif line.startswith("+"):
            style = "background:#e6ffed;color:#1a7f37"
        elif line.startswith("-"):
            style = "background:#ffebe9;color:#b52a25"
        else:
            style = "color:#333"
        rows.append(f'<div style="{style};white-space:pre">{esc}</div>')
    body = "".join(rows) or '<div style="color:#777">No changes.</div>'
    return f'<div style="font-family:monospace">{body}</div>'


class ChangeLogView(QWidget):
    """Every version of this editing session with its YAML diff (calico.md §4.2 change log)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.versions = QListWidget(self)
        self.versions.setObjectName("versions")
        self.diff = QTextEdit(self)
        self.diff.setObjectName("diff")
        self.diff.setReadOnly(True)
        split = QSplitter(self)
        split.addWidget(self.versions)
        split.addWidget(self.diff)
        split.setSizes([300, 800])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)
        self._diffs: list[str] = []
        self.versions.currentRowChanged.connect(self._show)

    def set_history(self, history: list[Change], total: str) -> None:
        self._diffs = [total] + [c.diff() for c in reversed(history)]
        self.versions.blockSignals(True)
        self.versions.clear()
        self.versions.addItem(f"All changes since opened ({len(history)})")
        for n, change in zip(range(len(history), 0, -1), reversed(history), strict=False):
            when = time.strftime("%H:%M:%S", time.localtime(change.time))
            self.versions.addItem(f"v{n}  {when}  {change.label}")
        self.versions.blockSignals(False)
        self.versions.setCurrentRow(1 if history else 0)
        self._show(self.versions.currentRow())

    def _show(self, row: int) -> None:
        if 0 <= row < len(self._diffs):
            self.diff.setHtml(diff_html(self._diffs[row]))

    def current_diff(self) -> str:
        row = self.versions.currentRow()
        return self._diffs[row] if 0 <= row < len(self._diffs) else ""


COLUMNS = ("Source", "Destination", "Port", "Reporter", "Change", "Flows", "Decided by / why")


class PreviewView(QWidget):
    """The flows whose verdict the edit would change, and those it cannot predict; the
    toggles of calico.md §4.3 say how the Flow Visualizer shows the preview.

    Signals:
        optionsChanged(bool applied, bool only_changed): "Changes applied" (flows as they
            would be) and "Only changed flows" were toggled.
    """

    optionsChanged = Signal(bool, bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.applied = QCheckBox("Changes applied", self)
        self.applied.setObjectName("changesApplied")
        self.applied.setChecked(True)
        self.applied.setToolTip("The Flow Visualizer shows the flows as they would be after the change")
        self.only_changed = QCheckBox("Only changed flows", self)
        self.only_changed.setObjectName("onlyChanged")
        self.only_changed.setToolTip("The Flow Visualizer shows only the flows whose verdict would change")
        for box in (self.applied, self.only_changed):
            box.toggled.connect(lambda _on: self.optionsChanged.emit(*self.options()))
        self.summary = QLabel("Press Preview to re-evaluate the recorded flows with this change.", self)
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("previewTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.applied)
        top.addWidget(self.only_changed)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.table, 1)
        self.result: Any = None

    def options(self) -> tuple[bool, bool]:
        """(Changes applied, Only changed flows)."""
        return self.applied.isChecked(), self.only_changed.isChecked()

    def set_busy(self) -> None:
        self.summary.setText("Re-evaluating the recorded flows…")
        self.table.setRowCount(0)

    def set_result(self, result: Any) -> None:
        self.result = result
        if isinstance(result, Exception):
            self.summary.setText(f"Preview failed: {result}")
            return
        self.summary.setText(
            f"{len(result.changes)} flow group(s) would change: {result.allow_to_deny} allow → deny, "
            f"{result.deny_to_allow} deny → allow; {len(result.uncertain)} uncertain "
            f"(the record does not tell); {len(result.rows)} evaluated."
        )
        listed = [r for r in result.rows if r.changed or r.uncertain]
        self.table.setRowCount(len(listed))
        for i, r in enumerate(listed):
            change = f"uncertain ({r.before})" if r.uncertain else f"{r.before} → {r.after}"
            why = r.reason if r.uncertain else (r.rule_text or r.rule)
            cells = (
                r.source,
                r.dest,
                "-" if r.port is None else str(r.port),
                r.reporter,
                change,
                str(r.num_flows),
                why,
            )
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j == 4:
                    item.setForeground(
                        _colour("#888" if r.uncertain else ("#1a7f37" if r.after == "allow" else "#b52a25"))
                    )
                self.table.setItem(i, j, item)
        self.table.resizeColumnsToContents()


def _colour(name: str) -> Any:
    from PySide6.QtGui import QColor

    return QColor(name)


class _Signals(QObject):
    done = Signal(object)


class _PreviewTask(QRunnable):
    def __init__(self, store_path: str, cluster: Cluster, request: WhatIfRequest) -> None:
        super().__init__()
        self.store_path, self.cluster, self.request = store_path, cluster, request
        self.signals = _Signals()

    def run(self) -> None:
        from desktopviz.core.store import FlowStore
        from desktopviz.core.whatif import evaluate_whatif

        try:
            with FlowStore(self.store_path, create=False, readonly=True) as store:
                r = self.request
                result: Any = evaluate_whatif(store, self.cluster, r.before, r.after, r.since, r.until)
        except Exception as exc:  # noqa: BLE001 - shown in the Preview tab
            result = exc
        self.signals.done.emit(result)
        _RUNNING.discard(self)


_RUNNING: set[_PreviewTask] = set()


def run_preview(
    store_path: str, cluster: Cluster, request: WhatIfRequest, done: Callable[[Any], None]
) -> None:
    """Evaluate the what-if in the global thread pool. `done` must be a slot of a QObject of
    the GUI thread (a bound method): it is then called there, queued, with the result."""
    task = _PreviewTask(store_path, cluster, request)
    task.setAutoDelete(False)
    _RUNNING.add(task)
    task.signals.done.connect(done)
    QThreadPool.globalInstance().start(task)
