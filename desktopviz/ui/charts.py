"""Charts of the flow-log browser: allowed/denied over time, and top denied names.

:class:`TimeStrip` (desktopviz.ui.charts_strip, re-exported here) draws stacked bars of
allowed (green) and denied (red) flow logs, flows or bytes per time bucket for the browser's
current filter; dragging the shaded region chooses a time range. :class:`TopDenied` lists the
source and destination names with the most denied flows; clicking one asks for a filter on it.

Signals (TimeStrip):
    rangeSelected(object, object): (since, until) Unix seconds dragged on the strip.
Signals (TopDenied):
    filterRequested(str, str): (label, filter text) for a clicked name.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktopviz.core.filterlang import combine, term
from desktopviz.ui.charts_strip import METRICS, TimeStrip
from desktopviz.ui.theme import DENIED

__all__ = ["METRICS", "TimeStrip", "TopDenied"]


class TopDenied(QWidget):
    filterRequested = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Most denied", "flows", "logs"])
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.tree.setToolTip("Click a name to filter the flow logs by it")
        h = self.tree.header()
        h.setStretchLastSection(False)
        h.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        h.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        h.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemClicked.connect(self._clicked)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.tree)

    def set_top(
        self, sources: list[tuple[str, str, int, int]], dests: list[tuple[str, str, int, int]]
    ) -> None:
        """(namespace, name_aggr, flows, logs) of the most denied sources and destinations."""
        self.tree.clear()
        for title, side, rows in (("Sources", "source", sources), ("Destinations", "dest", dests)):
            top = QTreeWidgetItem([f"{title} ({len(rows)})" if rows else f"{title}: none denied"])
            self.tree.addTopLevelItem(top)
            for ns, name, flows, logs in rows:
                item = QTreeWidgetItem([f"{ns}/{name}" if ns != "-" else name, f"{flows:,}", f"{logs:,}"])
                text = combine([term(f"{side}_namespace", ns), term(f"{side}_name_aggr", name)])
                item.setData(0, Qt.ItemDataRole.UserRole, (f"{side}: {item.text(0)}", text))
                item.setForeground(1, DENIED)
                item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight)
                item.setTextAlignment(2, Qt.AlignmentFlag.AlignRight)
                top.addChild(item)
            top.setExpanded(True)

    def rows(self) -> list[str]:
        out = []
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            out.extend(top.child(j).text(0) for j in range(top.childCount()))
        return out

    def _clicked(self, item: QTreeWidgetItem, _col: int) -> None:
        payload = item.data(0, Qt.ItemDataRole.UserRole)
        if payload:
            self.filterRequested.emit(*payload)
