"""The row detail panel of the flow-log browser: every field, the policy traces, the JSON.

Signals:
    policyActivated(str): a policy's trace name was clicked (show it on the Policy Board).
    filterRequested(str, object, bool): (field, value, negate) chosen from a field's menu.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QBrush, QFont, QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QMenu,
    QPlainTextEdit,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktopviz.core.flowlog import FlowLog
from desktopviz.core.verdict import PolicyHit
from desktopviz.ui.flow_browser_data import display_text
from desktopviz.ui.theme import ALLOWED, DENIED

TRACE_COLUMNS = ("index", "tier", "policy", "action", "rule")
_ACTION_COLOUR = {"allow": ALLOWED, "deny": DENIED}


def trace_rows(entries: list[str]) -> list[tuple[str, str, str, str, str]]:
    """Trace entries as table rows sorted by index (Calico stores them unordered)."""
    rows = []
    for text in entries or []:
        try:
            h = PolicyHit.parse(text)
        except (ValueError, AttributeError):
            rows.append(("?", "", str(text), "", ""))
            continue
        rule = {-1: "end of tier", -2: "unknown"}.get(h.rule_index, str(h.rule_index))
        rows.append((str(h.index), h.tier, h.name, h.action, rule))
    return sorted(rows, key=lambda r: int(r[0]) if r[0].lstrip("-").isdigit() else 1 << 30)


class TraceTable(QTableWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(TRACE_COLUMNS), parent)
        self.setHorizontalHeaderLabels(list(TRACE_COLUMNS))
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setWordWrap(False)
        h = self.horizontalHeader()
        for i in range(len(TRACE_COLUMNS)):
            h.setSectionResizeMode(i, QHeaderView.ResizeMode.ResizeToContents)
        h.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setDefaultSectionSize(22)

    def set_entries(self, entries: list[str]) -> None:
        rows = trace_rows(entries)
        self.setRowCount(len(rows))
        link = self.palette().link()
        underline = QFont(self.font())
        underline.setUnderline(True)
        for r, values in enumerate(rows):
            for c, v in enumerate(values):
                item = QTableWidgetItem(v)
                if c == 2 and values[1] != "__PROFILE__":
                    item.setForeground(link)
                    item.setFont(underline)
                    item.setToolTip(f"Show {v} on the Policy Board")
                if c == 3 and v in _ACTION_COLOUR:
                    item.setForeground(QBrush(_ACTION_COLOUR[v]))
                self.setItem(r, c, item)
        self.setFixedHeight(self.horizontalHeader().height() + max(1, len(rows)) * 22 + 4)


class FlowDetail(QWidget):
    policyActivated = Signal(str)
    filterRequested = Signal(str, object, bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("Select a flow log to see its fields")
        self.title.setWordWrap(True)
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        f = self.title.font()
        f.setBold(True)
        self.title.setFont(f)
        self.tabs = QTabWidget()
        self.fields = QTreeWidget()
        self.fields.setHeaderLabels(["field", "value"])
        self.fields.setUniformRowHeights(True)
        self.fields.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.fields.customContextMenuRequested.connect(self._field_menu)
        self.fields.setIndentation(12)
        self.fields.header().resizeSection(0, 150)
        policies = QWidget()
        pl = QVBoxLayout(policies)
        pl.setContentsMargins(4, 4, 4, 4)
        self.enforced_label = QLabel("Enforced policies")
        self.enforced = TraceTable()
        self.pending_label = QLabel("Pending policies (as if staged policies were enforced)")
        self.pending = TraceTable()
        for w in (self.enforced_label, self.enforced, self.pending_label, self.pending):
            pl.addWidget(w)
        pl.addStretch(1)
        for t in (self.enforced, self.pending):
            t.cellClicked.connect(lambda r, c, t=t: self._trace_clicked(t, r, c))
        self.json = QPlainTextEdit()
        self.json.setReadOnly(True)
        self.json.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.tabs.addTab(self.fields, "Fields")
        self.tabs.addTab(policies, "Policies")
        self.tabs.addTab(self.json, "JSON")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.title)
        lay.addWidget(self.tabs, 1)
        self.record: FlowLog | None = None
        self.flow_id: int | None = None

    def show_record(self, flow_id: int | None, record: FlowLog | None) -> None:
        """Show one flow log (None clears the panel)."""
        self.flow_id, self.record = flow_id, record
        self.fields.clear()
        if record is None:
            self.title.setText("Select a flow log to see its fields")
            self.enforced.set_entries([])
            self.pending.set_entries([])
            self.json.setPlainText("")
            return
        d = record.to_dict()
        src = (
            f"{d['source_namespace']}/{d['source_name_aggr']}"
            if d["source_namespace"] != "-"
            else d["source_name_aggr"]
        )
        dst = (
            f"{d['dest_namespace']}/{d['dest_name_aggr']}"
            if d["dest_namespace"] != "-"
            else d["dest_name_aggr"]
        )
        port = f":{d['dest_port']}" if d["dest_port"] is not None else ""
        self.title.setText(f"{src} → {dst}{port} {d['proto']} · {d['action']} at {d['reporter']}")
        for name, value in d.items():
            item = QTreeWidgetItem([name, self._text(name, value)])
            item.setData(0, Qt.ItemDataRole.UserRole, (name, value))
            item.setToolTip(0, name)
            item.setToolTip(1, item.text(1))
            if name in ("start_time", "end_time"):
                item.setToolTip(1, str(value))
            if name in ("source_labels", "dest_labels") and value:
                for kv in value.get("labels", []):
                    k, _, v = kv.partition("=")
                    child = QTreeWidgetItem([f"{name}.{k}", v])
                    child.setData(0, Qt.ItemDataRole.UserRole, (f"{name}.{k}", v))
                    item.addChild(child)
                item.setExpanded(True)
            if name == "policies" and isinstance(value, dict):
                for key in ("enforced_policies", "pending_policies", "all_policies"):
                    child = QTreeWidgetItem([f"policies.{key}", ", ".join(value.get(key) or [])])
                    item.addChild(child)
                item.setExpanded(True)
            if name == "action":
                item.setForeground(1, QBrush(_ACTION_COLOUR.get(str(value), self.palette().text().color())))
            self.fields.addTopLevelItem(item)
        pol = d.get("policies") or {}
        enforced = pol.get("enforced_policies") or []
        pending = pol.get("pending_policies") or []
        if not enforced and not pending:
            enforced = [e for e in pol.get("all_policies") or [] if "staged:" not in e]
            pending = list(pol.get("all_policies") or [])
        self.enforced.set_entries(enforced)
        self.pending.set_entries(pending)
        self.json.setPlainText(json.dumps(d, indent=2, ensure_ascii=False))

    @staticmethod
    def _text(name: str, value: Any) -> str:
        if name in ("start_time", "end_time") and value is not None:
            return f"{display_text(name, value)} UTC  ({value})"
        if name == "policies":
            return ""
        if value is None:
            return "null"
        if name in ("source_labels", "dest_labels"):
            return f"{len(value.get('labels', []))} labels"
        return display_text(name, value) if not isinstance(value, int) else str(value)

    def trace_names(self, which: str = "enforced") -> list[str]:
        t = self.enforced if which == "enforced" else self.pending
        return [t.item(r, 2).text() for r in range(t.rowCount())]

    def trace_actions(self, which: str = "enforced") -> list[tuple[str, str]]:
        t = self.enforced if which == "enforced" else self.pending
        return [(t.item(r, 2).text(), t.item(r, 3).text()) for r in range(t.rowCount())]

    def _trace_clicked(self, table: TraceTable, row: int, column: int) -> None:
        if column == 2 and table.item(row, 1).text() != "__PROFILE__":
            self.policyActivated.emit(table.item(row, 2).text())

    def _field_menu(self, pos: QPoint) -> None:
        item = self.fields.itemAt(pos)
        payload = item.data(0, Qt.ItemDataRole.UserRole) if item else None
        if not payload or payload[0] == "policies" or isinstance(payload[1], dict | list):
            return
        field, value = payload
        menu = QMenu(self)
        menu.addAction("Filter for value", lambda: self.filterRequested.emit(field, value, False))
        menu.addAction("Filter out value", lambda: self.filterRequested.emit(field, value, True))
        menu.exec(self.fields.viewport().mapToGlobal(pos))
