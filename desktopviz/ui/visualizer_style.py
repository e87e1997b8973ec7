"""Colours of the Flow Visualizer: status colours, a palette for namespaces and names.

Status colours are chosen to stay apart for deuteranopes too: a blue-ish green for allowed
and vermillion for denied (Okabe-Ito), a light pink for "denied by remote" (much lighter
than vermillion, so luminance tells them apart as well) and grey for unknown; denied ring
segments also carry a hatch pattern. Namespaces and names take Okabe-Ito colours first, then
Tableau 10, then golden-angle hues; a key keeps its colour for the life of the widget.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPalette, QPen, QPixmap

STATUS_COLOURS: dict[str, QColor] = {
    "allowed": QColor("#3fae8a"),
    "denied": QColor("#d55e00"),
    "denied_remote": QColor("#f2a7c3"),
    "unknown": QColor("#9a9a9a"),
    "uncertain": QColor("#b4b4b4"),
    "other": QColor("#d6d6d6"),
}
STATUS_NAMES = {
    "allowed": "Allowed",
    "denied": "Denied",
    "denied_remote": "Denied by remote",
    "unknown": "Unknown",
    "uncertain": "Uncertain",
}
CHORD_STATUS: dict[str, QColor] = {
    "allowed": QColor(0, 158, 115, 150),
    "denied": QColor(213, 94, 0, 230),
    "unknown": QColor(120, 120, 120, 140),
    "uncertain": QColor(150, 150, 150, 150),
}
HATCHED = frozenset({"denied", "denied_remote", "uncertain"})  # ring ends drawn with a hatch
NAME_RING = QColor("#cfcfcf")
RING_EDGE = QColor(255, 255, 255, 200)
SELECTION = QColor("#2f7fd8")
GLOBAL_COLOUR = QColor("#7b6fb0")

OKABE_ITO = ["#e69f00", "#56b4e9", "#009e73", "#0072b2", "#d55e00", "#cc79a7", "#f0e442"]
TABLEAU_10 = [
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
]


def palette_colour(i: int) -> QColor:
    """The i-th colour: Okabe-Ito, Tableau 10, then golden-angle hues at two lightness levels."""
    fixed = OKABE_ITO + TABLEAU_10
    if i < len(fixed):
        return QColor(fixed[i])
    j = i - len(fixed)
    hue = (j * 137.508 + 20) % 360
    return QColor.fromHsl(int(hue), 150 + (j % 3) * 30, 120 if j % 2 else 150)


class ColourBook:
    """Stable colours per key, handed out in the order keys are first asked for."""

    def __init__(self, fixed: dict[Hashable, QColor] | None = None) -> None:
        self._map: dict[Hashable, QColor] = dict(fixed or {})
        self._next = 0

    def __call__(self, key: Hashable) -> QColor:
        c = self._map.get(key)
        if c is None:
            c = self._map[key] = palette_colour(self._next)
            self._next += 1
        return c

    def snapshot(self) -> dict[Hashable, QColor]:
        return dict(self._map)


@dataclass(frozen=True)
class ChartColours:
    """Colours of the chart that follow the widget palette (light or dark)."""

    background: QColor
    text: QColor
    muted: QColor
    name_ring: QColor
    veil: QColor
    emphasis: QColor  # outline of flows a what-if changes

    @property
    def dark(self) -> bool:
        return self.background.lightnessF() < 0.5

    @classmethod
    def from_palette(cls, pal: QPalette) -> ChartColours:
        bg = QColor(pal.color(QPalette.ColorRole.Base))
        text = QColor(pal.color(QPalette.ColorRole.Text))
        dark = bg.lightnessF() < 0.5
        muted = QColor(text)
        muted.setAlphaF(0.72)
        veil = QColor(bg)
        veil.setAlpha(175)
        return cls(
            background=bg,
            text=text,
            muted=muted,
            name_ring=QColor("#5d636c") if dark else NAME_RING,
            veil=veil,
            emphasis=QColor("#ffffff") if dark else QColor("#1d2025"),
        )


LIGHT = ChartColours(
    QColor("#ffffff"),
    QColor("#1d2025"),
    QColor("#5a606b"),
    NAME_RING,
    QColor(255, 255, 255, 175),
    QColor("#1d2025"),
)


def tool_icon(kind: str, colour: QColor | None = None) -> QIcon:
    """The chart's tool buttons: labels, zoom in and out, fit, reset (painted in `colour`)."""
    ink = QColor(colour) if colour is not None else QColor("#34495e")
    pm = QPixmap(32, 32)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    pen = QPen(ink, 3)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    p.setPen(pen)
    if kind in ("zoom_in", "zoom_out"):
        p.drawEllipse(QPointF(13, 13), 8, 8)
        p.drawLine(QPointF(19, 19), QPointF(27, 27))
        p.drawLine(QPointF(9, 13), QPointF(17, 13))
        if kind == "zoom_in":
            p.drawLine(QPointF(13, 9), QPointF(13, 17))
    elif kind == "fit":
        for sx, sy in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
            cx, cy = 16 + sx * 10, 16 + sy * 10
            p.drawLine(QPointF(cx, cy), QPointF(cx - sx * 6, cy))
            p.drawLine(QPointF(cx, cy), QPointF(cx, cy - sy * 6))
    elif kind == "reset":
        p.drawArc(QRectF(6, 6, 20, 20), 60 * 16, 290 * 16)
        p.setBrush(ink)
        p.drawPolygon([QPointF(22, 3), QPointF(27, 10), QPointF(19, 11)])
    elif kind == "labels":
        p.setBrush(ink)
        p.drawPolygon([QPointF(5, 5), QPointF(17, 5), QPointF(28, 16), QPointF(17, 27), QPointF(5, 15)])
        p.setBrush(QColor("white"))
        p.setPen(Qt.PenStyle.NoPen)
        p.drawEllipse(QPointF(11, 11), 2.5, 2.5)
    p.end()
    return QIcon(pm)
