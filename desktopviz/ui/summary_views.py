"""Simple live views over the flow store, for the panels whose full widgets have not landed.

Each follows the project's view conventions: ``set_store(path_or_None)`` opens its own
read-only FlowStore, ``refresh()`` is cheap (heavier queries are throttled to a few per
second), ``set_time_range(since, until)`` limits what is counted.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktopviz.ui.theme import ALLOWED, DENIED

Index = QModelIndex | QPersistentModelIndex


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


class StoreViewBase(QWidget):
    """A view with its own read-only store connection and throttled refreshes.

    Signals:
        error(str): the store could not be read (message for the status bar).
    """

    error = Signal(str)
    min_refresh_ms = 0

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store: Any = None
        self.path: str | None = None
        self.since: int | None = None
        self.until: int | None = None
        self._last_refresh = 0.0
        self._pending = QTimer(self)
        self._pending.setSingleShot(True)
        self._pending.timeout.connect(self.refresh)

    def set_store(self, path: str | Path | None) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None
        self.path = str(path) if path else None
        if path:
            try:
                self.store = _open_readonly(path)
            except Exception as exc:  # noqa: BLE001
                self.error.emit(str(exc))
        self.clear()
        self._last_refresh = 0.0
        self.refresh()

    def set_time_range(self, since: int | None, until: int | None) -> None:
        self.since, self.until = since, until
        self.clear()
        self._last_refresh = 0.0
        self.refresh()

    def refresh(self) -> None:
        if self.store is None:
            return
        wait_ms = self.min_refresh_ms - (time.monotonic() - self._last_refresh) * 1000
        if wait_ms > 0:
            if not self._pending.isActive():
                self._pending.start(int(wait_ms) + 1)
            return
        self._last_refresh = time.monotonic()
        try:
            self.reload(self.store.conn)
        except sqlite3.Error as exc:
            self.error.emit(f"{type(self).__name__}: {exc}")

    def time_where(self, column: str = "start_time") -> tuple[str, list[int]]:
        parts, args = [], []
        if self.since is not None:
            parts.append(f"{column} >= ?")
            args.append(self.since)
        if self.until is not None:
            parts.append(f"{column} < ?")
            args.append(self.until)
        return (" AND ".join(parts) or "1"), args

    def clear(self) -> None:  # pragma: no cover - overridden
        pass

    def reload(self, conn: sqlite3.Connection) -> None:  # pragma: no cover - overridden
        pass

    def closeEvent(self, event: Any) -> None:  # noqa: N802
        self.set_store(None)
        super().closeEvent(event)


# -- flow logs: the newest rows ---------------------------------------------------------

FLOW_COLUMNS: tuple[tuple[str, str], ...] = (
    ("end_time", "End time"),
    ("action", "Action"),
    ("reporter", "Reporter"),
    ("source", "Source"),
    ("dest", "Destination"),
    ("dest_port", "Port"),
    ("proto", "Proto"),
    ("num_flows", "Flows"),
    ("packets", "Packets in/out"),
    ("bytes", "Bytes in/out"),
    ("policies", "Enforced policies"),
)
_SELECT = (
    "SELECT id, end_time, action, reporter, source_namespace, source_name_aggr, dest_namespace, "
    "dest_name_aggr, dest_port, proto, num_flows, packets_in, packets_out, bytes_in, bytes_out, policies "
    "FROM flow_logs"
)


def compact(n: int) -> str:
    """1,234 · 27.3k · 1.25M: counts that fit a narrow column."""
    if abs(n) < 10_000:
        return f"{n:,}"
    if abs(n) < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.2f}M"


def _endpoint(ns: str | None, name: str | None) -> str:
    return f"{ns}/{name}" if ns and ns != "-" else (name or "-")


def _policies_text(text: str | None) -> str:
    import json

    if not text:
        return ""
    try:
        entries = json.loads(text).get("enforced_policies") or json.loads(text).get("all_policies") or []
    except (ValueError, AttributeError):
        return str(text)
    return ", ".join(e.split("|")[2] + ":" + e.split("|")[3] for e in entries if e.count("|") >= 3)


_ACTION_COL = 1
_NUMERIC_COLS = frozenset({5, 7, 8, 9})
_RIGHT_ALIGN = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


class NewestFlowsModel(QAbstractTableModel):
    """The newest flow logs (by insertion), newest first, at most ``limit`` rows."""

    def __init__(self, limit: int = 500, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.limit = limit
        self._rows: list[tuple[int, tuple[str, ...]]] = []  # (id, display strings)
        self._last_id = 0
        self._bold = QFont()
        self._bold.setBold(True)
        self._brushes = (QBrush(ALLOWED), QBrush(DENIED))

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(FLOW_COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            if 0 <= section < len(FLOW_COLUMNS):
                return FLOW_COLUMNS[section][1]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        # Display strings are formatted once per row (load_newer), so painting a screenful
        # of cells costs look-ups only.
        row = index.row()
        if not (0 <= row < len(self._rows)):
            return None
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._rows[row][1][col]
        if col == _ACTION_COL:
            if role == Qt.ItemDataRole.ForegroundRole:
                return self._brushes[self._rows[row][1][col] == "deny"]
            if role == Qt.ItemDataRole.FontRole:
                return self._bold
        elif role == Qt.ItemDataRole.TextAlignmentRole and col in _NUMERIC_COLS:
            return _RIGHT_ALIGN
        return None

    @staticmethod
    def _display(r: tuple[Any, ...]) -> tuple[str, ...]:
        return (
            time.strftime("%H:%M:%S", time.gmtime(r[1])),
            str(r[2]),
            str(r[3]),
            _endpoint(r[4], r[5]),
            _endpoint(r[6], r[7]),
            "" if r[8] is None else str(r[8]),
            str(r[9]),
            f"{r[10] or 0:,}",
            f"{r[11] or 0:,} / {r[12] or 0:,}",
            f"{r[13] or 0:,} / {r[14] or 0:,}",
            _policies_text(r[15]),
        )

    def clear(self) -> None:
        self.beginResetModel()
        self._rows = []
        self._last_id = 0
        self.endResetModel()

    def load_newer(self, conn: sqlite3.Connection, where: str = "1", args: list[Any] | None = None) -> int:
        """Add the rows stored since the last call (newest first); returns how many."""
        new = conn.execute(
            f"{_SELECT} WHERE id > ? AND {where} ORDER BY id DESC LIMIT ?",
            [self._last_id, *(args or []), self.limit],
        ).fetchall()
        if not new:
            return 0
        self._last_id = int(new[0][0])
        rows = [(int(r[0]), self._display(tuple(r))) for r in new]
        self.beginInsertRows(QModelIndex(), 0, len(rows) - 1)
        self._rows[0:0] = rows
        self.endInsertRows()
        if len(self._rows) > self.limit:
            self.beginRemoveRows(QModelIndex(), self.limit, len(self._rows) - 1)
            del self._rows[self.limit :]
            self.endRemoveRows()
        return len(rows)


class FlowLogSummaryView(StoreViewBase):
    """The newest flow logs in a table (until the flow-log browser lands). Refreshed at
    most four times a second: nobody reads a table that changes faster."""

    min_refresh_ms = 250

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = NewestFlowsModel(parent=self)
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        for col, width in enumerate((70, 56, 64, 250, 250, 50, 48, 56, 110, 130)):
            header.resizeSection(col, width)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.caption = QLabel("No flow logs yet")
        self.caption.setContentsMargins(6, 2, 6, 2)
        self._sel: tuple[str, list[Any], str] | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.caption)
        layout.addWidget(self.table)

    def set_selection(self, selection: dict[str, Any] | None) -> None:
        """Show only the flow logs of what is selected in the visualizer: a namespace, a
        name (either end) or a flow (source and destination); {} or None shows all."""
        sel = selection or {}
        kind = sel.get("kind")
        ns, name = sel.get("namespace"), sel.get("name")
        if kind == "namespace":
            self._sel = ("(source_namespace = ? OR dest_namespace = ?)", [ns, ns], f"namespace {ns}")
        elif kind == "name":
            self._sel = (
                "((source_namespace = ? AND source_name_aggr = ?) OR (dest_namespace = ? AND dest_name_aggr = ?))",
                [ns, name, ns, name],
                f"{ns}/{name}",
            )
        elif kind == "flow":
            dns, _, dname = str(sel.get("dest", "")).partition(":")
            self._sel = (
                "(source_namespace = ? AND source_name_aggr = ? AND dest_namespace = ? AND dest_name_aggr = ?)",
                [ns, name, dns, dname],
                f"{ns}/{name} → {dns}/{dname}",
            )
        else:
            self._sel = None
        self.clear()
        self._last_refresh = 0.0
        self.refresh()

    def clear(self) -> None:
        self.model.clear()
        self.caption.setText("No flow logs yet" if self.store is not None else "No flow database open")

    def reload(self, conn: sqlite3.Connection) -> None:
        where, args = self.time_where()
        if self._sel is not None:
            where, args = f"{where} AND {self._sel[0]}", [*args, *self._sel[1]]
        if self.model.load_newer(conn, where, args):
            about = f" of {self._sel[2]}" if self._sel else ""
            self.caption.setText(f"Newest {self.model.rowCount():,} flow logs{about} (newest first)")
