"""The flow-log browser's filter widgets: the query bar, filter pills and the time picker.

Signals (QueryBar):
    applied(str): the user applied a valid filter (Enter or the Apply button).
Signals (PillBar):
    changed(): a pill was added, removed, disabled/enabled or inverted.
Signals (TimePicker):
    changed(object, object): the user chose a range; (since, until) Unix seconds, None = open.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QDateTime, QPointF, QTimeZone, Signal
from PySide6.QtGui import QAction, QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QDateTimeEdit,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QToolButton,
    QWidget,
)

from desktopviz.core.filterlang import FilterError, field_names, validate

ERROR_COLOUR = QColor("#d93636")


class QueryEdit(QLineEdit):
    """A line edit that underlines the part of the filter its error points at (red, wavy)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.error: FilterError | None = None

    def set_error(self, error: FilterError | None) -> None:
        self.error = error
        self.update()

    def x_of(self, position: int) -> float:
        """The widget x of a text position (from the cursor's, which includes scrolling)."""
        fm = self.fontMetrics()
        text = self.text()
        cursor = self.cursorPosition()
        cursor_x = self.cursorRect().x() + self.cursorRect().width() / 2
        return cursor_x + fm.horizontalAdvance(text[:position]) - fm.horizontalAdvance(text[:cursor])

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        super().paintEvent(event)
        err = self.error
        if err is None:
            return
        fm = self.fontMetrics()
        x0 = self.x_of(err.column)
        x1 = (
            self.x_of(min(err.end, len(self.text())))
            if err.column < len(self.text())
            else x0 + fm.averageCharWidth()
        )
        x1 = max(x1, x0 + fm.averageCharWidth())
        y = self.cursorRect().bottom() - 1
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(QPen(ERROR_COLOUR, 1.5))
        x, up = x0, True
        while x < x1:
            nx = min(x + 2.0, x1)
            p.drawLine(QPointF(x, y + (0 if up else 2)), QPointF(nx, y + (2 if up else 0)))
            x, up = nx, not up
        p.end()


class QueryBar(QWidget):
    applied = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = QueryEdit()
        self.edit.setPlaceholderText(
            'Filter, e.g. source_namespace = storefront and action = deny   ·   policy = "storefront/default.trusted"'
        )
        self.edit.setClearButtonEnabled(True)
        self.edit.setToolTip("Fields: " + ", ".join(field_names()))
        self.message = QLabel()
        self.message.setStyleSheet(f"color: {ERROR_COLOUR.name()};")
        self.message.setVisible(False)
        self.apply_button = QToolButton()
        self.apply_button.setText("Apply")
        self.apply_button.setToolTip("Apply the filter (Enter)")
        self.edit.textChanged.connect(self._validate)
        self.edit.returnPressed.connect(self.apply)
        self.apply_button.clicked.connect(self.apply)
        self._applied = ""

    def text(self) -> str:
        return self.edit.text()

    def applied_text(self) -> str:
        return self._applied

    def set_text(self, text: str, apply: bool = True) -> None:
        self.edit.setText(text)
        if apply:
            self.apply()

    def error(self) -> FilterError | None:
        return self.edit.error

    def _validate(self, text: str) -> None:
        err = validate(text)
        self.edit.set_error(err)
        self.message.setText(f"{err}" if err else "")
        self.message.setVisible(err is not None)
        self.edit.setToolTip(err.pointer() if err else "Fields: " + ", ".join(field_names()))

    def apply(self) -> None:
        if self.edit.error is not None:
            return
        self._applied = self.edit.text().strip()
        self.applied.emit(self._applied)


@dataclass
class Pill:
    """A filter chip: ``text`` is filter-language text; ``negate`` excludes what it matches."""

    label: str
    text: str
    negate: bool = False
    enabled: bool = True

    def filter_text(self) -> str:
        if not self.enabled:
            return ""
        return f"not ({self.text})" if self.negate else self.text

    def caption(self) -> str:
        return ("NOT " if self.negate else "") + self.label


