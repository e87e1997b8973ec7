"""The flow table's cells as Qt asks for them: a mixin of FlowTableModel
(desktopviz.ui.flow_table_model) that answers a painted cell in one call into Python.

A repaint asks for every visible cell again (five times a second while a simulation runs),
and every call from Qt into Python makes the GUI thread take the GIL again, which costs a
wait whenever the simulation or a view worker is running Python. So: one ``multiData`` call
per cell (instead of seven ``data`` calls plus ``rowCount``/``columnCount``/``flags``), texts
formatted once per flow log (cached by id; flow logs never change) and the other roles'
values made once per column.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt

from desktopviz.ui import flow_browser_data as data

Index = QModelIndex | QPersistentModelIndex
RawRole = Qt.ItemDataRole.UserRole + 1  # the stored value of the cell
IdRole = Qt.ItemDataRole.UserRole + 2  # the row's id in the store
LOADING = "…"
TEXT_CACHE = 8192  # rows whose cell texts are kept
_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_BACKGROUND = int(Qt.ItemDataRole.BackgroundRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
_ALIGN_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


class TableCells:
    """Cell roles of FlowTableModel; expects ``_rows``, ``_columns``, ``row_values``,
    ``deny_brush`` and ``_action_brushes`` from it, and calls ``clear_cells`` on changes."""

    _rows: int
    _columns: list[str]
    deny_brush: Any
    _action_brushes: dict[bool, Any]
    row_values: Callable[[int], tuple[Any, ...] | None]

    def clear_cells(self) -> None:
        """Forget cached texts and role values (other columns or another database)."""
        self._texts: dict[int, tuple[str, ...]] = {}
        self._roles: dict[tuple[int, bool], dict[int, Any]] = {}

    def index(self, row: int, column: int, parent: Index = QModelIndex()) -> QModelIndex:  # noqa: B008
        """As Qt's, without asking rowCount() and columnCount() (two more calls into Python
        for every cell the view paints)."""
        if parent.isValid() or not (0 <= row < self._rows and 0 <= column < len(self._columns)):
            return QModelIndex()
        return self.createIndex(row, column)  # type: ignore[attr-defined]

    def row_texts(self, row: tuple[Any, ...]) -> tuple[str, ...]:
        """The display texts of a stored row for the shown columns (cached by id)."""
        texts = self._texts.get(row[0])
        if texts is None:
            if len(self._texts) >= TEXT_CACHE:
                self._texts.clear()
            texts = tuple(data.display_text(c, data.raw_value(row, c)) for c in self._columns)
            self._texts[row[0]] = texts
        return texts

    def _cell_roles(self, column: int, deny: bool) -> dict[int, Any]:
        """Background, foreground and alignment of a column's cells (deny rows or not)."""
        key = (column, deny)
        roles = self._roles.get(key)
        if roles is None:
            name = self._columns[column]
            roles = {}
            if deny:
                roles[_BACKGROUND] = self.deny_brush
            if name == "action":
                roles[_FOREGROUND] = self._action_brushes[deny]
            if name in data.NUMERIC:
                roles[_ALIGNMENT] = _ALIGN_RIGHT
            self._roles[key] = roles
        return roles

    def _value(self, row: tuple[Any, ...] | None, column: int, role: int) -> Any:
        if row is None:
            return LOADING if role == _DISPLAY and column == 0 else None
        if role == _DISPLAY:
            return self.row_texts(row)[column]
        name = self._columns[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            return data.tooltip_text(name, data.raw_value(row, name))
        if role == RawRole:
            return data.raw_value(row, name)
        if role == IdRole:
            return int(row[0])
        return self._cell_roles(column, row[data._POS["action"]] == "deny").get(role)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= self._rows or index.column() >= len(self._columns):
            return None
        return self._value(self.row_values(index.row()), index.column(), int(role))

    def multiData(self, index: Index, roles: Any) -> None:  # noqa: N802 - Qt override
        """Every role the delegate paints a cell with, in one call into Python."""
        r, c = index.row(), index.column()
        row = self.row_values(r) if 0 <= r < self._rows and 0 <= c < len(self._columns) else None
        if row is None:
            loading = c == 0 and 0 <= r < self._rows
            for rd in roles:
                if loading and rd.role() == _DISPLAY:
                    rd.setData(LOADING)
                else:
                    rd.clearData()
            return
        text = self.row_texts(row)[c]
        extra = self._cell_roles(c, row[data._POS["action"]] == "deny")
        for rd in roles:
            role = rd.role()
            value = text if role == _DISPLAY else extra.get(role)
            if value is None:
                rd.clearData()
            else:
                rd.setData(value)
