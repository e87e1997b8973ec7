"""Text of the Flow Visualizer's picture: label outlines made once, and a legend layout that
never overlaps the notes.

Font engines crash here when two threads draw text at once (measured on the offscreen
platform), so the render worker must not call ``drawText``. Instead the GUI thread turns
each text into a :class:`Glyph` (its outline as a QPainterPath, made once per text and kept)
and the worker fills those outlines: filling a path needs no font. Texts the worker finds no
outline for are reported back; the GUI thread makes them and draws just those, so once the
cache is warm a finished render costs the GUI thread no text work at all.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPainterPath

GlyphKey = tuple[str, int, bool]  # text, pixel size, bold
LABEL_PX = 11
LEGEND_PX = 12
CACHE_LIMIT = 6000


@dataclass(frozen=True)
class Glyph:
    """A text's outline with its baseline at y = 0 and its advance starting at x = 0."""

    path: QPainterPath
    advance: float
    ascent: float
    descent: float

    @property
    def height(self) -> float:
        return self.ascent + self.descent


class GlyphCache:
    """Outlines by (text, pixel size, bold). ``make`` runs in the GUI thread only; the worker
    reads a :meth:`snapshot` (a plain dict of immutable glyphs)."""

    def __init__(self, font: QFont | None = None) -> None:
        self._font = QFont(font) if font is not None else QFont()
        self._map: dict[GlyphKey, Glyph] = {}
        self._fonts: dict[tuple[int, bool], tuple[QFont, QFontMetricsF]] = {}

    def set_font(self, font: QFont) -> None:
        if font != self._font:
            self._font = QFont(font)
            self._map.clear()
            self._fonts.clear()

    def _font_of(self, px: int, bold: bool) -> tuple[QFont, QFontMetricsF]:
        got = self._fonts.get((px, bold))
        if got is None:
            f = QFont(self._font)
            f.setPixelSize(px)
            f.setBold(bold)
            got = self._fonts[(px, bold)] = (f, QFontMetricsF(f))
        return got

    def metrics(self, px: int = LABEL_PX) -> tuple[float, float]:
        """(average character width, line height) of the label font, for fitting labels."""
        _f, fm = self._font_of(px, False)
        return fm.averageCharWidth() * 1.05, fm.height()

    def make(self, keys: Sequence[GlyphKey]) -> int:
        """Make the outlines of these texts (GUI thread); returns how many were new."""
        new = 0
        for key in keys:
            if key in self._map:
                continue
            if len(self._map) >= CACHE_LIMIT:
                self._map.clear()
            text, px, bold = key
            font, fm = self._font_of(px, bold)
            path = QPainterPath()
            path.addText(QPointF(0, 0), font, text)
            self._map[key] = Glyph(path, fm.horizontalAdvance(text), fm.ascent(), fm.descent())
            new += 1
        return new

    def make_for(self, keys: list[GlyphKey], seconds: float | None) -> bool:
        """Make outlines from the front of ``keys`` (removing them) for about ``seconds`` (None:
        all): a picture with many new labels spreads its text over event-loop turns instead of
        one long stall. True when ``keys`` is done."""
        start = time.perf_counter()
        while keys:
            self.make(keys[:8])
            del keys[:8]
            if seconds is not None and time.perf_counter() - start >= seconds:
                break
        return not keys

    def snapshot(self) -> dict[GlyphKey, Glyph]:
        return dict(self._map)

    def __len__(self) -> int:
        return len(self._map)


def draw_glyph(
    p: QPainter,
    g: Glyph,
    x: float,
    y: float,
    colour: QColor,
    *,
    rotation: float = 0.0,
    align: str = "left",
    baseline: bool = True,
) -> None:
    """Fill a glyph at (x, y): the baseline there (``baseline``) or vertically centred, its
    left end, centre or right end there by ``align``, rotated (degrees) around that point."""
    dx = {"left": 0.0, "center": -g.advance / 2, "right": -g.advance}[align]
    dy = 0.0 if baseline else (g.ascent - g.descent) / 2
    p.save()
    p.translate(x, y)
    if rotation:
        p.rotate(rotation)
    p.translate(dx, dy)
    p.fillPath(g.path, colour)
    p.restore()


