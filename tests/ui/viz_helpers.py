"""Helpers shared by the Flow Visualizer's UI tests (waiting for a picture, moving the mouse)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from desktopviz.ui.visualizer import FlowVisualizer


def wait_rendered(qtbot, w: FlowVisualizer) -> None:  # noqa: ANN001
    """Until the visualizer has a laid-out picture and no work pending."""
    qtbot.waitUntil(lambda: w.is_idle() and w.current_layout() is not None, timeout=30000)


def mouse_move(w: FlowVisualizer, pos: QPoint | QPointF) -> None:
    """A mouse move (no button) over the visualizer's canvas at `pos` (canvas coordinates)."""
    c = w.canvas
    ev = QMouseEvent(
        QEvent.Type.MouseMove,
        QPointF(pos),
        QPointF(c.mapToGlobal(pos)),
        Qt.MouseButton.NoButton,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(c, ev)
