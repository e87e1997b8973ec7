"""Painting of the Flow Visualizer: the static picture and the hover/selection overlay.

The painter only draws what desktopviz.core.geometry computed. ``paint_static`` is used on a
QImage in a worker thread (QPainter on a QImage is thread-safe), by the PNG export, and on a
QSvgGenerator for the SVG export; ``paint_overlay`` draws the dimming veil and the highlighted
flows over the cached picture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QImage,
    QPainter,
    QPainterPath,
    QPen,
    QPolygonF,
)

from desktopviz.core.flowgraph import Flow, NodeKey
from desktopviz.core.geometry import OTHER, Layout, Segment, fit_labels
from desktopviz.ui.visualizer_style import (
    CHORD_STATUS,
    NAME_RING,
    SELECTION,
    STATUS_COLOURS,
    STATUS_NAMES,
)

MAX_HIGHLIGHT_CHORDS = 300


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
        margin = 128 if labels else 24
        R = max(20.0, (min(w, h - 30) / 2 - margin)) * zoom
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
    note: str = ""
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
    if scene.view == "status":
        return CHORD_STATUS.get(lf.status, CHORD_STATUS["unknown"])
    base = scene.name_colour.get(lf.src) if scene.view == "names" else scene.ns_colour.get(lf.src[0])
    c = QColor(base or QColor("#888888"))
    c.setAlpha(200)
    return c


def _chord_order(scene: Scene) -> list[int]:
    idx = list(range(len(scene.layout.chords)))
    if scene.view == "status":  # denied on top of allowed
        rank = {"allowed": 0, "unknown": 1, "denied": 2}
        idx.sort(key=lambda i: rank.get(scene.layout.flows[scene.layout.chords[i].flow].status, 1))
    return idx


def _paint_chord(p: QPainter, scene: Scene, ci: int) -> None:
    c = scene.layout.chords[ci]
    col = chord_colour(scene, c.flow)
    p.setBrush(col)
    edge = QColor(col).darker(160)
    edge.setAlpha(160)
    pen = QPen(edge, 0.8)
    pen.setCosmetic(True)
    p.setPen(pen)
    p.drawPolygon(scene.polys[ci])


def _paint_rings(p: QPainter, scene: Scene, segs: tuple[list[Segment], list[Segment], list[Segment]]) -> None:
    R = scene.layout.radii
    sep = QPen(QColor(255, 255, 255, 230), 0.8)
    sep.setCosmetic(True)
    p.setPen(sep)
    namespaces, names, ends = segs
    for s in namespaces:
        col = NAME_RING if scene.view == "status" else scene.ns_colour.get(s.namespace, QColor("#888"))
        p.setBrush(col)
        p.drawPath(scene.paths.get(id(s)) or _sector(s, R.ns_inner, R.ns_outer))
    for s in names:
        col = NAME_RING
        if scene.view == "names":
            col = scene.name_colour.get((s.namespace, s.name or ""), NAME_RING)
        p.setBrush(col)
        p.drawPath(scene.paths.get(id(s)) or _sector(s, R.name_inner, R.name_outer))
    for s in ends:
        p.setBrush(STATUS_COLOURS.get(s.status, STATUS_COLOURS["unknown"]))
        path = scene.paths.get(id(s)) or _sector(s, R.flow_inner, R.flow_outer)
        p.drawPath(path)
        if s.status in ("denied", "denied_remote"):
            p.fillPath(path, QBrush(QColor(0, 0, 0, 70), Qt.BrushStyle.BDiagPattern))


def _text_colour(bg: QColor) -> QColor:
    return QColor("#1d2025") if bg.lightnessF() > 0.55 else QColor("#ffffff")


def _paint_labels(p: QPainter, scene: Scene, vp: Viewport) -> None:
    font = QFont(p.font())
    font.setPixelSize(11)
    p.setFont(font)
    fm = QFontMetricsF(font)
    for lb in fit_labels(
        scene.layout, vp.R, char_px=fm.averageCharWidth() * 1.05, line_px=fm.height(), max_chars=24
    ):
        x, y = vp.to_px(lb.x, lb.y)
        w, h = fm.horizontalAdvance(lb.text) + 2, fm.height()
        p.save()
        p.translate(x, y)
        p.rotate(lb.rotation)
        if lb.kind == "namespace":
            bg = NAME_RING if scene.view == "status" else scene.ns_colour.get(lb.namespace, QColor("#888"))
            p.setPen(_text_colour(bg))
            rect, align = QRectF(-w / 2, -h / 2, w, h), Qt.AlignmentFlag.AlignCenter
        else:
            p.setPen(QColor("#3a3f47"))
            if lb.align == "right":
                rect, align = (
                    QRectF(-w, -h / 2, w, h),
                    Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                )
            else:
                rect, align = (
                    QRectF(0, -h / 2, w, h),
                    Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                )
        p.drawText(rect, int(align), lb.text)
        p.restore()


def paint_legend(p: QPainter, w: float, h: float, note: str = "") -> None:
    font = QFont(p.font())
    font.setPixelSize(12)
    p.setFont(font)
    fm = QFontMetricsF(font)
    items = [(STATUS_NAMES[k], STATUS_COLOURS[k]) for k in ("allowed", "denied", "denied_remote", "unknown")]
    total = fm.horizontalAdvance("Legend:") + 10 + sum(fm.horizontalAdvance(t) + 26 for t, _ in items)
    x, y = w - total - 12, h - 14
    p.setPen(QColor("#1d2025"))
    bold = QFont(font)
    bold.setBold(True)
    p.setFont(bold)
    p.drawText(QPointF(x, y), "Legend:")
    p.setFont(font)
    x += fm.horizontalAdvance("Legend:") + 12
    for text, col in items:
        p.fillRect(QRectF(x, y - 10, 11, 11), col)
        p.drawText(QPointF(x + 15, y), text)
        x += fm.horizontalAdvance(text) + 26
    if note:
        p.setPen(QColor("#5a606b"))
        p.drawText(QPointF(12, h - 14), note)


def paint_static(
    p: QPainter, scene: Scene, vp: Viewport, w: float, h: float, background: bool = True, text: bool = True
) -> None:
    """The whole picture: chords, the three rings, and (``text``) labels and legend."""
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    if background:
        p.fillRect(QRectF(0, 0, w, h), QColor("#ffffff"))
    lay = scene.layout
    if lay.names:
        p.save()
        p.translate(vp.cx, vp.cy)
        p.scale(vp.R, vp.R)
        for ci in _chord_order(scene):
            _paint_chord(p, scene, ci)
        _paint_rings(p, scene, (lay.namespaces, lay.names, lay.ends))
        p.restore()
    if text:
        paint_text(p, scene, vp, w, h)


def paint_text(p: QPainter, scene: Scene, vp: Viewport, w: float, h: float) -> None:
    """Labels, legend and notes. Text is drawn in the GUI thread only: the font engines of
    some platforms (offscreen, measured here) crash when two threads draw text at once."""
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    if not scene.layout.names:
        p.setPen(QColor("#5a606b"))
        p.drawText(
            QRectF(0, 0, w, h), int(Qt.AlignmentFlag.AlignCenter), "No flows in this time range and filter"
        )
    elif scene.labels:
        _paint_labels(p, scene, vp)
    paint_legend(p, w, h, scene.note)


def render_image(scene: Scene, vp: Viewport, w: int, h: int, dpr: float = 1.0, text: bool = False) -> QImage:
    """Render the static picture into a QImage (callable from any thread when ``text`` is
    False; add the text later in the GUI thread with :func:`paint_text`)."""
    img = QImage(max(1, int(w * dpr)), max(1, int(h * dpr)), QImage.Format.Format_ARGB32_Premultiplied)
    img.setDevicePixelRatio(dpr)
    p = QPainter(img)
    try:
        paint_static(p, scene, vp, w, h, text=text)
    finally:
        p.end()
    return img


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
        paint_veil(p, vp)
        paint_overlay_chords(p, scene, vp, flows)
    paint_overlay_rings(p, scene, vp, flows, outline)


def paint_veil(p: QPainter, vp: Viewport) -> None:
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(255, 255, 255, 175))
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
        from desktopviz.core.flowgraph import namespace_label

        return namespace_label(s.namespace)
    if s.name == OTHER:
        return f"{s.namespace}: {s.merged} small names"
    return f"{s.namespace}:{s.name}"
