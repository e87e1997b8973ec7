"""Pictures of widgets: PNG through QWidget.grab(), SVG through QSvgGenerator.

Shared by the main window's *Export screenshot…* and `desktopviz screenshot`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPoint, QRect, QSize
from PySide6.QtGui import QPainter, QRegion
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QWidget

FORMATS = ("png", "svg")


class SnapshotError(Exception):
    """A picture could not be written (bad suffix, unwritable file)."""


def picture_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise SnapshotError(f"{path}: unsupported picture format {suffix or '(none)'!r}; use .png or .svg")
    return suffix


def save_widget(widget: QWidget, path: str | Path, title: str = "desktopviz") -> Path:
    """Write a picture of `widget` (and its children) to `path` (.png or .svg)."""
    out = Path(path)
    fmt = picture_format(out)
    if out.parent and not out.parent.exists():
        raise SnapshotError(f"{out}: folder {out.parent} does not exist")
    if fmt == "png":
        pixmap = widget.grab()
        if pixmap.isNull() or not pixmap.save(str(out), "PNG"):
            raise SnapshotError(f"{out}: could not write the PNG picture")
        return out
    size: QSize = widget.size()
    generator = QSvgGenerator()
    generator.setFileName(str(out))
    generator.setSize(size)
    generator.setViewBox(QRect(0, 0, size.width(), size.height()))
    generator.setTitle(title)
    generator.setDescription("Exported by desktopviz")
    painter = QPainter()
    if not painter.begin(generator):
        raise SnapshotError(f"{out}: could not write the SVG picture")
    try:
        flags = QWidget.RenderFlag.DrawWindowBackground | QWidget.RenderFlag.DrawChildren
        widget.render(painter, QPoint(0, 0), QRegion(), flags)
    finally:
        painter.end()
    if not out.exists() or out.stat().st_size == 0:
        raise SnapshotError(f"{out}: could not write the SVG picture")
    return out
