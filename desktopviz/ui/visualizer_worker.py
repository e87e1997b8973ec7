"""The Flow Visualizer's job off the GUI thread: read the store (or a what-if preview), filter,
lay out, paint the picture with its text, and compute the traffic tables.

A job gets an immutable :class:`Request` snapshot of everything it needs (the GUI-thread
state, the label outlines made so far) and returns a :class:`Result`. When the flows read and
every drawing parameter are those of the picture on screen, the old result is returned as is
(``unchanged``): the GUI thread then has nothing to do.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field, replace
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Signal
from PySide6.QtGui import QImage

from desktopviz.core.flowgraph import Flow, StableOrder
from desktopviz.core.geometry import OTHER, Layout, LayoutOptions, compute_layout
from desktopviz.ui.visualizer_data import (
    Focus,
    Loaded,
    QueryState,
    TrafficRow,
    load_flows,
    traffic_tables,
    view_filter,
)
from desktopviz.ui.visualizer_labels import render_image
from desktopviz.ui.visualizer_preview import PreviewState, preview_loaded
from desktopviz.ui.visualizer_render import Scene, Viewport
from desktopviz.ui.visualizer_style import ChartColours, ColourBook
from desktopviz.ui.visualizer_text import Glyph, GlyphKey


@dataclass
class Request:
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
    colours: ChartColours
    metrics: tuple[float, float]
    glyphs: dict[GlyphKey, Glyph]
    table_key: tuple[Any, ...]
    choice_ns: str = ""
    preview: PreviewState | None = None
    previous: Result | None = None
    dead: list[Result] = field(default_factory=list)  # old results to free in this thread
    shown: list[Flow] | None = None
    placed: list[Flow] | None = None
    layout: Layout | None = None


@dataclass
class Result:
    loaded: Loaded
    shown: list[Flow]
    scene: Scene
    image: QImage
    vp: Viewport
    size: tuple[int, int, float]
    missing: list[GlyphKey] = field(default_factory=list)  # text the GUI thread still draws
    signature: tuple[Any, ...] = ()
    table_key: tuple[Any, ...] = ()
    tables: dict[str, list[TrafficRow]] | None = None
    choices: tuple[Any, ...] | None = None  # (namespace it is for, *dropdown_choices(...))
    unchanged: bool = False


class Signals(QObject):
    done = Signal(object)
    failed = Signal(str)


class Job(QRunnable):
    def __init__(self, fn: Any, signals: Signals) -> None:
        super().__init__()
        self.fn, self.signals = fn, signals

    def run(self) -> None:
        try:
            self.signals.done.emit(self.fn())
        except Exception:  # reported in the GUI thread; the widget keeps its last picture
            self.signals.failed.emit(traceback.format_exc())


def _colour_key(c: ChartColours) -> tuple[int, ...]:
    return (c.background.rgba(), c.text.rgba(), c.name_ring.rgba(), c.emphasis.rgba())


def signature(req: Request) -> tuple[Any, ...]:
    """Everything but the flows that decides the picture."""
    vp = req.vp
    pv = req.preview
    return (
        req.view,
        req.labels,
        req.size,
        (vp.cx, vp.cy, vp.R),
        repr(req.options),
        req.status,
        req.focus,
        _colour_key(req.colours),
        req.metrics,
        None if pv is None else (id(pv.result), pv.applied, pv.only_changed),
    )


def tables_for(flows: list[Flow], seconds: float, key: tuple[Any, ...]) -> dict[str, list[TrafficRow]]:
    """The traffic tables for a selection key (kind, namespace, name, flow key, by_name)."""
    kind, ns, name, fkey, by_name = key
    if kind == "namespace":
        flows = [f for f in flows if ns in (f.src_namespace, f.dst_namespace)]
    elif kind == "name":
        flows = [f for f in flows if (ns, name) in (f.src, f.dst)]
    elif kind == "flow":
        flows = [f for f in flows if (f.src, f.dst, f.status) == fkey]
    return traffic_tables(flows, seconds, by_name)


def dropdown_choices(
    flows: list[Flow], shown: list[Flow], ns_sel: str
) -> tuple[list[str], list[tuple[str, str]], list[Flow], tuple[Any, ...]]:
    """Namespace, Name and Flow dropdown items (names of ``ns_sel`` only when set; the 500
    busiest shown flows) and a signature that tells whether they changed."""
    namespaces = sorted({f.src_namespace for f in flows} | {f.dst_namespace for f in flows})
    names = sorted({k for f in flows for k in (f.src, f.dst) if not ns_sel or k[0] == ns_sel})[:2000]
    combo = sorted(shown, key=lambda f: -f.connections)[:500]
    sig = (tuple(namespaces), tuple(names), tuple((f.src, f.dst, f.status) for f in combo))
    return namespaces, names, combo, sig


def compute(req: Request, order: StableOrder, ns_book: ColourBook, name_book: ColourBook) -> Result:
    """Runs in the worker thread: read, filter, lay out, paint (text from ready outlines).
    Old results are freed here too: a scene's thousands of paths take the GUI thread ~10 ms."""
    req.dead.clear()
    try:
        return _compute(req, order, ns_book, name_book)
    finally:
        req.previous = None


def _compute(req: Request, order: StableOrder, ns_book: ColourBook, name_book: ColourBook) -> Result:
    if req.preview is not None and (req.reload or req.loaded is None):
        loaded = preview_loaded(req.preview)
    elif req.reload or req.loaded is None:
        if req.path is not None:
            loaded = load_flows(req.path, req.query)
        else:
            flows = list(req.given or [])
            span = (max((f.end for f in flows), default=1) - min((f.start for f in flows), default=0)) or 1
            loaded = Loaded(flows, None, None, float(span))
    else:
        loaded = req.loaded
    sig = signature(req)
    prev = req.previous
    if (
        prev is not None
        and prev.signature == sig
        and prev.loaded.seconds == loaded.seconds
        and prev.loaded.flows == loaded.flows
    ):
        return replace(prev, loaded=loaded, missing=[], unchanged=True)
    if req.layout is None or req.shown is None or req.placed is None:
        placed = view_filter(loaded.flows, "any", req.focus)
        chord_status = None if req.status == "any" else req.status
        layout = compute_layout(placed, order, req.options, chord_status)
        shown = [f for f in placed if req.status in ("any", f.status)]
    else:
        shown, layout, placed = req.shown, req.layout, req.placed
    for s in layout.namespaces:
        ns_book(s.namespace)
    for s in layout.names:
        name_book((s.namespace, s.name))
    notes = []
    if layout.merged_names:
        n = layout.merged_names
        notes.append(f"{n} small name{'' if n == 1 else 's'} merged into “{OTHER}”")
    if layout.hidden_flows:
        n = layout.hidden_flows
        notes.append(f"{n} small flow{'' if n == 1 else 's'} shown on the inner ring only")
    scene = Scene(
        layout,
        placed,
        req.view,
        ns_book.snapshot(),
        name_book.snapshot(),
        req.labels,
        "; ".join(notes),
        colours=req.colours,
        preview=req.preview is not None,
        metrics=req.metrics,
        empty="No flows change with this edit"
        if req.preview is not None and req.preview.only_changed
        else "No flows in this time range and filter",
    )
    w, h, dpr = req.size
    image, missing = render_image(scene, req.vp, w, h, dpr, req.glyphs)
    tables = tables_for(shown, loaded.seconds, req.table_key)
    choices = (req.choice_ns, *dropdown_choices(loaded.flows, shown, req.choice_ns))
    return Result(loaded, shown, scene, image, req.vp, req.size, missing, sig, req.table_key, tables, choices)