class PillBar(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.pills: list[Pill] = []
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(4, 0, 4, 0)
        self._layout.setSpacing(4)
        self._buttons: list[QToolButton] = []
        self._rebuild()

    def add(self, pill: Pill) -> None:
        """Add a pill (the same filter again replaces the old one, e.g. for out instead of for)."""
        self.pills = [p for p in self.pills if p.text != pill.text]
        self.pills.append(pill)
        self._rebuild()
        self.changed.emit()

    def remove(self, index: int) -> None:
        del self.pills[index]
        self._rebuild()
        self.changed.emit()

    def toggle(self, index: int) -> None:
        self.pills[index].enabled = not self.pills[index].enabled
        self._rebuild()
        self.changed.emit()

    def invert(self, index: int) -> None:
        self.pills[index].negate = not self.pills[index].negate
        self._rebuild()
        self.changed.emit()

    def clear(self) -> None:
        if self.pills:
            self.pills = []
            self._rebuild()
            self.changed.emit()

    def filter_texts(self) -> list[str]:
        return [t for t in (p.filter_text() for p in self.pills) if t]

    def _rebuild(self) -> None:
        for b in self._buttons:
            self._layout.removeWidget(b)
            b.hide()
            b.deleteLater()
        self._buttons = []
        while self._layout.count():
            self._layout.takeAt(0)
        for i, pill in enumerate(self.pills):
            b = QToolButton()
            b.setText(f"{pill.caption()}  ✕" if pill.enabled else pill.caption())
            b.setToolTip(f"{pill.filter_text() or pill.text}\nClick for: disable, invert, remove")
            b.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
            colour = "#d93636" if pill.negate else "#2f6fd0"
            style = f"QToolButton {{ border: 1px solid {colour}; border-radius: 9px; padding: 1px 8px; "
            if pill.enabled:
                style += f"background: {colour}22; }}"
            else:
                style += "color: palette(placeholder-text); text-decoration: line-through; }"
            b.setStyleSheet(style)
            menu = QMenu(b)
            menu.addAction(
                "Re-enable" if not pill.enabled else "Temporarily disable", lambda i=i: self.toggle(i)
            )
            menu.addAction(
                "Include results" if pill.negate else "Exclude results", lambda i=i: self.invert(i)
            )
            menu.addAction("Remove", lambda i=i: self.remove(i))
            b.setMenu(menu)
            self._layout.addWidget(b)
            self._buttons.append(b)
        if self.pills:
            clear = QToolButton()
            clear.setText("Clear all")
            clear.setAutoRaise(True)
            clear.clicked.connect(self.clear)
            self._layout.addWidget(clear)
            self._buttons.append(clear)
        self._layout.addStretch(1)
        self.setVisible(bool(self.pills))


PRESETS: tuple[tuple[str, int | None], ...] = (
    ("Last 15 minutes", 15 * 60),
    ("Last 1 hour", 3600),
    ("Last 3 hours", 3 * 3600),
    ("Last 6 hours", 6 * 3600),
    ("Last 12 hours", 12 * 3600),
    ("Last 24 hours", 24 * 3600),
    ("All time", None),
    ("Absolute…", -1),
)


class TimePicker(QWidget):
    """Quick presets (relative to the newest data: the simulation's clock), all time, or an
    absolute UTC range."""

    changed = Signal(object, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.box = QComboBox()
        for text, secs in PRESETS:
            self.box.addItem(text, secs)
        self.box.setCurrentIndex(self.box.findData(None))
        self.box.setToolTip("Time range; 'Last …' counts back from the newest flow log")
        self.since_edit, self.until_edit = QDateTimeEdit(), QDateTimeEdit()
        for e in (self.since_edit, self.until_edit):
            e.setTimeZone(QTimeZone.utc())
            e.setDisplayFormat("yyyy-MM-dd HH:mm:ss 'UTC'")
            e.setCalendarPopup(True)
            e.setVisible(False)
            e.editingFinished.connect(self._emit)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.box)
        lay.addWidget(self.since_edit)
        lay.addWidget(self.until_edit)
        self.box.currentIndexChanged.connect(self._preset_changed)
        self.now: int | None = None  # newest data time, set by the browser

    def preset(self) -> int | None:
        """Seconds of the chosen "Last …" preset, None for all time, -1 for absolute."""
        return self.box.currentData()

    def range(self) -> tuple[int | None, int | None]:
        secs = self.preset()
        if secs == -1:
            return (
                int(self.since_edit.dateTime().toSecsSinceEpoch()),
                int(self.until_edit.dateTime().toSecsSinceEpoch()),
            )
        if secs is None or self.now is None:
            return None, None
        return self.now - int(secs), None

    def set_range(self, since: int | None, until: int | None) -> None:
        """Show a range without emitting (None, None = all time)."""
        self.blockSignals(True)
        try:
            if since is None and until is None:
                self.box.setCurrentIndex(self.box.findData(None))
            else:
                lo = since if since is not None else 0
                hi = until if until is not None else (self.now or lo) + 1
                self.since_edit.setDateTime(QDateTime.fromSecsSinceEpoch(lo, QTimeZone.utc()))
                self.until_edit.setDateTime(QDateTime.fromSecsSinceEpoch(hi, QTimeZone.utc()))
                self.box.setCurrentIndex(self.box.findData(-1))
            self._show_edits()
        finally:
            self.blockSignals(False)

    def set_preset(self, seconds: int | None) -> None:
        self.box.setCurrentIndex(self.box.findData(seconds))

    def _show_edits(self) -> None:
        absolute = self.preset() == -1
        self.since_edit.setVisible(absolute)
        self.until_edit.setVisible(absolute)

    def _preset_changed(self, _i: int) -> None:
        if self.preset() == -1 and self.now is not None:
            since, until = self.range()
            if since <= 0:
                self.since_edit.setDateTime(QDateTime.fromSecsSinceEpoch(self.now - 3600, QTimeZone.utc()))
                self.until_edit.setDateTime(QDateTime.fromSecsSinceEpoch(self.now + 1, QTimeZone.utc()))
        self._show_edits()
        self._emit()

    def _emit(self) -> None:
        self.changed.emit(*self.range())


def history_menu(menu: QMenu, recent: list[str], saved: dict[str, str], apply: object) -> None:
    """Fill the saved/recent menu: saved filters by name, then recent queries."""
    menu.clear()
    if saved:
        menu.addSection("Saved filters")
        for name, text in sorted(saved.items()):
            act = QAction(name, menu)
            act.setToolTip(text)
            act.triggered.connect(lambda _c=False, t=text: apply(t))  # type: ignore[operator]
            menu.addAction(act)
    if recent:
        menu.addSection("Recent")
        for text in recent:
            act = QAction(text if len(text) < 80 else text[:77] + "…", menu)
            act.triggered.connect(lambda _c=False, t=text: apply(t))  # type: ignore[operator]
            menu.addAction(act)
