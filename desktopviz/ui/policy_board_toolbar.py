"""The Policy Board's tool bar: filter mode, name search, label selector, columns/list
switch, YAML export menu and the eye menu of metrics (Namespace, Endpoints, Connections,
Allowed, Denied, Passed, Show All), as on Calico Enterprise's board.

The columns/list switch and the export are icon buttons (as Calico's), and the policy count
gives way first, so the bar fits a dock a few hundred pixels wide: nothing is cut off."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QPainter, QPaintEvent, QPalette, QPen, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktopviz.core.board import FILTER_MODES
from desktopviz.ui.policy_board_style import draw_eye, muted

LINES = ("namespace", "endpoints", "connections", "allowed", "denied", "passed")
LINE_LABELS = {
    "namespace": "Namespace",
    "endpoints": "Endpoints",
    "connections": "Connections",
    "allowed": "Allowed",
    "denied": "Denied",
    "passed": "Passed",
}
DEFAULT_LINES = ("namespace", "endpoints")
LABEL_TIP = "Show the policies that select at least one endpoint matching this Calico selector"


def eye_icon(size: int = 20, colour: QColor | None = None) -> QIcon:
    pm = QPixmap(size, size)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    draw_eye(p, QRectF(1, 3, size - 2, size - 6), colour or muted())
    p.end()
    return QIcon(pm)


def tool_icon(kind: str, colour: QColor, size: int = 20) -> QIcon:
    """Painted icons of the bar: "columns" (three columns of cards), "list" (rows),
    "export" (a tray with an arrow down: Calico's download icon)."""
    pm = QPixmap(size * 2, size * 2)  # drawn at 2x: crisp on high-DPI screens too
    pm.setDevicePixelRatio(2.0)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    pen = QPen(colour, 1.6)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    p.setPen(pen)
    s = float(size)
    if kind == "columns":
        w = (s - 6) / 3
        for i in range(3):
            x = 2 + i * (w + 1)
            p.drawRect(QRectF(x, 3, w - 1, s - 6))
            p.drawLine(QPointF(x + 1.5, 7), QPointF(x + w - 2.5, 7))
    elif kind == "list":
        for i in range(4):
            y = 4 + i * (s - 8) / 3
            p.drawPoint(QPointF(3, y))
            p.drawLine(QPointF(6.5, y), QPointF(s - 3, y))
    else:  # export
        p.drawLine(QPointF(s / 2, 3), QPointF(s / 2, s - 8))
        p.drawLine(QPointF(s / 2 - 4, s - 12), QPointF(s / 2, s - 8))
        p.drawLine(QPointF(s / 2 + 4, s - 12), QPointF(s / 2, s - 8))
        p.drawPolyline([QPointF(3, s - 9), QPointF(3, s - 3), QPointF(s - 3, s - 3), QPointF(s - 3, s - 9)])
    p.end()
    return QIcon(pm)


class ElidedLabel(QLabel):
    """A label that shrinks to nothing, eliding its text (the bar's policy count), and shows
    the whole text as its tooltip when cut."""

    def minimumSizeHint(self) -> QSize:
        return QSize(0, super().minimumSizeHint().height())

    def _shown(self) -> str:
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, self.width())

    def setText(self, text: str) -> None:
        super().setText(text)
        self._tip()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._tip()

    def _tip(self) -> None:
        self.setToolTip(self.text() if self._shown() != self.text() else "")

    def paintEvent(self, event: QPaintEvent) -> None:
        text = self._shown()
        p = QPainter(self)
        p.setPen(self.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText))
        p.drawText(self.rect(), int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight), text)
        p.end()


