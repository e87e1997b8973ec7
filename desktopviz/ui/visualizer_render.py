"""Painting of the Flow Visualizer: the static picture and the hover/selection overlay.

The painter only draws what desktopviz.core.geometry computed. ``paint_static`` is used on a
QImage in a worker thread (QPainter on a QImage is thread-safe), by the PNG export, and on a
QSvgGenerator for the SVG export; ``paint_overlay`` draws the dimming veil and the highlighted
flows over the cached picture. Text is added by :mod:`desktopviz.ui.visualizer_labels`.
Colours follow the widget palette (:class:`ChartColours`); a what-if preview draws changed
flows outlined and uncertain ones grey and hatched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QPainter,
    QPainterPath,
    QPen,
    QPolygonF,
)

from desktopviz.core.flowgraph import Flow, NodeKey, endpoint_label, namespace_label
from desktopviz.core.geometry import OTHER, Layout, Segment
from desktopviz.ui.visualizer_style import (
    CHORD_STATUS,
    HATCHED,
    LIGHT,
    SELECTION,
    STATUS_COLOURS,
    ChartColours,
)

MAX_HIGHLIGHT_CHORDS = 300


LABEL_ROOM_X = 160.0  # room for the name labels beside the circle, at most (px)
LABEL_ROOM_Y = 84.0  # above and below it: labels there run up and down, and are cut shorter


def label_room(w: float, h: float) -> tuple[float, float]:
    """Room left for the ring labels (horizontal, vertical) in a w × h chart: a share of the
    size, so a small chart still has a circle worth looking at, and never more than a long
    name needs. Labels are cut to the room they get (:mod:`desktopviz.ui.visualizer_labels`)."""
    return min(LABEL_ROOM_X, max(40.0, 0.24 * w)), min(LABEL_ROOM_Y, max(28.0, 0.14 * (h - 30)))


@dataclass
class Viewport:
    """Where the unit circle sits in the canvas (pixels)."""

    cx: float
    cy: float
    R: float

    @classmethod
    def fit(
        cls, w: float, h: float, labels: bool, zoom: float = 1.0, pan: tuple[float, float] = (0, 0)
    ) -> Viewport:
        mx, my = label_room(w, h) if labels else (24.0, 24.0)
        R = max(20.0, min(w / 2 - mx, (h - 30) / 2 - my)) * zoom
        return cls(w / 2 + pan[0], (h - 22) / 2 + pan[1], R)

    def to_unit(self, x: float, y: float) -> tuple[float, float]:
        return ((x - self.cx) / self.R, (y - self.cy) / self.R)

    def to_px(self, x: float, y: float) -> tuple[float, float]:
        return (self.cx + x * self.R, self.cy + y * self.R)


@dataclass
class Scene:
    """Everything the painter needs, as an immutable snapshot for the worker thread."""

    layout: Layout
    flows: list[Flow]
    view: str = "namespace"  # namespace | names | status
    ns_colour: dict[str, QColor] = field(default_factory=dict)
    name_colour: dict[NodeKey, QColor] = field(default_factory=dict)
    labels: bool = True
    note: str = ""  # parts joined by "; " (each part may go on its own line)
    colours: ChartColours = LIGHT
    preview: bool = False  # a what-if picture: legend with Changed and Uncertain
    metrics: tuple[float, float] = (6.5, 13.0)  # label font: average char width, line height
    empty: str = "No flows in this time range and filter"
    polys: list[QPolygonF] = field(default_factory=list)  # chord outlines, built once (worker)

    paths: dict[int, QPainterPath] = field(default_factory=dict)  # ring segments by id(segment)

    def __post_init__(self) -> None:
        if not self.polys:
            self.polys = [QPolygonF([QPointF(x, y) for x, y in c.points]) for c in self.layout.chords]
        if not self.paths:
            R = self.layout.radii
            for ring, r0, r1 in (
                (self.layout.namespaces, R.ns_inner, R.ns_outer),
                (self.layout.names, R.name_inner, R.name_outer),
                (self.layout.ends, R.flow_inner, R.flow_outer),
            ):
                for seg in ring:
                    self.paths[id(seg)] = _sector(seg, r0, r1)


def _sector(s: Segment, r0: float, r1: float) -> QPainterPath:
    a0, sweep = 90 - math.degrees(s.a0), -math.degrees(s.a1 - s.a0)
    path = QPainterPath()
    path.arcMoveTo(QRectF(-r1, -r1, 2 * r1, 2 * r1), a0)
    path.arcTo(QRectF(-r1, -r1, 2 * r1, 2 * r1), a0, sweep)
    path.arcTo(QRectF(-r0, -r0, 2 * r0, 2 * r0), a0 + sweep, -sweep)
    path.closeSubpath()
    return path


def chord_colour(scene: Scene, j: int) -> QColor:
    lf = scene.layout.flows[j]
    if lf.uncertain:
        return CHORD_STATUS["uncertain"]
    if scene.view == "status":
        return CHORD_STATUS.get(lf.status, CHORD_STATUS["unknown"])
    base = scene.name_colour.get(lf.src) if scene.view == "names" else scene.ns_colour.get(lf.src[0])
    c = QColor(base or QColor("#888888"))
    c.setAlpha(200)
    return c


def _chord_order(scene: Scene) -> list[int]:
    idx = list(range(len(scene.layout.chords)))
    flows = scene.layout.flows
    if scene.view == "status":  # denied on top of allowed
        rank = {"allowed": 0, "unknown": 1, "denied": 2}
        idx.sort(key=lambda i: rank.get(flows[scene.layout.chords[i].flow].status, 1))
    if scene.preview:  # changed flows on top, so their outline is seen
        idx.sort(key=lambda i: flows[scene.layout.chords[i].flow].changed)
    return idx


def hatch(colours: ChartColours) -> QBrush:
    """The uncertain hatch: lines in the text colour, so they show on light and dark."""
    c = QColor(colours.text)
    c.setAlpha(120)
    return QBrush(c, Qt.BrushStyle.BDiagPattern)


def _paint_chord(p: QPainter, scene: Scene, ci: int) -> None:
    c = scene.layout.chords[ci]
    lf = scene.layout.flows[c.flow]
    col = chord_colour(scene, c.flow)
    p.setBrush(col)
    if lf.changed:
        pen = QPen(scene.colours.emphasis, 2.2)
    else:
        edge = QColor(col).darker(160)
        edge.setAlpha(160)
        pen = QPen(edge, 0.8)
    pen.setCosmetic(True)
    p.setPen(pen)
    p.drawPolygon(scene.polys[ci])
    if lf.uncertain:
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(hatch(scene.colours))
        p.drawPolygon(scene.polys[ci])


def _paint_rings(p: QPainter, scene: Scene, segs: tuple[list[Segment], list[Segment], list[Segment]]) -> None:
    R = scene.layout.radii
    cols = scene.colours
    sep_col = QColor(cols.background)
    sep_col.setAlpha(230)
    sep = QPen(sep_col, 0.8)
    sep.setCosmetic(True)
    p.setPen(sep)
    namespaces, names, ends = segs
    for s in namespaces:
        col = cols.name_ring if scene.view == "status" else scene.ns_colour.get(s.namespace, QColor("#888"))
        p.setBrush(col)
        p.drawPath(scene.paths.get(id(s)) or _sector(s, R.ns_inner, R.ns_outer))
    for s in names:
        col = cols.name_ring
        if scene.view == "names":
            col = scene.name_colour.get((s.namespace, s.name or ""), cols.name_ring)
        p.setBrush(col)
        p.drawPath(scene.paths.get(id(s)) or _sector(s, R.name_inner, R.name_outer))
    changed = []
    for s in ends:
        colour = STATUS_COLOURS.get(s.status, STATUS_COLOURS["unknown"])
        p.setBrush(colour)
        path = scene.paths.get(id(s)) or _sector(s, R.flow_inner, R.flow_outer)
        p.drawPath(path)
        if s.status in HATCHED:
            p.fillPath(
                path,
                hatch(scene.colours)
                if s.status == "uncertain"
                else QBrush(QColor(0, 0, 0, 70), Qt.BrushStyle.BDiagPattern),
            )
        if s.flow is not None and scene.layout.flows[s.flow].changed:
            changed.append(path)
    if changed:
        pen = QPen(cols.emphasis, 2.0)
        pen.setCosmetic(True)
        p.setPen(pen)
        p.setBrush(Qt.BrushStyle.NoBrush)
        for path in changed:
            p.drawPath(path)
        p.setPen(sep)


def text_colour(bg: QColor) -> QColor:
    return QColor("#1d2025") if bg.lightnessF() > 0.55 else QColor("#ffffff")


def paint_static(
    p: QPainter, scene: Scene, vp: Viewport, w: float, h: float, background: bool = True
) -> None:
    """The picture without its text: background, chords and the three rings (any thread;
    the text is added by :func:`desktopviz.ui.visualizer_labels.paint_text`)."""
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    if background:
        p.fillRect(QRectF(0, 0, w, h), scene.colours.background)
    lay = scene.layout
    if lay.names:
        p.save()
        p.translate(vp.cx, vp.cy)
        p.scale(vp.R, vp.R)
        for ci in _chord_order(scene):
            _paint_chord(p, scene, ci)
        _paint_rings(p, scene, (lay.namespaces, lay.names, lay.ends))
        p.restore()


def paint_overlay(
    p: QPainter,
    scene: Scene,
    vp: Viewport,
    flows: set[int],
    outline: list[Segment],
) -> None:
    """Dim everything, then redraw the highlighted flows (their chords and ring segments) and
    outline the hovered or selected segments (export; the canvas draws the layers apart)."""
    if flows:
        paint_veil(p, vp, scene.colours.veil)
        paint_overlay_chords(p, scene, vp, flows)
    paint_overlay_rings(p, scene, vp, flows, outline)


def paint_veil(p: QPainter, vp: Viewport, colour: QColor | None = None) -> None:
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(colour if colour is not None else LIGHT.veil)
    p.drawEllipse(QPointF(vp.cx, vp.cy), vp.R * 1.002, vp.R * 1.002)


def paint_overlay_chords(p: QPainter, scene: Scene, vp: Viewport, flows: set[int]) -> None:
    """The highlighted chords (thread-safe: no text), at most MAX_HIGHLIGHT_CHORDS largest."""
    lay = scene.layout
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    p.save()
    p.translate(vp.cx, vp.cy)
    p.scale(vp.R, vp.R)
    chords = sorted(c for j in flows if (c := lay.flows[j].chord) is not None)[:MAX_HIGHLIGHT_CHORDS]
    order = {ci: k for k, ci in enumerate(_chord_order(scene))}
    for ci in sorted(chords, key=lambda c: order.get(c, 0)):
        _paint_chord(p, scene, ci)
    p.restore()


def paint_overlay_rings(
    p: QPainter, scene: Scene, vp: Viewport, flows: set[int], outline: list[Segment]
) -> None:
    """Ring segments of the highlighted flows at full colour, and the outlines."""
    lay = scene.layout
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    p.save()
    p.translate(vp.cx, vp.cy)
    p.scale(vp.R, vp.R)
    if flows:
        ends = [e for e in lay.ends if e.flow in flows or (e.flow is None and flows.intersection(e.flows))]
        keys = {(e.namespace, e.name) for e in ends}
        names = [s for s in lay.names if (s.namespace, s.name) in keys]
        nss = [s for s in lay.namespaces if s.namespace in {k[0] for k in keys}]
        _paint_rings(p, scene, (nss, names, ends))
    R = lay.radii
    for s in outline:
        pen = QPen(SELECTION, 2.2)
        pen.setCosmetic(True)
        p.setPen(pen)
        p.setBrush(Qt.BrushStyle.NoBrush)
        if s.ring == "namespace":
            p.drawPath(_sector(s, R.ns_inner, R.ns_outer))
        elif s.ring == "name":
            p.drawPath(_sector(s, R.name_inner, R.name_outer))
        else:
            p.drawPath(_sector(s, R.flow_inner, R.flow_outer))
    p.restore()


def segment_title(s: Segment) -> str:
    if s.ring == "namespace":
        return namespace_label(s.namespace)
    if s.name == OTHER:
        return f"{namespace_label(s.namespace)}: {s.merged} small names"
    return endpoint_label(s.namespace, s.name or "")
