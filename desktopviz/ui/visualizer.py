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

from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QEvent, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QPainter
from PySide6.QtWidgets import QHBoxLayout, QSplitter, QVBoxLayout, QWidget

from desktopviz.core.flowgraph import Flow, StableOrder, merge_flows
from desktopviz.core.geometry import OTHER, Layout, LayoutOptions
from desktopviz.core.whatif import WhatIfResult
from desktopviz.ui.sim_worker_pacing import REFRESH_BUSY_S, gui_busy
from desktopviz.ui.visualizer_canvas import ChartCanvas
from desktopviz.ui.visualizer_data import Focus, Loaded, QueryState
from desktopviz.ui.visualizer_filterbar import FilterBar
from desktopviz.ui.visualizer_labels import export_picture, paint_text
from desktopviz.ui.visualizer_panel import VisualizerPanel
from desktopviz.ui.visualizer_preview import PreviewBanner, PreviewState
from desktopviz.ui.visualizer_render import Scene
from desktopviz.ui.visualizer_select import SelectionMixin
from desktopviz.ui.visualizer_style import GLOBAL_COLOUR, ChartColours, ColourBook
from desktopviz.ui.visualizer_text import GlyphCache, GlyphKey
from desktopviz.ui.visualizer_worker import Job, Request, Result, Signals, compute

