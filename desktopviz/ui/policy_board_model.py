"""The Policy Board's list view model: one row per visible policy in board order (tier,
order, name, scope, kind, endpoints and the four metrics)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QFont

from desktopviz.core.board import BoardPolicy, metric_value
from desktopviz.core.queries import HitMetrics
from desktopviz.ui.policy_board_style import DENIED, HIGHLIGHT, METRIC_COLOURS, STAGED, compact

Index = QModelIndex | QPersistentModelIndex
COLUMNS = (
    "Tier",
    "Order",
    "Name",
    "Scope",
    "Kind",
    "Endpoints",
    "Connections",
    "Allowed",
    "Denied",
    "Passed",
)
METRIC_COLUMNS = {"connections": 6, "allowed": 7, "denied": 8, "passed": 9}
SCOPE_COLUMN, ENDPOINTS_COLUMN = 3, 5
_METRIC_INDEX = {name: i for i, name in enumerate(METRIC_COLUMNS)}
KEY_ROLE = Qt.ItemDataRole.UserRole + 1
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


class PolicyTableModel(QAbstractTableModel):
    """Rows of BoardPolicy with their metrics; `KEY_ROLE` gives a row's trace name."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.rows: list[BoardPolicy] = []
        self.metrics: dict[str, HitMetrics] = {}
        self.highlighted: dict[str, int] = {}
        self._values: dict[str, tuple[int, ...]] = {}  # key -> metric values, by METRIC_COLUMNS order

    def set_rows(self, rows: list[BoardPolicy]) -> None:
        if [r.key for r in rows] == [r.key for r in self.rows]:
            self.rows = rows
            return
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def set_metrics(self, metrics: dict[str, HitMetrics]) -> None:
        """New metrics: repaint only the rows whose figures changed (a live run changes a few
        policies' counts per refresh; a whole-table repaint costs the GUI thread far more)."""
        values = {k: tuple(metric_value(hm, m) for m in METRIC_COLUMNS) for k, hm in metrics.items()}
        old = self._values
        self.metrics, self._values = metrics, values
        if not self.rows or values == old:
            return
        first, last = min(METRIC_COLUMNS.values()), max(METRIC_COLUMNS.values())
        start = None
        for i, bp in enumerate([*self.rows, None]):
            dirty = bp is not None and values.get(bp.key) != old.get(bp.key)
            if dirty and start is None:
                start = i
            elif not dirty and start is not None:  # one signal per run of changed rows
                self.dataChanged.emit(self.index(start, first), self.index(i - 1, last))
                start = None

    def set_highlighted(self, ranks: dict[str, int]) -> None:
        self.highlighted = ranks
        if self.rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.rows) - 1, len(COLUMNS) - 1))

    def row_of(self, key: str) -> int:
        for i, bp in enumerate(self.rows):
            if bp.key == key:
                return i
        return -1

    # -- Qt model ----------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            if 0 <= section < len(COLUMNS):
                return COLUMNS[section]
        if orientation == Qt.Orientation.Vertical and role == Qt.ItemDataRole.DisplayRole:
            return section + 1
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self.rows)):
            return None
        bp = self.rows[index.row()]
        col = index.column()
        if role == KEY_ROLE:
            return bp.key
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(bp, col)
        if role == Qt.ItemDataRole.ToolTipRole:
            return bp.key
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (
            1,
            ENDPOINTS_COLUMN,
            *METRIC_COLUMNS.values(),
        ):
            return _RIGHT
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == ENDPOINTS_COLUMN and bp.endpoints == 0:
                return QBrush(DENIED)
            if col == 2 and bp.staged:
                return QBrush(STAGED)
            for name, c in METRIC_COLUMNS.items():
                if c == col and name != "connections" and self._metric(bp, name):
                    return QBrush(METRIC_COLOURS[name])
        if role == Qt.ItemDataRole.BackgroundRole and bp.key in self.highlighted:
            colour = HIGHLIGHT.lighter(160)
            return QBrush(colour)
        if role == Qt.ItemDataRole.FontRole and col == 2:
            f = QFont()
            f.setBold(True)
            return f
        return None

    def _metric(self, bp: BoardPolicy, name: str) -> int:
        vals = self._values.get(bp.key)
        return 0 if vals is None else vals[_METRIC_INDEX[name]]

    def _text(self, bp: BoardPolicy, col: int) -> str:
        if col == 0:
            return bp.tier
        if col == 1:
            return bp.order_text
        if col == 2:
            return f"{bp.name}  [STAGED]" if bp.staged else bp.name
        if col == SCOPE_COLUMN:
            return bp.scope
        if col == 4:
            return bp.kind
        if col == ENDPOINTS_COLUMN:
            return "?" if bp.endpoints is None else str(bp.endpoints)
        for name, c in METRIC_COLUMNS.items():
            if c == col:
                v = self._metric(bp, name)
                return compact(v) if v else "–"
        return ""