# -- the legend --------------------------------------------------------------------------------
@dataclass
class LegendPlan:
    """Where the legend and the notes go: baselines and boxes in widget pixels."""

    title: tuple[float, float] = (0.0, 0.0)
    items: list[tuple[float, float]] = field(default_factory=list)  # text baseline; swatch left of it
    notes: list[tuple[float, float]] = field(default_factory=list)
    boxes: list[QRectF] = field(default_factory=list)  # every drawn thing (tests: no overlap)


SWATCH = 11.0
ITEM_GAP = 26.0  # swatch + space + gap to the next item, beyond the text
MARGIN = 12.0
BUTTONS = (190.0, 46.0)  # the canvas's tool buttons in the top-right corner (width, height)


def legend_layout(
    w: float,
    h: float,
    line: float,
    title_w: float,
    item_ws: Sequence[float],
    note_ws: Sequence[float],
) -> LegendPlan:
    """Lay the legend out right-aligned on the bottom line(s), wrapping items to more lines
    above when the chart is narrow, and the notes at the left of the bottom line when they fit
    beside it, else one per line in the top-left corner (the chart's tool buttons are in the
    top-right one). Nothing overlaps."""
    plan = LegendPlan()
    avail = max(10.0, w - 2 * MARGIN)
    widths = [title_w + 12, *[iw + ITEM_GAP for iw in item_ws]]
    lines: list[list[int]] = [[]]
    used = 0.0
    for i, wd in enumerate(widths):
        if lines[-1] and used + wd > avail:
            lines.append([])
            used = 0.0
        lines[-1].append(i)
        used += wd
    y = h - 14
    line_w: list[float] = []
    plan.items = [(0.0, 0.0)] * len(item_ws)
    for k, idx in enumerate(reversed(lines)):  # bottom line first
        yy = y - k * line
        total = sum(widths[i] for i in idx)
        line_w.append(total)
        x = w - MARGIN - total
        for i in idx:
            if i == 0:
                plan.title = (x, yy)
                plan.boxes.append(QRectF(x, yy - line + 3, title_w, line))
            else:
                plan.items[i - 1] = (x + SWATCH + 4, yy)
                plan.boxes.append(QRectF(x, yy - line + 3, SWATCH + 4 + item_ws[i - 1], line))
            x += widths[i]
    # Notes go at the left of the legend's lines, bottom line first, where they fit beside it;
    # the rest one per line in the top-left corner (above the legend they ran into the circle).
    room = [avail - lw - 24 for lw in line_w]  # free width at the left of each line, bottom first
    xs = [MARGIN] * len(line_w)
    corner: list[int] = []
    plan.notes = [(0.0, 0.0)] * len(note_ws)
    for i, nw in enumerate(note_ws):
        k = next((k for k, r in enumerate(room) if nw <= r), None)
        if k is None:
            corner.append(i)
            continue
        yy = y - k * line
        plan.notes[i] = (xs[k], yy)
        plan.boxes.append(QRectF(xs[k], yy - line + 3, nw, line))
        xs[k] += nw + 16
        room[k] -= nw + 16
    if corner:
        widest = max(note_ws[i] for i in corner)
        top = MARGIN if MARGIN + widest <= w - BUTTONS[0] else BUTTONS[1]  # (else under the buttons)
        for k, i in enumerate(corner):
            yy = top + line - 3 + k * line
            plan.notes[i] = (MARGIN, yy)
            plan.boxes.append(QRectF(MARGIN, yy - line + 3, min(note_ws[i], avail), line))
    return plan


def legend_height(plan: LegendPlan, h: float) -> float:
    """How much of the chart's bottom the legend (and notes beside it) take."""
    top = min((b.top() for b in plan.boxes if b.top() > h / 2), default=h)
    return max(0.0, h - top)


def glyph_widths(glyphs: Mapping[GlyphKey, Glyph], keys: Sequence[GlyphKey]) -> list[float] | None:
    out = []
    for k in keys:
        g = glyphs.get(k)
        if g is None:
            return None
        out.append(g.advance)
    return out