TEXT_SLICE_S = 0.004  # GUI time a turn may spend making label outlines
VIEW_NAMES = ("namespace", "names", "status")


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
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 0)  # the panel keeps its 380 px (300 when short of room)
        top = QVBoxLayout(self)
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.filter_bar)
        self.banner = PreviewBanner()
        self.banner.setVisible(False)
        self.banner.togglesChanged.connect(self._preview_toggled)
        self.banner.closed.connect(lambda: self.set_preview(None))
        top.addWidget(self.banner)
        row = QHBoxLayout()
        row.addWidget(split)
        top.addLayout(row, 1)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._signals = Signals(self)
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
        self._result: Result | None = None
        self._preview: PreviewState | None = None
        self._dead: list[Result] = []  # old pictures the next job frees
        self._glyphs = GlyphCache(self.font())
        self._colours = ChartColours.from_palette(self.palette())
        self.canvas.set_colours(self._colours)
        self._busy = False
        self._text: tuple[Result, list[GlyphKey]] | None = None  # a result whose outlines are being made
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
        """Read flows from this store (its own read-only connection per job); None = nothing.
        Closes a what-if preview (it belongs to the old store's flows)."""
        self._path = None if path is None else str(path)
        self._given = None
        self._close_preview()
        self._reset_state()
        self._schedule(True, True)

    def set_flows(self, flows: list[Flow] | None) -> None:
        """Show these flows instead of a store's (tests)."""
        self._path = None
        self._given = merge_flows(flows or [])
        self._close_preview()
        self._schedule(True, True)

    def refresh(self) -> None:
        """New data may be in the store: re-read it (cheap to call often; requests merge).
        A preview stays as it is; closing it reads the store again."""
        if self._path is not None and self._preview is None:
            self._schedule(True, True)

    def set_time_range(self, since: int | None, until: int | None) -> None:
        self.filter_bar.set_custom(since, until)
        self._query = self.filter_bar.state()
        if self._preview is None:
            self._schedule(True, True)

    def set_preview(
        self,
        result: WhatIfResult | None,
        applied: bool = True,
        only_changed: bool = False,
        *,
        title: str = "",
    ) -> None:
        """Show a what-if: the flows as they would be with the edit (``applied``) or as
        recorded, all of them or ``only_changed`` (with the uncertain ones). Changed flows are
        outlined, uncertain ones grey and hatched. ``None`` returns to the live data."""
        if result is None:
            if self._preview is not None:
                self._close_preview()
                self._select(None)
                self._schedule(True, True)
            return
        old = self._preview
        self._preview = PreviewState(result, applied, only_changed, title or (old.title if old else ""))
        if old is None or old.result is not result:
            self._select(None)
        self.banner.show_state(self._preview)
        self.banner.setVisible(True)
        self.filter_bar.setEnabled(False)
        self.filter_bar.setToolTip("The preview shows the time range the what-if was evaluated on")
        self._schedule(True, True)

    def preview(self) -> PreviewState | None:
        """The what-if shown, or None for live data."""
        return self._preview

    def _preview_toggled(self, applied: bool, only_changed: bool) -> None:
        if self._preview is not None:
            self.set_preview(self._preview.result, applied, only_changed, title=self._preview.title)

    def _close_preview(self) -> None:
        self._preview = None
        self.banner.setVisible(False)
        self.filter_bar.setEnabled(True)
        self.filter_bar.setToolTip("")

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
        return not self._busy and self._want is None and not self._repaint_timer.isActive() and not self._text

    def wait_until_idle(self, timeout_ms: int = 30000) -> None:
        """Finish pending work now (export, screenshot command)."""
        if self._repaint_timer.isActive():
            self._repaint_timer.stop()
            self._schedule(False, False)
        for _ in range(100):
            self._next_text(None)
            if self.is_idle():
                return
            self._pool.waitForDone(timeout_ms)
            QCoreApplication.sendPostedEvents(self)
            QCoreApplication.sendPostedEvents(self._signals)

    def export_image(self, path: str | Path) -> None:
        """Save the current picture (with the selection) as PNG or SVG, at the chart's size."""
        self.wait_until_idle()
        res = self._result
        w, h = max(self.canvas.width(), 400), max(self.canvas.height(), 300)
        scene = res.scene if res else Scene(Layout(), [], colours=self._colours)
        export_picture(
            Path(path),
            scene,
            self.canvas.viewport(),
            (w, h),
            self.canvas.selected_flows,
            self.canvas.selected,
            self._glyphs,
        )

    def changeEvent(self, event: QEvent) -> None:
        """Follow the palette (light/dark) and the font: new colours and label outlines."""
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.FontChange):
            colours = ChartColours.from_palette(self.palette())
            self._glyphs.set_font(self.font())
            if colours != self._colours or event.type() == QEvent.Type.FontChange:
                self._colours = colours
                self.canvas.set_colours(colours)
                self._schedule(False, False)
        super().changeEvent(event)

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
        req = Request(
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
            colours=self._colours,
            metrics=self._glyphs.metrics(),
            glyphs=self._glyphs.snapshot(),
            table_key=self._table_key(),
            choice_ns=self._namespace_of_choice(),
            preview=self._preview,
            previous=self._result,
            dead=self._dead,
        )
        self._dead = []
        if not relayout and self._result is not None:
            req.shown, req.layout = self._result.shown, self._result.scene.layout
            req.placed = self._result.scene.flows
        self._busy = True
        order, ns_book, name_book = self._order, self._ns_book, self._name_book
        self._pool.start(Job(lambda: compute(req, order, ns_book, name_book), self._signals))

    def _on_done(self, res: Result) -> None:
        self._loaded = res.loaded
        if res.loaded.data_end is not None:
            self.filter_bar.set_data_end(res.loaded.data_end)
        if res.unchanged and self._result is not None:  # same flows, same picture: nothing to do
            self._busy = False
            self._result = replace(self._result, loaded=res.loaded)
            self._start()
            return
        gui_busy(REFRESH_BUSY_S)  # a picture, labels and tables to paint: a max-speed simulation steps aside
        if res.missing:  # text whose outlines the worker did not have yet: made over a few turns
            self._text = (res, list(res.missing))
            self._next_text(TEXT_SLICE_S)
        else:
            self._show(res)

    def _next_text(self, seconds: float | None) -> None:
        """Make more of the pending result's outlines; once all are made, draw them and show it."""
        if self._text is None:
            return
        gui_busy(REFRESH_BUSY_S)
        res, todo = self._text
        if not self._glyphs.make_for(todo, seconds):
            QTimer.singleShot(0, self, lambda: self._next_text(TEXT_SLICE_S))
            return
        self._text = None
        self._glyphs.make(res.missing)  # (none dropped meanwhile by a font change or the limit)
        p = QPainter(res.image)
        w, h, _dpr = res.size
        paint_text(p, res.scene, res.vp, w, h, self._glyphs.snapshot(), set(res.missing))
        p.end()
        self._show(res)

    def _show(self, res: Result) -> None:
        self._busy = False
        if self._result is not None:  # freed by the next job: thousands of paths, off this thread
            self._dead.append(self._result)
        self._result = res
        self.canvas.set_picture(res.image, res.scene, res.vp)
        self._after_render()
        self._start()
        self.rendered.emit()

    def _on_failed(self, text: str) -> None:
        self._busy = False
        self.last_error = text.strip().splitlines()[-1] if text.strip() else "error"
        self.error.emit(self.last_error)
        self._start()
