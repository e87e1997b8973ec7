"""The chart area of the Flow Visualizer: blits the cached picture, draws the hover/selection
overlay, turns the mouse into hits, and hosts the toolbar (labels, zoom out, zoom in, fit,
reset) in its top-right corner.

Signals:
    hovered(object): the Hit under the cursor, or None.
    clicked(object): the Hit clicked, or None (click on empty space).
    doubleClicked(object): the Hit double-clicked (zoom into it).
    zoomInRequested(), zoomOutRequested(), resetRequested(): toolbar buttons / Escape.
    viewportChanged(): wheel zoom, fit or resize; the owner re-renders at the new scale.
    labelsToggled(bool)
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QPoint, QPointF, QRectF, QRunnable, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QHBoxLayout, QToolButton, QWidget

from desktopviz.core.geometry import Hit, Segment
from desktopviz.ui.visualizer_render import (
    Scene,
    Viewport,
    paint_overlay_chords,
    paint_overlay_rings,
    paint_veil,
)
from desktopviz.ui.visualizer_style import LIGHT, ChartColours, tool_icon

EMPTY = "No flow logs yet.\nOpen a scenario or a flow database (File menu) to see its flows here."


class _ChordSignals(QObject):
    done = Signal(object, object)  # (key, QImage)


class _ChordJob(QRunnable):
    """Paints the highlighted chords into a transparent image off the GUI thread."""

    def __init__(
        self,
        key: object,
        scene: Scene,
        vp: Viewport,
        flows: set[int],
        size: tuple[int, int, float],
        sig: _ChordSignals,
    ) -> None:
        super().__init__()
        self.key, self.scene, self.vp, self.flows, self.size, self.sig = key, scene, vp, flows, size, sig

    def run(self) -> None:
        w, h, dpr = self.size
        img = QImage(max(1, int(w * dpr)), max(1, int(h * dpr)), QImage.Format.Format_ARGB32_Premultiplied)
        img.setDevicePixelRatio(dpr)
        img.fill(Qt.GlobalColor.transparent)
        p = QPainter(img)
        paint_overlay_chords(p, self.scene, self.vp, self.flows)
        p.end()
        self.sig.done.emit(self.key, img)


class ChartCanvas(QWidget):
    hovered = Signal(object)
    clicked = Signal(object)
    doubleClicked = Signal(object)
    zoomInRequested = Signal()
    zoomOutRequested = Signal()
    resetRequested = Signal()
    viewportChanged = Signal()
    labelsToggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(400, 280)  # beside the 300 px panel: fits a 1280-wide window
        self.scene: Scene | None = None
        self.colours: ChartColours = LIGHT
        self._image: QImage | None = None
        self._image_vp: Viewport | None = None
        self._overlay: QImage | None = None
        self._overlay_key: object = None
        self._chords: QImage | None = None
        self._chords_key: object = None
        self._chords_wanted: object = None
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._chord_signals = _ChordSignals(self)
        self._chord_signals.done.connect(self._chords_done)
        self.zoom = 1.0
        self.pan = (0.0, 0.0)
        self.labels = True
        self.hover: Hit | None = None
        self.selected: list[Segment] = []
        self.selected_flows: set[int] = set()
        self._cursor = QPointF()
        self.tooltip_text = ""
        self.empty_text = EMPTY
        bar = QWidget(self)
        lay = QHBoxLayout(bar)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        self.buttons: dict[str, QToolButton] = {}
        for kind, tip in (
            ("labels", "Show or hide labels"),
            ("zoom_out", "Zoom out (Esc)"),
            ("zoom_in", "Zoom into the selection (double-click)"),
            ("fit", "Fit the circle to the window"),
            ("reset", "Reset: clear selection, zoom and order"),
        ):
            b = QToolButton(bar)
            b.setIcon(tool_icon(kind))
            b.setIconSize(QSize(20, 20))
            b.setToolTip(tip)
            b.setAutoRaise(False)
            lay.addWidget(b)
            self.buttons[kind] = b
        self.buttons["labels"].setCheckable(True)
        self.buttons["labels"].setChecked(True)
        self.buttons["labels"].toggled.connect(self._toggle_labels)
        self.buttons["zoom_out"].clicked.connect(self.zoomOutRequested)
        self.buttons["zoom_in"].clicked.connect(self.zoomInRequested)
        self.buttons["fit"].clicked.connect(self.fit)
        self.buttons["reset"].clicked.connect(self.resetRequested)
        self._bar = bar
        bar.adjustSize()

    # -- state from the owner --------------------------------------------------------------------
    def viewport(self) -> Viewport:
        return Viewport.fit(self.width(), self.height(), self.labels, self.zoom, self.pan)

    def set_picture(self, image: QImage, scene: Scene, vp: Viewport) -> None:
        self._image, self._image_vp, self.scene = image, vp, scene
        self._overlay_key = None
        if self.hover is not None:  # the old hit's indices belong to the old layout
            self.hover = None
            self.hovered.emit(None)
        self.update()

    def set_colours(self, colours: ChartColours) -> None:
        """Chart colours from the palette (background until the next picture, veil, icons)."""
        self.colours = colours
        for kind, b in self.buttons.items():
            b.setIcon(tool_icon(kind, self.palette().color(self.palette().ColorRole.ButtonText)))
        self._overlay_key = None
        self.update()

    def set_selection(self, segments: list[Segment], flows: set[int]) -> None:
        self.selected, self.selected_flows = segments, flows
        self._overlay_key = None
        self.update()

    def fit(self) -> None:
        self.zoom, self.pan = 1.0, (0.0, 0.0)
        self.viewportChanged.emit()
        self.update()

    def _toggle_labels(self, on: bool) -> None:
        self.labels = on
        self.labelsToggled.emit(on)
        self.viewportChanged.emit()

    # -- hits --------------------------------------------------------------------------------
    def hit_at(self, pos: QPointF | QPoint) -> Hit | None:
        if self.scene is None:
            return None
        x, y = self.viewport().to_unit(pos.x(), pos.y())
        return self.scene.layout.hit_test(x, y)

    def unit_to_widget(self, x: float, y: float) -> QPoint:
        px, py = self.viewport().to_px(x, y)
        return QPoint(round(px), round(py))

    @staticmethod
    def _same(a: Hit | None, b: Hit | None) -> bool:
        return (a is None and b is None) or (
            a is not None and b is not None and (a.kind, a.index) == (b.kind, b.index)
        )

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        self._cursor = event.position()
        hit = self.hit_at(event.position())
        if not self._same(hit, self.hover):
            self.hover = hit
            self._overlay_key = None
            self.hovered.emit(hit)
            self.update()
        elif hit is not None:  # the tooltip follows the cursor
            self.update()

    def leaveEvent(self, event: object) -> None:
        if self.hover is not None:
            self.hover = None
            self._overlay_key = None
            self.hovered.emit(None)
            self.update()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(self.hit_at(event.position()))

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        hit = self.hit_at(event.position())
        if hit is not None:
            self.doubleClicked.emit(hit)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.zoomOutRequested.emit()
        else:
            super().keyPressEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        """Zoom multiplicatively around the cursor: the point under it stays put."""
        steps = event.angleDelta().y() / 120
        if not steps:
            return
        vp = self.viewport()
        ux, uy = vp.to_unit(event.position().x(), event.position().y())
        self.zoom = min(40.0, max(0.3, self.zoom * 1.2**steps))
        nvp = self.viewport()
        nx, ny = nvp.to_px(ux, uy)
        self.pan = (self.pan[0] + event.position().x() - nx, self.pan[1] + event.position().y() - ny)
        self._overlay_key = None
        self.viewportChanged.emit()
        self.update()

    def resizeEvent(self, event: QResizeEvent) -> None:
        self._bar.move(self.width() - self._bar.width() - 10, 10)
        self._overlay_key = None
        self.viewportChanged.emit()
        super().resizeEvent(event)

    # -- painting ----------------------------------------------------------------------------
    def shutdown(self) -> None:
        self._pool.clear()
        self._pool.waitForDone()

    def _highlight(self) -> tuple[set[int], list[Segment]]:
        flows = set(self.hover.flows) if self.hover else set(self.selected_flows)
        outline = list(self.selected)
        if self.hover is not None and self.scene is not None:
            lay = self.scene.layout
            ring = {"namespace": lay.namespaces, "name": lay.names, "flow": lay.ends}.get(self.hover.kind)
            if ring is not None and self.hover.index < len(ring):
                outline.append(ring[self.hover.index])
        return flows, outline

    def _overlay_image(self, vp: Viewport, flows: set[int], outline: list[Segment]) -> QImage | None:
        """One overlay image per hover/selection: the veil, the highlighted chords once the
        worker has painted them, the ring segments and outlines; a frame then blits it."""
        if self.scene is None or (not flows and not outline):
            return None
        chords = self._chord_layer(vp, flows)
        key = (
            id(self.scene),
            vp.cx,
            vp.cy,
            vp.R,
            tuple(sorted(flows)),
            tuple(id(s) for s in outline),
            chords is not None,
        )
        if key != self._overlay_key or self._overlay is None:
            dpr = self.devicePixelRatioF()
            img = QImage(
                int(self.width() * dpr), int(self.height() * dpr), QImage.Format.Format_ARGB32_Premultiplied
            )
            img.setDevicePixelRatio(dpr)
            img.fill(Qt.GlobalColor.transparent)
            p = QPainter(img)
            if flows:
                paint_veil(p, vp, self.colours.veil)
                if chords is not None:
                    p.drawImage(0, 0, chords)
            paint_overlay_rings(p, self.scene, vp, flows, outline)
            p.end()
            self._overlay, self._overlay_key = img, key
        return self._overlay

    def _chord_layer(self, vp: Viewport, flows: set[int]) -> QImage | None:
        if self.scene is None or not flows:
            return None
        key = (id(self.scene), vp.cx, vp.cy, vp.R, tuple(sorted(flows)))
        if key == self._chords_key:
            return self._chords
        if key != self._chords_wanted:
            self._chords_wanted = key
            self._pool.clear()  # drop highlights nobody waits for any more
            size = (self.width(), self.height(), self.devicePixelRatioF())
            self._pool.start(_ChordJob(key, self.scene, vp, set(flows), size, self._chord_signals))
        return None

    def _chords_done(self, key: object, img: QImage) -> None:
        if key == self._chords_wanted:
            self._chords, self._chords_key = img, key
            self.update()

    def picture_fits(self) -> bool:
        """Whether the picture on screen was painted for the canvas's current size and zoom
        (not stretched while the worker paints the new one)."""
        vp, old = self.viewport(), self._image_vp
        return self._image is not None and old is not None and (old.cx, old.cy, old.R) == (vp.cx, vp.cy, vp.R)

    def chords_ready(self) -> bool:
        """Whether the highlighted chords of the current hover/selection are on screen."""
        flows, _ = self._highlight()
        return not flows or self._chords_key == self._chords_wanted

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), self.colours.background)
        vp = self.viewport()
        if self._image is None and self.empty_text:  # nothing to show yet: say why
            p.setPen(self.colours.muted)
            p.drawText(
                self.rect(), int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap), self.empty_text
            )
        if self._image is not None and self._image_vp is not None:
            old = self._image_vp
            if (old.cx, old.cy, old.R) == (vp.cx, vp.cy, vp.R):
                p.drawImage(0, 0, self._image)
            else:  # stretched until the worker delivers the picture at the new scale
                s = vp.R / old.R
                p.save()
                p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
                p.translate(vp.cx - old.cx * s, vp.cy - old.cy * s)
                p.scale(s, s)
                p.drawImage(0, 0, self._image)
                p.restore()
        flows, outline = self._highlight()
        overlay = self._overlay_image(vp, flows, outline)
        if overlay is not None:
            p.drawImage(0, 0, overlay)
        if self.hover is not None and self.tooltip_text:
            self._paint_tooltip(p)
        p.end()

    def _paint_tooltip(self, p: QPainter) -> None:
        font = QFont(self.font())
        font.setPixelSize(12)
        p.setFont(font)
        fm = QFontMetricsF(font)
        lines = self.tooltip_text.split("\n")
        w = max(fm.horizontalAdvance(t) for t in lines) + 16
        h = fm.height() * len(lines) + 10
        x = min(self._cursor.x() + 16, self.width() - w - 4)
        y = min(self._cursor.y() + 16, self.height() - h - 4)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        pal = self.palette()
        bg = QColor(pal.color(pal.ColorRole.ToolTipBase))
        bg.setAlpha(240)
        p.setPen(QColor(pal.color(pal.ColorRole.Mid)))
        p.setBrush(bg)
        p.drawRoundedRect(QRectF(x, y, w, h), 4, 4)
        p.setPen(pal.color(pal.ColorRole.ToolTipText))
        for i, t in enumerate(lines):
            p.drawText(QPointF(x + 8, y + 5 + fm.ascent() + i * fm.height()), t)
