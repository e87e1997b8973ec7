"""The Flow Visualizer (calico.md §4.1): rings of namespaces, names and flows with chords
between them, three views, filters, zoom, traffic tables and policies.

Reading the store, the layout and the static picture run in a one-thread pool off the GUI
thread; requests made while a job runs are merged into one follow-up job, and the old
picture stays up until the new one arrives (no flicker). Only the hover overlay is drawn in
the GUI thread.

Signals:
    selectionChanged(object): dict describing the selection ({} when cleared), with "kind"
        ("namespace" | "name" | "flow"), "namespace", "name", and for flows "source", "dest",
        "status", "connections", "packets", "bytes".
    flowSelected(object): the same dict, when a flow (inner ring or chord) is selected.
    policyActivated(str): a policy's trace name was clicked in the panel.
    timeRangeChanged(object, object): (since, until) chosen in the filter bar (None = open).
    rendered(): a new picture is on screen (tests, screenshots).
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QRunnable, QSize, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QImage, QPainter
from PySide6.QtWidgets import QHBoxLayout, QSplitter, QVBoxLayout, QWidget

from desktopviz.core.flowgraph import Flow, StableOrder, merge_flows
from desktopviz.core.geometry import OTHER, Layout, LayoutOptions, compute_layout
from desktopviz.ui.visualizer_canvas import ChartCanvas
from desktopviz.ui.visualizer_data import Focus, Loaded, QueryState, load_flows, view_filter
from desktopviz.ui.visualizer_filterbar import FilterBar
from desktopviz.ui.visualizer_panel import VisualizerPanel
from desktopviz.ui.visualizer_render import (
    Scene,
    Viewport,
    paint_overlay,
    paint_static,
    paint_text,
    render_image,
)
from desktopviz.ui.visualizer_select import SelectionMixin
from desktopviz.ui.visualizer_style import GLOBAL_COLOUR, ColourBook

VIEW_NAMES = ("namespace", "names", "status")


@dataclass
class _Request:
    reload: bool
    relayout: bool
    path: str | None
    given: list[Flow] | None
    query: QueryState
    loaded: Loaded | None
    status: str
    focus: tuple[Focus, ...]
    view: str
    labels: bool
    size: tuple[int, int, float]
    vp: Viewport
    options: LayoutOptions
    shown: list[Flow] | None = None
    placed: list[Flow] | None = None
    layout: Layout | None = None


@dataclass
class _Result:
    loaded: Loaded
    shown: list[Flow]
    scene: Scene
    image: QImage
    vp: Viewport
    size: tuple[int, int, float]


class _Signals(QObject):
    done = Signal(object)
    failed = Signal(str)


class _Job(QRunnable):
    def __init__(self, fn: Any, signals: _Signals) -> None:
        super().__init__()
        self.fn, self.signals = fn, signals

    def run(self) -> None:
        try:
            self.signals.done.emit(self.fn())
        except Exception:  # reported in the GUI thread; the widget keeps its last picture
            self.signals.failed.emit(traceback.format_exc())


class FlowVisualizer(SelectionMixin, QWidget):
    selectionChanged = Signal(object)
    flowSelected = Signal(object)
    policyActivated = Signal(str)
    timeRangeChanged = Signal(object, object)
    rendered = Signal()
    error = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.filter_bar = FilterBar()
        self.canvas = ChartCanvas()
        self.panel = VisualizerPanel()
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.canvas)
        split.addWidget(self.panel)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        top = QVBoxLayout(self)
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.filter_bar)
        row = QHBoxLayout()
        row.addWidget(split)
        top.addLayout(row, 1)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._signals = _Signals(self)
        self._signals.done.connect(self._on_done)
        self._signals.failed.connect(self._on_failed)
        self._order = StableOrder()
        self._ns_book = ColourBook({"-": GLOBAL_COLOUR})
        self._name_book = ColourBook()
        self._options = LayoutOptions()
        self._path: str | None = None
        self._given: list[Flow] | None = None
        self._engine: Any = None
        self._query = self.filter_bar.state()
        self._view = "namespace"
        self._status = "any"
        self._focus: list[Focus] = []
        self._loaded: Loaded | None = None
        self._result: _Result | None = None
        self._busy = False
        self._want: tuple[bool, bool] | None = None  # (reload, relayout) still to do
        self.last_error = ""
        self._repaint_timer = QTimer(self)
        self._repaint_timer.setSingleShot(True)
        self._repaint_timer.setInterval(60)
        self._repaint_timer.timeout.connect(lambda: self._schedule(False, False))
        self._init_selection()
        self._connect_signals()

    def _connect_signals(self) -> None:
        c, p = self.canvas, self.panel
        c.hovered.connect(self._on_hover)
        c.clicked.connect(self._on_click)
        c.doubleClicked.connect(self._on_double_click)
        c.zoomInRequested.connect(self.zoom_in)
        c.zoomOutRequested.connect(self.zoom_out)
        c.resetRequested.connect(self.reset)
        c.viewportChanged.connect(self._repaint_timer.start)
        p.viewChanged.connect(self.set_view)
        p.statusChanged.connect(self.set_status_filter)
        p.namespacePicked.connect(self._pick_namespace)
        p.namePicked.connect(self._pick_name)
        p.flowPicked.connect(self._pick_flow)
        p.policyActivated.connect(self.policyActivated)
        self.filter_bar.changed.connect(self._on_filter)

    # -- public API -------------------------------------------------------------------------------
    def set_store(self, path: str | Path | None) -> None:
        """Read flows from this store (its own read-only connection per job); None = nothing."""
        self._path = None if path is None else str(path)
        self._given = None
        self._reset_state()
        self._schedule(True, True)

    def set_flows(self, flows: list[Flow] | None) -> None:
        """Show these flows instead of a store's (previews, tests)."""
        self._path = None
        self._given = merge_flows(flows or [])
        self._schedule(True, True)

    def refresh(self) -> None:
        """New data may be in the store: re-read it (cheap to call often; requests merge)."""
        if self._path is not None:
            self._schedule(True, True)

    def set_time_range(self, since: int | None, until: int | None) -> None:
        self.filter_bar.set_custom(since, until)
        self._query = self.filter_bar.state()
        self._schedule(True, True)

    def set_view(self, name: str) -> None:
        if name not in VIEW_NAMES:
            raise ValueError(f"unknown view {name!r}: choose one of {', '.join(VIEW_NAMES)}")
        self.panel.set_view(name)
        if name != self._view:
            self._view = name
            self._schedule(False, False)

    def view(self) -> str:
        return self._view

    def set_status_filter(self, status: str) -> None:
        """Panel Status filter: 'any' | 'allowed' | 'denied'."""
        self.panel.set_status(status)
        if status != self._status:
            self._status = status
            self._schedule(False, True)

    def set_metric(self, metric: str) -> None:
        """Chord thickness and segment size by 'connections' (default), 'packets' or 'bytes'."""
        self._options = replace(self._options, metric=metric)
        self._schedule(False, True)

    def set_engine(self, engine: Any) -> None:
        self._engine = engine
        self._show_policies()

    def current_layout(self) -> Layout | None:
        return self._result.scene.layout if self._result else None

    def shown_flows(self) -> list[Flow]:
        return list(self._result.shown) if self._result else []

    def is_idle(self) -> bool:
        return not self._busy and self._want is None and not self._repaint_timer.isActive()

    def wait_until_idle(self, timeout_ms: int = 30000) -> None:
        """Finish pending work now (export, screenshot command)."""
        if self._repaint_timer.isActive():
            self._repaint_timer.stop()
            self._schedule(False, False)
        for _ in range(100):
            if self.is_idle():
                return
            self._pool.waitForDone(timeout_ms)
            QCoreApplication.sendPostedEvents(self)
            QCoreApplication.sendPostedEvents(self._signals)

    def export_image(self, path: str | Path) -> None:
        """Save the current picture (with the selection) as PNG or SVG, at the chart's size."""
        self.wait_until_idle()
        path = Path(path)
        res = self._result
        w, h = max(self.canvas.width(), 400), max(self.canvas.height(), 300)
        vp = self.canvas.viewport()
        scene = res.scene if res else Scene(Layout(), [])
        outline, flows = self.canvas.selected, self.canvas.selected_flows
        if path.suffix.lower() == ".svg":
            from PySide6.QtSvg import QSvgGenerator

            gen = QSvgGenerator()
            gen.setFileName(str(path))
            gen.setSize(QSize(w, h))
            gen.setViewBox(self.canvas.rect())
            gen.setTitle("desktopviz Flow Visualizer")
            p = QPainter(gen)
            paint_static(p, scene, vp, w, h)
            if outline or flows:
                paint_overlay(p, scene, vp, flows, outline)
            p.end()
            return
        img = render_image(scene, vp, w, h, text=True)
        if outline or flows:
            p = QPainter(img)
            paint_overlay(p, scene, vp, flows, outline)
            p.end()
        if not img.save(str(path)):
            raise OSError(f"{path}: could not write the image")

    def shutdown(self) -> None:
        self._repaint_timer.stop()
        self._want = None
        self._pool.clear()
        self._pool.waitForDone()
        self.canvas.shutdown()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)

    # -- zoom ---------------------------------------------------------------------------------
    def zoom_in(self) -> None:
        """Redraw the circle with just the selected namespace (or name) and its peers."""
        sel = self._selection
        if not sel or sel.get("kind") not in ("namespace", "name"):
            return
        if sel["kind"] == "namespace" or sel.get("name") == OTHER:
            f = Focus("namespace", sel["namespace"])
        else:
            f = Focus("name", sel["namespace"], sel["name"])
        if f not in self._focus:
            self._focus.append(f)
            self._schedule(False, True)

    def zoom_out(self) -> None:
        if self._focus:
            self._focus.pop()
            self._schedule(False, True)
        elif self._selection:
            self._select(None)
        self.canvas.fit()

    def zoomed(self) -> list[Focus]:
        return list(self._focus)

    def reset(self) -> None:
        self._reset_state()
        self._order.reset()
        self.canvas.fit()
        self._schedule(False, True)

    def _reset_state(self) -> None:
        self._focus.clear()
        self._select(None)

    # -- jobs ---------------------------------------------------------------------------------
    def _on_filter(self, state: QueryState) -> None:
        time_changed = (state.last, state.since, state.until) != (
            self._query.last,
            self._query.since,
            self._query.until,
        )
        self._query = state
        self._schedule(True, True)
        if time_changed:
            if state.last is not None:
                data_end = self._loaded.data_end if self._loaded else None
                self.timeRangeChanged.emit(None if data_end is None else data_end - state.last, None)
            else:
                self.timeRangeChanged.emit(state.since, state.until)

    def _schedule(self, reload: bool, relayout: bool) -> None:
        if self._want is not None:
            reload, relayout = reload or self._want[0], relayout or self._want[1]
        self._want = (reload, relayout or reload)
        if not self._busy:
            self._start()

    def _start(self) -> None:
        if self._want is None:
            return
        reload, relayout = self._want
        self._want = None
        if self._loaded is None or self._result is None:
            reload, relayout = (self._path is not None or self._given is not None) or reload, True
        if not reload and self._loaded is None:
            reload = True
        w, h = max(self.canvas.width(), 400), max(self.canvas.height(), 300)
        req = _Request(
            reload=reload,
            relayout=relayout,
            path=self._path,
            given=self._given,
            query=self._query,
            loaded=self._loaded,
            status=self._status,
            focus=tuple(self._focus),
            view=self._view,
            labels=self.canvas.labels,
            size=(w, h, self.devicePixelRatioF()),
            vp=self.canvas.viewport(),
            options=self._options,
        )
        if not relayout and self._result is not None:
            req.shown, req.layout = self._result.shown, self._result.scene.layout
            req.placed = self._result.scene.flows
        self._busy = True
        self._pool.start(_Job(lambda: self._compute(req), self._signals))

    def _compute(self, req: _Request) -> _Result:
        """Runs in the worker thread: read, filter, lay out, paint."""
        if req.reload or req.loaded is None:
            if req.path is not None:
                loaded = load_flows(req.path, req.query)
            else:
                flows = list(req.given or [])
                span = (
                    max((f.end for f in flows), default=1) - min((f.start for f in flows), default=0)
                ) or 1
                loaded = Loaded(flows, None, None, float(span))
        else:
            loaded = req.loaded
        if req.layout is None or req.shown is None or req.placed is None:
            placed = view_filter(loaded.flows, "any", req.focus)
            chord_status = None if req.status == "any" else req.status
            layout = compute_layout(placed, self._order, req.options, chord_status)
            shown = [f for f in placed if req.status in ("any", f.status)]
        else:
            shown, layout, placed = req.shown, req.layout, req.placed
        for s in layout.namespaces:
            self._ns_book(s.namespace)
        for s in layout.names:
            self._name_book((s.namespace, s.name))
        notes = []
        if layout.merged_names:
            notes.append(f"{layout.merged_names} small names merged into “{OTHER}”")
        if layout.hidden_flows:
            notes.append(f"{layout.hidden_flows} small flows shown on the inner ring only")
        scene = Scene(
            layout,
            placed,
            req.view,
            self._ns_book.snapshot(),
            self._name_book.snapshot(),
            req.labels,
            "; ".join(notes),
        )
        w, h, dpr = req.size
        image = render_image(scene, req.vp, w, h, dpr)
        return _Result(loaded, shown, scene, image, req.vp, req.size)

    def _on_done(self, res: _Result) -> None:
        self._busy = False
        p = QPainter(res.image)
        w, h, _dpr = res.size
        paint_text(p, res.scene, res.vp, w, h)
        p.end()
        self._loaded, self._result = res.loaded, res
        self.canvas.set_picture(res.image, res.scene, res.vp)
        self._after_render()
        self._start()
        self.rendered.emit()

    def _on_failed(self, text: str) -> None:
        self._busy = False
        self.last_error = text.strip().splitlines()[-1] if text.strip() else "error"
        self.error.emit(self.last_error)
        self._start()
