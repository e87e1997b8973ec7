"""Text of the Flow Visualizer's picture: ring labels, legend and notes, filled from label
outlines (:mod:`desktopviz.ui.visualizer_text`) so any thread can draw them, and
:func:`render_image`, the whole picture as the worker makes it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPen

from desktopviz.core.geometry import Label, Segment, fit_labels
from desktopviz.ui.visualizer_render import Scene, Viewport, hatch, paint_overlay, paint_static, text_colour
from desktopviz.ui.visualizer_style import HATCHED, STATUS_COLOURS, STATUS_NAMES
from desktopviz.ui.visualizer_text import (
    BUTTONS,
    LABEL_PX,
    LEGEND_PX,
    SWATCH,
    Glyph,
    GlyphCache,
    GlyphKey,
    draw_glyph,
    glyph_widths,
    legend_layout,
)


def legend_items(scene: Scene) -> list[tuple[str, str]]:
    """(status key or "changed", text) of the legend, in order."""
    keys = ["allowed", "denied", "denied_remote", "unknown"]
    if scene.preview:
        keys.append("uncertain")
    out = [(k, STATUS_NAMES[k]) for k in keys]
    if scene.preview:
        out.append(("changed", "Changed"))
    return out


MAX_LABEL_CHARS = 48
EDGE = 6.0  # labels end this far from the chart's edges
PAD = 7.0  # the text's half height: a rotated name keeps this far from a box
WIDE = 1.15  # names are mostly hex digits, wider than the font's average character


Box = tuple[float, float, float, float]  # left, top, right, bottom


def _ray_room(x: float, y: float, ux: float, uy: float, w: float, h: float, boxes: list[Box]) -> float:
    """How far (px) a label starting at (x, y) may run along (ux, uy) inside the chart: up to
    its edges less EDGE, and short of the boxes (tool buttons, legend, notes)."""
    t = float("inf")
    if ux > 1e-9:
        t = min(t, (w - EDGE - x) / ux)
    elif ux < -1e-9:
        t = min(t, (EDGE - x) / ux)
    if uy > 1e-9:
        t = min(t, (h - EDGE - y) / uy)
    elif uy < -1e-9:
        t = min(t, (EDGE - y) / uy)
    for box in boxes:  # where the ray enters the box, grown by half a line (slab method)
        left, top, right, bottom = box[0] - PAD, box[1] - PAD, box[2] + PAD, box[3] + PAD
        lo, hi = 0.0, t
        for p0, d, a, b in ((x, ux, left, right), (y, uy, top, bottom)):
            if abs(d) < 1e-9:
                if not a <= p0 <= b:
                    lo, hi = 1.0, 0.0
                    break
            else:
                t0, t1 = sorted(((a - p0) / d, (b - p0) / d))
                lo, hi = max(lo, t0), min(hi, t1)
        if lo <= hi:
            t = min(t, lo)
    return max(0.0, t)


def obstacles(scene: Scene, w: float, h: float) -> list[Box]:
    """Boxes the labels keep out of: the canvas's tool buttons (top right), the legend and the
    notes where :func:`legend_layout` puts them, their widths estimated from the label font
    with room to spare (the worker lays the labels out before it has the legend's glyphs)."""
    char_px, line_px = scene.metrics
    est = char_px * WIDE * LEGEND_PX / LABEL_PX
    bw, bh = BUTTONS
    boxes: list[Box] = [(w - bw, 0.0, w, bh)]
    for f in (1.0, 0.8):  # where the texts go if they are as wide as estimated, or narrower
        items = [len(t) * est * f for _k, t in legend_items(scene)]
        notes = [len(n) * est * f for n in scene.note.split("; ") if n]
        plan = legend_layout(w, h, line_px * LEGEND_PX / LABEL_PX + 4, 8 * est * f, items, notes)
        boxes.extend((b.left(), b.top(), b.right(), b.bottom()) for b in plan.boxes)
    return boxes


def _label_groups(scene: Scene, vp: Viewport, w: float, h: float) -> list[tuple[list[GlyphKey], Label | str]]:
    """The ring labels: names run outwards as far as the chart has room for them (cut with …),
    never under the legend or the tool buttons; a name with room for fewer than 4 characters
    is left to its tooltip."""
    char_px, line_px = scene.metrics
    boxes = obstacles(scene, w, h)
    out: list[tuple[list[GlyphKey], Label | str]] = []
    for lb in fit_labels(scene.layout, vp.R, char_px=char_px, line_px=line_px, max_chars=MAX_LABEL_CHARS):
        if lb.kind == "name":
            norm = math.hypot(lb.x, lb.y) or 1.0
            x, y = vp.to_px(lb.x, lb.y)
            room = int(_ray_room(x, y, lb.x / norm, lb.y / norm, w, h, boxes) / (char_px * WIDE))
            if room < 4:
                continue
            if len(lb.text) > room:
                lb = replace(lb, text=lb.text[: room - 1] + "…")
        out.append(([(lb.text, LABEL_PX, False)], lb))
    return out


def _paint_label(p: QPainter, scene: Scene, vp: Viewport, g: Glyph, lb: Label) -> None:
    x, y = vp.to_px(lb.x, lb.y)
    if lb.kind == "namespace":
        bg = (
            scene.colours.name_ring
            if scene.view == "status"
            else scene.ns_colour.get(lb.namespace, QColor("#888"))
        )
        colour = text_colour(bg)
    else:
        colour = scene.colours.text
    draw_glyph(p, g, x, y, colour, rotation=lb.rotation, align=lb.align, baseline=False)


def _paint_swatch(p: QPainter, scene: Scene, key: str, x: float, y: float) -> None:
    r = QRectF(x, y - 10, SWATCH, SWATCH)
    if key == "changed":
        pen = QPen(scene.colours.emphasis, 2.0)
        p.setPen(pen)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(r.adjusted(1, 1, -1, -1))
        return
    colour = STATUS_COLOURS[key]
    p.fillRect(r, colour)
    if key in HATCHED:
        p.fillRect(
            r,
            hatch(scene.colours)
            if key == "uncertain"
            else QBrush(QColor(0, 0, 0, 70), Qt.BrushStyle.BDiagPattern),
        )


def paint_text(
    p: QPainter,
    scene: Scene,
    vp: Viewport,
    w: float,
    h: float,
    glyphs: Mapping[GlyphKey, Glyph],
    only: set[GlyphKey] | None = None,
) -> list[GlyphKey]:
    """Labels, legend and notes from ready outlines; returns the keys of the groups it could
    not draw for want of an outline (with ``only``: draw just the groups holding those keys).
    Needs no font engine: callable from any thread."""
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    cols = scene.colours
    missing: list[GlyphKey] = []
    groups: list[tuple[list[GlyphKey], Label | str]] = []
    if not scene.layout.names:
        groups.append(([(scene.empty, LEGEND_PX, False)], "empty"))
    elif scene.labels:
        groups.extend(_label_groups(scene, vp, w, h))
    items = legend_items(scene)
    title = ("Legend:", LEGEND_PX, True)
    item_keys = [(t, LEGEND_PX, False) for _, t in items]
    note_keys = [(n, LEGEND_PX, False) for n in scene.note.split("; ") if n]
    groups.append(([title, *item_keys, *note_keys], "legend"))
    for keys, what in groups:
        if only is not None and not only.intersection(keys):
            continue
        if any(k not in glyphs for k in keys):
            missing.extend(keys)
            continue
        if what == "empty":
            g = glyphs[keys[0]]
            draw_glyph(p, g, w / 2, h / 2, cols.muted, align="center", baseline=False)
        elif what == "legend":
            _paint_legend(p, scene, w, h, glyphs, title, item_keys, note_keys, items)
        elif isinstance(what, Label):
            _paint_label(p, scene, vp, glyphs[keys[0]], what)
    return missing


def _paint_legend(
    p: QPainter,
    scene: Scene,
    w: float,
    h: float,
    glyphs: Mapping[GlyphKey, Glyph],
    title: GlyphKey,
    item_keys: list[GlyphKey],
    note_keys: list[GlyphKey],
    items: list[tuple[str, str]],
) -> None:
    iw = glyph_widths(glyphs, item_keys) or []
    nw = glyph_widths(glyphs, note_keys) or []
    line = glyphs[title].height + 4
    plan = legend_layout(w, h, line, glyphs[title].advance, iw, nw)
    cols = scene.colours
    draw_glyph(p, glyphs[title], *plan.title, cols.text)
    for (key, _t), k, (x, y) in zip(items, item_keys, plan.items, strict=True):
        _paint_swatch(p, scene, key, x - SWATCH - 4, y)
        draw_glyph(p, glyphs[k], x, y, cols.text)
    for k, (x, y) in zip(note_keys, plan.notes, strict=True):
        draw_glyph(p, glyphs[k], x, y, cols.muted)


def render_image(
    scene: Scene,
    vp: Viewport,
    w: int,
    h: int,
    dpr: float = 1.0,
    glyphs: Mapping[GlyphKey, Glyph] | None = None,
) -> tuple[QImage, list[GlyphKey]]:
    """Render the picture into a QImage (any thread): the text whose outlines are in
    ``glyphs``, and the keys of the text left out (draw it later with :func:`paint_text`)."""
    # opaque (the background is filled): the canvas blits it without blending
    img = QImage(max(1, int(w * dpr)), max(1, int(h * dpr)), QImage.Format.Format_RGB32)
    img.setDevicePixelRatio(dpr)
    p = QPainter(img)
    try:
        paint_static(p, scene, vp, w, h)
        missing = paint_text(p, scene, vp, w, h, glyphs) if glyphs is not None else []
    finally:
        p.end()
    return img, missing


def paint_text_now(p: QPainter, scene: Scene, vp: Viewport, w: float, h: float, cache: GlyphCache) -> None:
    """All the text, in the GUI thread: outlines not made yet are made here first."""
    missing = paint_text(p, scene, vp, w, h, cache.snapshot())
    if missing:
        cache.make(missing)
        paint_text(p, scene, vp, w, h, cache.snapshot(), set(missing))


def export_picture(
    path: Path,
    scene: Scene,
    vp: Viewport,
    size: tuple[int, int],
    flows: set[int],
    outline: list[Segment],
    cache: GlyphCache,
) -> None:
    """Save the picture with a highlight as PNG or SVG (GUI thread)."""
    w, h = size
    if path.suffix.lower() == ".svg":
        from PySide6.QtSvg import QSvgGenerator

        gen = QSvgGenerator()
        gen.setFileName(str(path))
        gen.setSize(QSize(w, h))
        gen.setViewBox(QRectF(0, 0, w, h))
        gen.setTitle("desktopviz Flow Visualizer")
        p = QPainter(gen)
        paint_static(p, scene, vp, w, h)
        paint_text_now(p, scene, vp, w, h, cache)
        if outline or flows:
            paint_overlay(p, scene, vp, flows, outline)
        p.end()
        return
    img, _missing = render_image(scene, vp, w, h)
    p = QPainter(img)
    paint_text_now(p, scene, vp, w, h, cache)
    if outline or flows:
        paint_overlay(p, scene, vp, flows, outline)
    p.end()
    if not img.save(str(path)):
        raise OSError(f"{path}: could not write the image")
