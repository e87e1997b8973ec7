"""Charts of the flow-log browser (pyqtgraph): allowed/denied over time, and top denied names.

:class:`TimeStrip` draws stacked bars of allowed (green) and denied (red) flow logs, flows or
bytes per time bucket for the browser's current filter; dragging the shaded region (a
``LinearRegionItem``) chooses a time range. :class:`TopDenied` lists the source and
destination names with the most denied flows; clicking one asks for a filter on it.

Signals (TimeStrip):
    rangeSelected(object, object): (since, until) Unix seconds dragged on the strip.
Signals (TopDenied):
    filterRequested(str, str): (label, filter text) for a clicked name.
"""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktopviz.core.filterlang import combine, term
from desktopviz.ui.theme import ALLOWED, DENIED, is_dark

METRICS = {"logs": "flow logs", "flows": "flows", "bytes": "bytes"}


class TimeStrip(QWidget):
    rangeSelected = Signal(object, object)
    HINT = "Allowed and denied over time — drag the shaded range to filter by time"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        pg.setConfigOptions(antialias=False)
        self.plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem(orientation="bottom", utcOffset=0)})
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.showGrid(x=False, y=True, alpha=0.2)
        self.plot.getPlotItem().getAxis("left").setWidth(48)
        self.plot.setMinimumHeight(90)
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
        self.region = pg.LinearRegionItem(orientation="vertical", movable=True)
        self.region.setZValue(10)
        self.region.setBrush(pg.mkBrush(47, 111, 208, 28))
        for line in self.region.lines:
            line.setPen(pg.mkPen(47, 111, 208, 160, width=2))
            line.setHoverPen(pg.mkPen(47, 111, 208, 255, width=3))
        self.region.sigRegionChangeFinished.connect(self._region_done)
        self.plot.addItem(self.region)
        self._bars: list[pg.BarGraphItem] = []
        self._buckets: list[Any] = []
        self._width = 60
        self._quiet = False
        self._shown: tuple[Any, ...] | None = None
        self._y_top = 0.0
        self.apply_theme()

    def apply_theme(self) -> None:
        dark = is_dark()
        self.plot.setBackground("#1f2124" if dark else "#ffffff")
        pen = pg.mkPen("#c8ccd2" if dark else "#4a4f57")
        for name in ("left", "bottom"):
            axis = self.plot.getPlotItem().getAxis(name)
            axis.setPen(pen)
            axis.setTextPen(pen)

    def set_loading(self) -> None:
        """Say the chart is being computed (it can take seconds on millions of logs)."""
        if not self._buckets:
            self.caption.setText("Loading the chart…")

    def metric(self) -> str:
        return str(self.metric_box.currentData())

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
        self.region.setVisible(bool(buckets))
        self._draw()
        if buckets:
            lo = buckets[0].start if since is None else since
            hi = buckets[-1].start + self._width if until is None else until
            self._quiet = True
            self.region.setRegion((lo, hi))
            self._quiet = False

    def _draw(self) -> None:
        if not self._buckets:
            for item in self._bars:
                self.plot.removeItem(item)
            self._bars = []
            self._y_top = 0.0
            return
        m = self.metric()
        xs = [b.start + self._width / 2 for b in self._buckets]
        denied = [getattr(b, f"denied_{m}") for b in self._buckets]
        allowed = [getattr(b, f"allowed_{m}") for b in self._buckets]
        w = self._width * 0.9
        if not self._bars:  # the two bar items are made once and then given new figures
            for colour in (DENIED, ALLOWED):
                bar = pg.BarGraphItem(x=[0], height=[0], width=1, brush=QColor(colour), pen=pg.mkPen(None))
                self.plot.addItem(bar)
                self._bars.append(bar)
        self._bars[0].setOpts(x=xs, height=denied, y0=[0] * len(xs), width=w)
        self._bars[1].setOpts(x=xs, height=allowed, y0=denied, width=w)
        top = max((a + d for a, d in zip(allowed, denied, strict=True)), default=0)
        self.plot.setXRange(self._buckets[0].start, self._buckets[-1].start + self._width, padding=0.01)
        self.plot.enableAutoRange(enable=False)
        # The y range moves only when the bars outgrow it or shrink well below it: the axis
        # (redrawn in Python on every change of range) then stays as it is most refreshes.
        want = max(1, top) * 1.15
        if not (want <= self._y_top <= want * 1.5):
            self._y_top = want * 1.15
            self.plot.setYRange(0, self._y_top, padding=0)
        # Apply the new ranges now: pyqtgraph would otherwise apply them while painting and
        # invalidate the axes then, painting the whole plot a second time (measured).
        self.plot.getPlotItem().getViewBox().prepareForPaint()

    def _region_done(self) -> None:
        if self._quiet or not self._buckets:
            return
        lo, hi = self.region.getRegion()
        self.rangeSelected.emit(int(lo), int(hi) + 1)

    def totals(self) -> tuple[int, int]:
        """(allowed, denied) of the shown metric, summed over the buckets (tests)."""
        m = self.metric()
        return (
            sum(getattr(b, f"allowed_{m}") for b in self._buckets),
            sum(getattr(b, f"denied_{m}") for b in self._buckets),
        )


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
