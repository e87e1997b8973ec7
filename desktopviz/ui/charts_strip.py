"""The flow-log browser's allowed/denied strip, drawn with QPainter.

Stacked bars of denied (red, at the bottom) and allowed (green) flow logs, flows or bytes per
time bucket, a value axis with grid lines and a UTC time axis; the shaded region marks the
chosen time range and is dragged to choose another (its edges, the whole region, or a new
range dragged out anywhere). Drawn in one short paint event: pyqtgraph's plot, its axes
replayed from QPictures and its scene cost the GUI thread 20-40 ms per repaint and ~40 ms
for the first one (tests/perf/bench_ui_latency.py).

Signals (TimeStrip):
    rangeSelected(object, object): (since, until) Unix seconds dragged on the strip.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from desktopviz.ui.theme import ALLOWED, DENIED, is_dark

METRICS = {"logs": "flow logs", "flows": "flows", "bytes": "bytes"}
LEFT, RIGHT, TOP, BOTTOM = 48, 10, 6, 20  # the plot's margins (axes in the left and bottom ones)
EDGE_PX = 6  # how near an edge of the region a press grabs that edge
REGION_FILL = QColor(47, 111, 208, 28)
REGION_EDGE = QColor(47, 111, 208, 160)
REGION_EDGE_HOT = QColor(47, 111, 208, 255)
# Time-axis steps (seconds): the smallest that leaves ~80 px between labels is used.
TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
              86400, 172800, 604800)  # fmt: skip


def nice_step(span: float, count: int) -> float:
    """A 1/2/5×10^k step giving about `count` steps over `span`."""
    raw = max(span, 1e-9) / max(count, 1)
    base = 10 ** math.floor(math.log10(raw))
    return next(m * base for m in (1, 2, 5, 10) if m * base >= raw)


def short_number(v: float) -> str:
    """10, 2.5k, 3M, 1.2G: value-axis labels that fit the 48 px margin."""
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.3g}{suffix}"
    return f"{v:.3g}"


def time_label(t: float, step: float) -> str:
    d = datetime.fromtimestamp(t, UTC)
    if step >= 86400:
        return d.strftime("%b %d")
    if step < 60:
        return d.strftime("%H:%M:%S")
    return d.strftime("%H:%M")


class StripPlot(QWidget):
    """The plot area: bars, axes, the draggable region (see the module doc)."""

    regionDragged = Signal(float, float)  # (lo, hi) when a drag ends

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(90)
        self.setMouseTracking(True)
        self.xs: tuple[float, float] = (0.0, 1.0)
        self.y_top = 0.0
        self.bars: list[tuple[float, float, float]] = []  # (start, denied, allowed)
        self.width_s = 60.0
        self.region: tuple[float, float] | None = None
        self._drag: tuple[str, float, tuple[float, float]] | None = None  # (what, press time, region)
        self._hot: str | None = None  # the edge under the mouse: "lo" | "hi"

    # -- geometry --------------------------------------------------------------------------
    def plot_rect(self) -> QRectF:
        return QRectF(LEFT, TOP, max(1, self.width() - LEFT - RIGHT), max(1, self.height() - TOP - BOTTOM))

    def x_of(self, t: float) -> float:
        r, (x0, x1) = self.plot_rect(), self.xs
        return r.left() + (t - x0) / ((x1 - x0) or 1.0) * r.width()

    def t_of(self, x: float) -> float:
        r, (x0, x1) = self.plot_rect(), self.xs
        return x0 + (x - r.left()) / r.width() * (x1 - x0)

    def _y_of(self, v: float) -> float:
        r = self.plot_rect()
        return r.bottom() - v / (self.y_top or 1.0) * r.height()

    # -- painting --------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        dark = is_dark()
        p.fillRect(self.rect(), QColor("#1f2124" if dark else "#ffffff"))
        text = QColor("#c8ccd2" if dark else "#4a4f57")
        r = self.plot_rect()
        if self.bars:
            self._paint_value_axis(p, r, text)
            self._paint_bars(p, r)
            self._paint_time_axis(p, r, text)
            self._paint_region(p, r)
        p.setPen(QPen(text, 1))
        p.drawLine(QPointF(r.left(), r.top()), QPointF(r.left(), r.bottom()))
        p.drawLine(QPointF(r.left(), r.bottom()), QPointF(r.right(), r.bottom()))
        p.end()

    def _paint_value_axis(self, p: QPainter, r: QRectF, text: QColor) -> None:
        step = nice_step(self.y_top, 3)
        grid = QColor(text)
        grid.setAlphaF(0.2)
        fm = p.fontMetrics()
        v = step
        while v < self.y_top:
            y = self._y_of(v)
            p.setPen(QPen(grid, 1))
            p.drawLine(QPointF(r.left(), y), QPointF(r.right(), y))
            p.setPen(text)
            label = short_number(v)
            p.drawText(QPointF(r.left() - 6 - fm.horizontalAdvance(label), y + fm.ascent() / 2 - 1), label)
            v += step

    def _paint_bars(self, p: QPainter, r: QRectF) -> None:
        p.save()
        p.setClipRect(r)
        p.setPen(Qt.PenStyle.NoPen)
        scale = r.width() / ((self.xs[1] - self.xs[0]) or 1.0)
        bar_w = max(1.0, self.width_s * 0.9 * scale)
        pad = self.width_s * 0.05
        vscale = r.height() / (self.y_top or 1.0)
        bottom = r.bottom()
        denied, allowed = QColor(DENIED), QColor(ALLOWED)
        for start, d, a in self.bars:
            x = self.x_of(start + pad)
            dh, ah = d * vscale, a * vscale
            if dh > 0:
                p.fillRect(QRectF(x, bottom - dh, bar_w, dh), denied)
            if ah > 0:
                p.fillRect(QRectF(x, bottom - dh - ah, bar_w, ah), allowed)
        p.restore()

    def _paint_time_axis(self, p: QPainter, r: QRectF, text: QColor) -> None:
        x0, x1 = self.xs
        per_px = (x1 - x0) / r.width()
        step = next((s for s in TIME_STEPS if s / per_px >= 80), TIME_STEPS[-1])
        p.setPen(text)
        fm = p.fontMetrics()
        t = math.ceil(x0 / step) * step
        while t <= x1:
            x = self.x_of(t)
            p.drawLine(QPointF(x, r.bottom()), QPointF(x, r.bottom() + 4))
            label = time_label(t, step)
            p.drawText(QPointF(x - fm.horizontalAdvance(label) / 2, r.bottom() + 5 + fm.ascent()), label)
            t += step

    def _paint_region(self, p: QPainter, r: QRectF) -> None:
        if self.region is None:
            return
        lo = max(r.left(), min(r.right(), self.x_of(self.region[0])))
        hi = max(r.left(), min(r.right(), self.x_of(self.region[1])))
        p.fillRect(QRectF(lo, r.top(), hi - lo, r.height()), REGION_FILL)
        for edge, x in (("lo", lo), ("hi", hi)):
            hot = edge == self._hot or (self._drag is not None and self._drag[0] == edge)
            p.setPen(QPen(REGION_EDGE_HOT if hot else REGION_EDGE, 3 if hot else 2))
            p.drawLine(QPointF(x, r.top()), QPointF(x, r.bottom()))

    # -- dragging --------------------------------------------------------------------------
    def _grab(self, x: float) -> str:
        if self.region is not None:
            lo, hi = self.x_of(self.region[0]), self.x_of(self.region[1])
            if abs(x - lo) <= EDGE_PX:
                return "lo"
            if abs(x - hi) <= EDGE_PX:
                return "hi"
            if lo < x < hi:
                return "move"
        return "new"

    def _clamp(self, t: float) -> float:
        return max(self.xs[0], min(self.xs[1], t))

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if event.button() != Qt.MouseButton.LeftButton or not self.bars:
            super().mousePressEvent(event)
            return
        x = event.position().x()
        t = self._clamp(self.t_of(x))
        what = self._grab(x)
        if what == "new":
            self.region = (t, t)
            what = "hi"
        assert self.region is not None
        self._drag = (what, t, self.region)
        self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        x = event.position().x()
        if self._drag is None:
            hot = self._grab(x) if self.bars else None
            self._hot = hot if hot in ("lo", "hi") else None
            cursors = {"lo": Qt.CursorShape.SizeHorCursor, "hi": Qt.CursorShape.SizeHorCursor,
                       "move": Qt.CursorShape.OpenHandCursor}  # fmt: skip
            self.setCursor(cursors.get(hot or "", Qt.CursorShape.ArrowCursor))
            self.update()
            return
        what, pressed, (lo, hi) = self._drag
        t = self._clamp(self.t_of(x))
        if what == "move":
            shift = max(self.xs[0] - lo, min(self.xs[1] - hi, t - pressed))
            self.region = (lo + shift, hi + shift)
        else:
            other = hi if what == "lo" else lo
            self.region = (min(t, other), max(t, other))
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if self._drag is None:
            super().mouseReleaseEvent(event)
            return
        start = self._drag[2]
        self._drag = None
        self.update()
        if self.region is not None and self.region != start and self.region[1] > self.region[0]:
            self.regionDragged.emit(*self.region)

    def leaveEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        if self._hot is not None:
            self._hot = None
            self.update()
        super().leaveEvent(event)


class TimeStrip(QWidget):
    rangeSelected = Signal(object, object)
    HINT = "Allowed and denied over time — drag the shaded range to filter by time"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = StripPlot()
        self.plot.setToolTip("")
        self.metric_box = QComboBox()
        for key, text in METRICS.items():
            self.metric_box.addItem(text, key)
        self.metric_box.setToolTip("What the bars count")
        self.metric_box.currentIndexChanged.connect(lambda _i: self._draw())
        self.caption = QLabel(self.HINT)
        self.caption.setStyleSheet("color: palette(placeholder-text);")
        head = QHBoxLayout()
        head.setContentsMargins(4, 0, 4, 0)
        head.addWidget(self.caption, 1)
        head.addWidget(self.metric_box)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addLayout(head)
        lay.addWidget(self.plot, 1)
        self.plot.regionDragged.connect(lambda lo, hi: self.select_range(lo, hi))
        self._buckets: list[Any] = []
        self._width = 60
        self._shown: tuple[Any, ...] | None = None
        self._y_top = 0.0

    def apply_theme(self) -> None:
        """Colours follow the palette when painting: just repaint."""
        self.plot.update()

    def set_loading(self) -> None:
        """Say the chart is being computed (it can take seconds on millions of logs)."""
        if not self._buckets:
            self.caption.setText("Loading the chart…")

    def shown_metric(self) -> str:
        """What the bars count: "logs", "flows" or "bytes" (not `metric`: QWidget.metric is a
        paint-device virtual Qt calls when the strip is grabbed or rendered)."""
        return str(self.metric_box.currentData())

    def region(self) -> tuple[float, float] | None:
        """The shaded range (Unix seconds), None without data."""
        return self.plot.region

    def select_range(self, since: float, until: float) -> None:
        """Shade this range and say it was chosen, as a finished drag does."""
        self.plot.region = (float(since), float(until))
        self.plot.update()
        self.rangeSelected.emit(int(since), int(until) + 1)

    def set_series(self, buckets: list[Any], width: int, since: int | None, until: int | None) -> None:
        """Show time buckets (queries.TimeBucket) of ``width`` seconds; the region marks the
        chosen range (the whole data when None). The same figures again change nothing (a
        paused run's refreshes cost no repaint)."""
        shown = (list(buckets), max(1, width), since, until)
        if shown == self._shown:
            return
        self._shown = shown
        self._buckets, self._width = buckets, max(1, width)
        self.caption.setText(self.HINT if buckets else "No flow logs in this range")
        self.plot.region = None
        if buckets:
            lo = buckets[0].start if since is None else since
            hi = buckets[-1].start + self._width if until is None else until
            self.plot.region = (float(lo), float(hi))
        self._draw()

    def _draw(self) -> None:
        plot = self.plot
        if not self._buckets:
            plot.bars, self._y_top = [], 0.0
            plot.update()
            return
        m = self.shown_metric()
        plot.bars = [(b.start, getattr(b, f"denied_{m}"), getattr(b, f"allowed_{m}")) for b in self._buckets]
        plot.width_s = float(self._width)
        x0, x1 = self._buckets[0].start, self._buckets[-1].start + self._width
        pad = (x1 - x0) * 0.01
        plot.xs = (x0 - pad, x1 + pad)
        top = max((d + a for _, d, a in plot.bars), default=0)
        # The value axis moves only when the bars outgrow it or shrink well below it, so its
        # labels stay put through most live refreshes.
        want = max(1, top) * 1.15
        if not (want <= self._y_top <= want * 1.5):
            self._y_top = want * 1.15
        plot.y_top = self._y_top
        plot.update()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.PaletteChange:
            self.plot.update()
        super().changeEvent(event)

    def totals(self) -> tuple[int, int]:
        """(allowed, denied) of the shown metric, summed over the buckets (tests)."""
        m = self.shown_metric()
        return (
            sum(getattr(b, f"allowed_{m}") for b in self._buckets),
            sum(getattr(b, f"denied_{m}") for b in self._buckets),
        )
