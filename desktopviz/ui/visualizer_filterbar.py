"""The top filter bar of the Flow Visualizer: time range (15 m … 24 h, all, custom), source
and destination label selectors (validated as typed) and endpoint types.

Signals:
    changed(object): a new QueryState (only emitted when both selectors are valid).
"""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import QDateTime, QTimeZone, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QWidget,
)

from desktopviz.ui.visualizer_data import ENDPOINT_TYPES, TYPE_NAMES, QueryState

PRESETS: tuple[tuple[str, int | None], ...] = (
    ("Last 15 minutes", 15 * 60),
    ("Last 1 hour", 3600),
    ("Last 3 hours", 3 * 3600),
    ("Last 6 hours", 6 * 3600),
    ("Last 12 hours", 12 * 3600),
    ("Last 24 hours", 24 * 3600),
    ("All time", None),
    ("Custom…", -1),
)
ERROR_STYLE = "QLineEdit { border: 2px solid #d55e00; }"


def _utc(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


def selector_error(text: str) -> str | None:
    """The parse error of a Calico selector as "column N: message", or None when valid."""
    if not text.strip():
        return None
    from desktopviz.core.selector import SelectorError, parse_selector

    try:
        parse_selector(text)
    except SelectorError as exc:
        return f"column {exc.column + 1}: {exc.message}"
    return None


class FilterBar(QWidget):
    changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(6, 4, 6, 4)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(2)
        self.time_box = QComboBox()
        for text, secs in PRESETS:
            self.time_box.addItem(text, secs)
        self.since_edit, self.until_edit = QDateTimeEdit(), QDateTimeEdit()
        utc = QTimeZone.utc()
        for e in (self.since_edit, self.until_edit):
            e.setTimeZone(utc)
            e.setDisplayFormat("yyyy-MM-dd HH:mm:ss 'UTC'")
            e.setCalendarPopup(True)
            e.setVisible(False)
            e.dateTimeChanged.connect(self._emit)
        time_row = QHBoxLayout()
        time_row.addWidget(QLabel("Time range:"))
        time_row.addWidget(self.time_box)
        time_row.addWidget(self.since_edit)
        time_row.addWidget(self.until_edit)
        time_row.addStretch(1)
        grid.addLayout(time_row, 0, 0, 1, 4)
        self.types: dict[str, dict[str, QCheckBox]] = {}
        self.selectors: dict[str, QLineEdit] = {}
        self.errors: dict[str, QLabel] = {}
        for row, (side, title) in enumerate((("src", "Source"), ("dst", "Destination")), start=1):
            grid.addWidget(QLabel(f"{title}:"), row * 2 - 1, 0)
            boxes = QHBoxLayout()
            self.types[side] = {}
            for t in ENDPOINT_TYPES:
                cb = QCheckBox(TYPE_NAMES[t])
                cb.setChecked(True)
                cb.toggled.connect(self._emit)
                boxes.addWidget(cb)
                self.types[side][t] = cb
            grid.addLayout(boxes, row * 2 - 1, 1)
            edit = QLineEdit()
            edit.setPlaceholderText(f"{title} label selector, e.g. app == 'frontend' && has(fw-zone)")
            edit.setClearButtonEnabled(True)
            edit.textChanged.connect(lambda _t, s=side: self._validate(s))
            self.selectors[side] = edit
            grid.addWidget(edit, row * 2 - 1, 2)
            err = QLabel()
            err.setStyleSheet("color: #b84a00;")
            err.setVisible(False)
            self.errors[side] = err
            grid.addWidget(err, row * 2, 2)
        grid.setColumnStretch(2, 1)
        self.time_box.currentIndexChanged.connect(self._time_changed)
        self._last_state: QueryState | None = None
        self._data_end: int | None = None
        self._update_time_tip()

    # -- state ----------------------------------------------------------------------------------
    def state(self) -> QueryState:
        secs = self.time_box.currentData()
        since = until = None
        last: int | None = None
        if secs == -1:
            since = int(self.since_edit.dateTime().toSecsSinceEpoch())
            until = int(self.until_edit.dateTime().toSecsSinceEpoch())
        elif secs is not None:
            last = int(secs)
        return QueryState(
            last=last,
            since=since,
            until=until,
            src_selector=self.selectors["src"].text().strip()
            if not selector_error(self.selectors["src"].text())
            else "",
            dst_selector=self.selectors["dst"].text().strip()
            if not selector_error(self.selectors["dst"].text())
            else "",
            src_types=tuple(t for t, cb in self.types["src"].items() if cb.isChecked()),
            dst_types=tuple(t for t, cb in self.types["dst"].items() if cb.isChecked()),
        )

    def set_preset(self, seconds: int | None) -> None:
        i = self.time_box.findData(seconds)
        if i >= 0:
            self.time_box.setCurrentIndex(i)

    def set_custom(self, since: int | None, until: int | None) -> None:
        """Show an absolute range (None, None = all time) without emitting."""
        self.blockSignals(True)
        try:
            if since is None and until is None:
                self.set_preset(None)
            else:
                now = int(datetime.now(UTC).timestamp())
                self.since_edit.setDateTime(
                    QDateTime.fromSecsSinceEpoch(since if since is not None else 0, QTimeZone.utc())
                )
                self.until_edit.setDateTime(
                    QDateTime.fromSecsSinceEpoch(until if until is not None else now, QTimeZone.utc())
                )
                self.time_box.setCurrentIndex(self.time_box.findData(-1))
        finally:
            self.blockSignals(False)
        self._last_state = self.state()

    def set_data_end(self, end: int | None) -> None:
        """The newest flow log's end time: the "Last …" presets count back from it (the
        simulated clock's now, not the wall clock's); the tooltip shows the absolute range."""
        if end != self._data_end:
            self._data_end = end
            self._update_time_tip()

    def time_tooltip(self) -> str:
        secs = self.time_box.currentData()
        if secs is None:
            return "All flow logs in the store"
        if secs == -1:
            return "An absolute range, in UTC"
        head = f"{self.time_box.currentText()} of the data, counted back from the newest flow log"
        if self._data_end is None:
            return head
        return f"{head}:\n{_utc(self._data_end - int(secs))} – {_utc(self._data_end)} UTC"

    def _update_time_tip(self) -> None:
        self.time_box.setToolTip(self.time_tooltip())

    def _time_changed(self, _i: int) -> None:
        custom = self.time_box.currentData() == -1
        self.since_edit.setVisible(custom)
        self.until_edit.setVisible(custom)
        self._update_time_tip()
        self._emit()

    def _validate(self, side: str) -> None:
        err = selector_error(self.selectors[side].text())
        self.selectors[side].setStyleSheet(ERROR_STYLE if err else "")
        self.selectors[side].setToolTip(err or "")
        self.errors[side].setText(err or "")
        self.errors[side].setVisible(bool(err))
        if not err:
            self._emit()

    def has_errors(self) -> bool:
        return any(selector_error(e.text()) for e in self.selectors.values())

    def _emit(self, *_: object) -> None:
        if self.has_errors():
            return
        st = self.state()
        if st != self._last_state:
            self._last_state = st
            self.changed.emit(st)