class BoardToolbar(QWidget):
    """Controls of the board; the board reads their state through the signals.

    Signals:
        filtersChanged(): mode, search or label selector changed.
        linesChanged(tuple): the metric lines shown (names from LINES).
        viewModeChanged(str): "columns" or "list".
        exportRequested(str): a tier name, or "" for all policies.
        addTierRequested(): the Add tier button (shown when the board is editable).
    """

    filtersChanged = Signal()
    linesChanged = Signal(tuple)
    viewModeChanged = Signal(str)
    exportRequested = Signal(str)
    addTierRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 2)
        outer.setSpacing(4)
        row1, row2 = QHBoxLayout(), QHBoxLayout()
        outer.addLayout(row1)
        outer.addLayout(row2)
        self.status = ElidedLabel()
        self.status.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.mode = QComboBox()
        self.mode.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.mode.setMinimumContentsLength(14)
        for key, text in FILTER_MODES.items():
            self.mode.addItem(text, key)
        self.mode.setToolTip("Filter the policies by what their traffic does")
        self.mode.currentIndexChanged.connect(lambda _: self.filtersChanged.emit())
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search names")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda _: self.filtersChanged.emit())
        self.columns_button = self._tool("Columns", "Columns: tiers as columns, policies as cards")
        self.list_button = self._tool("List", "List: one table row per policy")
        self.columns_button.setChecked(True)
        self.columns_button.clicked.connect(lambda: self._set_mode("columns"))
        self.list_button.clicked.connect(lambda: self._set_mode("list"))
        self.export_button = QToolButton()
        self.export_button.setText("Export YAML")
        self.export_button.setToolTip("Export policies as YAML (all, or one tier)")
        self.export_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.export_button.setIconSize(QSize(20, 20))
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.export_menu = QMenu(self.export_button)
        self.export_button.setMenu(self.export_menu)
        self.eye_button = QToolButton()
        self.eye_button.setObjectName("metricsButton")
        self.eye_button.setIconSize(QSize(20, 20))
        self.eye_button.setToolTip("Metrics shown on the cards")
        self.eye_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.eye_menu = QMenu(self.eye_button)
        self.line_actions: dict[str, QAction] = {}
        for name in LINES:
            act = QAction(LINE_LABELS[name], self.eye_menu)
            act.setCheckable(True)
            act.setChecked(name in DEFAULT_LINES)
            act.toggled.connect(lambda _on: self.linesChanged.emit(self.lines()))
            self.eye_menu.addAction(act)
            self.line_actions[name] = act
        self.eye_menu.addSeparator()
        self.show_all_action = self.eye_menu.addAction("Show All")
        self.show_all_action.triggered.connect(self.show_all)
        self.eye_button.setMenu(self.eye_menu)
        row1.addWidget(self.mode, 3)
        row1.addWidget(self.status, 2)
        self.add_tier_button = QToolButton()
        self.add_tier_button.setObjectName("addTier")
        self.add_tier_button.setText("Add tier")
        self.add_tier_button.setToolTip("Create a tier (name, order, default action)")
        self.add_tier_button.clicked.connect(self.addTierRequested)
        self.add_tier_button.setVisible(False)
        row1.addWidget(self.add_tier_button)
        row1.addWidget(self.columns_button)
        row1.addWidget(self.list_button)
        row1.addWidget(self.export_button)
        row1.addWidget(self.eye_button)
        self.labels = QLineEdit()
        self.labels.setPlaceholderText("Label selector, e.g. fw-zone == 'trusted'")
        self.labels.setToolTip(LABEL_TIP)
        self.labels.setClearButtonEnabled(True)
        self._label_timer = QTimer(self)
        self._label_timer.setSingleShot(True)
        self._label_timer.setInterval(250)
        self._label_timer.timeout.connect(self.filtersChanged)
        self.labels.textChanged.connect(lambda _: self._label_timer.start())
        self.labels.returnPressed.connect(self.filtersChanged)
        row2.addWidget(self.search, 1)
        row2.addWidget(self.labels, 2)
        self._paint_icons()

    def _tool(self, text: str, tip: str) -> QToolButton:
        b = QToolButton()
        b.setText(text)
        b.setToolTip(tip)
        b.setCheckable(True)
        b.setAutoExclusive(True)
        b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        b.setIconSize(QSize(20, 20))
        return b

    def _paint_icons(self) -> None:
        """Icons in the palette's button text colour (repainted when the palette changes)."""
        ink = self.palette().color(QPalette.ColorRole.ButtonText)
        self.columns_button.setIcon(tool_icon("columns", ink))
        self.list_button.setIcon(tool_icon("list", ink))
        self.export_button.setIcon(tool_icon("export", ink))
        self.eye_button.setIcon(eye_icon(20, ink))

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._paint_icons()
        super().changeEvent(event)

    def _set_mode(self, mode: str) -> None:
        (self.columns_button if mode == "columns" else self.list_button).setChecked(True)
        self.viewModeChanged.emit(mode)

    # -- state -----------------------------------------------------------------------------
    def lines(self) -> tuple[str, ...]:
        return tuple(n for n in LINES if self.line_actions[n].isChecked())

    def set_lines(self, names: tuple[str, ...] | list[str]) -> None:
        for name, act in self.line_actions.items():
            act.blockSignals(True)
            act.setChecked(name in names)
            act.blockSignals(False)
        self.linesChanged.emit(self.lines())

    def show_all(self) -> None:
        self.set_lines(LINES)

    def filter_mode(self) -> str:
        return str(self.mode.currentData())

    def set_filter_mode(self, mode: str) -> None:
        i = self.mode.findData(mode)
        if i < 0:
            raise ValueError(f"unknown filter mode {mode!r} (expected one of {', '.join(FILTER_MODES)})")
        self.mode.setCurrentIndex(i)

    def set_label_error(self, message: str | None) -> None:
        self.labels.setStyleSheet("QLineEdit { border: 1px solid #d93636; }" if message else "")
        self.labels.setToolTip(message or LABEL_TIP)

    def set_tiers(self, tiers: list[str]) -> None:
        self.export_menu.clear()
        self.export_menu.addAction("All policies…").triggered.connect(lambda: self.exportRequested.emit(""))
        if tiers:
            self.export_menu.addSeparator()
        for name in tiers:
            act = self.export_menu.addAction(f"Tier {name}…")
            act.triggered.connect(lambda _=False, n=name: self.exportRequested.emit(n))
