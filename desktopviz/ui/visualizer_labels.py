"""Text of the Flow Visualizer's picture: ring labels, legend and notes, filled from label
outlines (:mod:`desktopviz.ui.visualizer_text`) so any thread can draw them, and
:func:`render_image`, the whole picture as the worker makes it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPen

from desktopviz.core.geometry import Label, Segment, fit_labels
from desktopviz.ui.visualizer_render import Scene, Viewport, hatch, paint_overlay, paint_static, text_colour
from desktopviz.ui.visualizer_style import HATCHED, STATUS_COLOURS, STATUS_NAMES
from desktopviz.ui.visualizer_text import (
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


def _label_groups(scene: Scene, vp: Viewport) -> list[tuple[list[GlyphKey], Label | str]]:
    char_px, line_px = scene.metrics
    out: list[tuple[list[GlyphKey], Label | str]] = []
    for lb in fit_labels(scene.layout, vp.R, char_px=char_px, line_px=line_px, max_chars=24):
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
        groups.extend(_label_groups(scene, vp))
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
