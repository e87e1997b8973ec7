"""The Denied and Allowed Traffic tables of the Flow Visualizer panel.

A flat model over the rows (each source followed by its peers, indented and smaller), so a
new set of rows is one model reset, and the view asks only for the rows it shows: no item
objects are built per cell. When the rows and peers are the ones shown, which is the usual
case while traffic flows, only the numbers are swapped and one dataChanged is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeView, QWidget

from desktopviz.ui.visualizer_data import TrafficRow

_DOTS: dict[int, QIcon] = {}
_Index = QModelIndex | QPersistentModelIndex
INDENT = "    "
# Roles and alignment as plain ints, looked up once: data() runs for every visible cell and
# role on each repaint, and each Qt enum attribute access goes through Python's enum code.
DISPLAY, DECORATION = int(Qt.ItemDataRole.DisplayRole), int(Qt.ItemDataRole.DecorationRole)
ALIGNMENT, FONT = int(Qt.ItemDataRole.TextAlignmentRole), int(Qt.ItemDataRole.FontRole)
USER, TOOLTIP = int(Qt.ItemDataRole.UserRole), int(Qt.ItemDataRole.ToolTipRole)
RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
GREY = QColor("#999")


def dot(colour: QColor) -> QIcon:
    """A small filled circle of this colour (cached per colour)."""
    icon = _DOTS.get(colour.rgba())
    if icon is None:
        pm = QPixmap(10, 10)
        pm.fill(Qt.GlobalColor.transparent)
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(colour)
        p.drawEllipse(1, 1, 8, 8)
        p.end()
        icon = _DOTS[colour.rgba()] = QIcon(pm)
    return icon


class TrafficModel(QAbstractTableModel):
    def __init__(self, title: str, parent: Any = None) -> None:
        super().__init__(parent)
        self.title = title
        self.flat: list[tuple[TrafficRow, bool]] = []  # (row, is a peer)
        self.colour: dict[str, QColor] = {}
        self.small = QFont()
        self._shape: object = None

    def set_rows(self, rows: Sequence[TrafficRow], colour: dict[str, QColor]) -> bool:
        """Show these rows; True when the set of rows changed (False: numbers only)."""
        flat: list[tuple[TrafficRow, bool]] = []
        for r in rows:
            flat.append((r, False))
            flat.extend((k, True) for k in r.children)
        shape = tuple((r.label, r.namespace, peer) for r, peer in flat)
        if shape == self._shape and colour == self.colour:
            self.flat = flat
            if flat:
                self.dataChanged.emit(
                    self.index(0, 1), self.index(len(flat) - 1, 3), [Qt.ItemDataRole.DisplayRole]
                )
            return False
        self.beginResetModel()
        self.flat, self.colour, self._shape = flat, dict(colour), shape
        self.endResetModel()
        return True

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.flat)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else 4

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return (self.title, "CPS", "PPS", "BPS")[section]
        return None

    def data(self, index: _Index, role: int = 0) -> Any:
        if not index.isValid() or index.row() >= len(self.flat):
            return None
        r, peer = self.flat[index.row()]
        col = index.column()
        role = int(role)
        if role == DISPLAY:
            if col == 0:
                return INDENT + r.label if peer else r.label
            return r.texts()[col - 1]
        if role == DECORATION and col == 0:
            return dot(self.colour.get(r.namespace, GREY))
        if role == ALIGNMENT and col > 0:
            return RIGHT
        if role == FONT and peer:
            return self.small
        if role == USER:
            return (r.namespace, r.name)
        if role == TOOLTIP and col == 0:  # the whole name, which the column often cuts
            return r.label
        return None


class TrafficTable(QTreeView):
    """One of the traffic tables: rows per namespace (or name) with their peers below them."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.fit_rows = False  # at most as tall as its rows (the panel's Denied Traffic)
        self.model_ = TrafficModel(title, self)
        small = QFont(self.font())
        small.setPointSizeF(max(6.0, self.font().pointSizeF() - 1.5))
        self.model_.small = small
        self.setModel(self.model_)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setItemsExpandable(False)
        h = self.header()
        h.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        # Fixed number columns: sizing them to their contents asks the model for every row's
        # text on each update (measured: a second of GUI time per refresh with 1,000 rows).
        width = int(QFontMetrics(self.font()).horizontalAdvance("0.000M")) + 14
        for c in (1, 2, 3):
            h.setSectionResizeMode(c, QHeaderView.ResizeMode.Fixed)
            h.resizeSection(c, width)
        h.setStretchLastSection(False)

    def set_rows(self, rows: Sequence[TrafficRow], colour: dict[str, QColor]) -> None:
        if self.model_.set_rows(rows, colour):
            self.setVisible(bool(rows))
            if self.fit_rows and rows:  # no taller than its rows: the other table gets the rest
                n = self.model_.rowCount()
                rows_h = self.sizeHintForRow(0) * n if n else 0
                self.setMaximumHeight(self.header().height() + rows_h + 2 * self.frameWidth() + 2)

    def labels(self) -> list[str]:
        """Top-level row labels (what a user reads in the table)."""
        return [r.label for r, peer in self.model_.flat if not peer]

    def peers(self, label: str) -> list[str]:
        """The peer labels listed under a top-level row."""
        out: list[str] = []
        inside = False
        for r, peer in self.model_.flat:
            if not peer:
                inside = r.label == label
            elif inside:
                out.append(r.label)
        return out
