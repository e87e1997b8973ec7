"""Policy cards and tier columns of the Policy Board's columns view (painted, not composed of
labels, so a 300-policy board stays light): name, STAGED badge, kind icon, scope, endpoint
count (red when zero) and the metric lines the eye menu turns on."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QMimeData, QPoint, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QDrag,
    QEnterEvent,
    QFont,
    QFontMetrics,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QPixmap,
)
from PySide6.QtWidgets import QApplication, QSizePolicy, QWidget

from desktopviz.core.board import BoardPolicy, metric_value, nbytes, packets
from desktopviz.core.queries import HitMetrics
from desktopviz.ui.policy_board_style import (
    DENIED,
    HIGHLIGHT,
    METRIC_COLOURS,
    METRIC_LABELS,
    STAGED,
    compact,
    draw_eye,
    draw_folder,
    draw_kind_icon,
    draw_pencil,
    human_bytes,
    muted,
    rate,
    zero_background,
)

CARD_WIDTH = 236  # two tier columns fit the 560 px board dock whole
LINE = 20
HEAD = 26
PAD = 8
NO_POLICY_KEY = "__no_policy_traffic__"
POLICY_MIME = "application/x-desktopviz-policy"  # a dragged card: its policy key
# Qt's enums looked up once (each attribute access goes through Python's enum machinery).
ALIGN_LEFT = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft
ALIGN_RIGHT = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight
TRANSPARENT = QColor(0, 0, 0, 0)


def card_tooltip(bp: BoardPolicy, hm: HitMetrics | None, span: float) -> str:
    lines = [f"<b>{bp.key}</b>", f"{bp.kind} policy, tier {bp.tier}, order {bp.order_text}"]
    if bp.staged:
        lines.append("<i>Staged: metrics are what it would do if enforced (pending traces).</i>")
    if bp.endpoints is not None:
        lines.append(f"Selects {bp.endpoints} endpoint{'s' if bp.endpoints != 1 else ''}")
    if hm is not None and hm.total.logs:
        for name, t in (("allowed", hm.allowed), ("denied", hm.denied), ("passed", hm.passed)):
            if t.logs:
                per = f", {rate(packets(t) / span)} packets/s" if span > 0 else ""
                lines.append(
                    f"{METRIC_LABELS[name]}: {packets(t):,} packets ({human_bytes(nbytes(t))}), "
                    f"{t.connections:,} connections{per}"
                )
    elif hm is not None:
        lines.append("No traffic in the time range")
    return "<br>".join(lines)


class PolicyCard(QWidget):
    """One policy on the board.

    Signals:
        clicked(str): the card (its name) was clicked: the policy's trace name.
        openRequested(str): the eye icon was clicked or the card double-clicked.
        editRequested(str): the pencil icon was clicked (editable cards only).
    """

    clicked = Signal(str)
    openRequested = Signal(str)
    editRequested = Signal(str)

    def __init__(self, bp: BoardPolicy, parent: QWidget | None = None, *, pseudo: bool = False) -> None:
        super().__init__(parent)
        self.bp = bp
        self.pseudo = pseudo
        self.metrics: HitMetrics | None = None
        self.span = 0.0
        self.shown: tuple[str, ...] = ("namespace", "endpoints")
        self.highlight: int | None = None
        self.selected = False
        self.hovered = False  # under the mouse: a tinted border says the card is clickable
        self.editable = False  # shows the pencil
        self.draggable = False  # may be dragged to another place (board decides)
        self._press: QPoint | None = None
        self._picture: QPixmap | None = None
        self._picture_key: tuple[object, ...] = ()
        self._size_hint: QSize | None = None
        self._tip_stale = True  # the tooltip is written when the mouse comes over the card
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumWidth(CARD_WIDTH - 20)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setObjectName(f"card:{bp.key}")

    # -- state -------------------------------------------------------------------------
    def set_shown(self, shown: tuple[str, ...]) -> None:
        if shown != self.shown:
            self.shown = shown
            self._size_hint = None
            self.updateGeometry()
            self.setFixedHeight(self.sizeHint().height())
            self.update()

    def set_metrics(self, hm: HitMetrics | None, span: float) -> None:
        if hm == self.metrics and span == self.span:
            return  # unchanged (most cards on most live refreshes): no repaint
        old = self._figures()
        self.metrics, self.span = hm, span
        self._tip_stale = True  # written when the mouse comes over it (not for every card per refresh)
        if self.hovered:
            self._write_tip()
        if self._figures() != old:  # repainted only when a figure it shows reads differently
            self.update()

    def _write_tip(self) -> None:
        self._tip_stale = False
        self.setToolTip(card_tooltip(self.bp, self.metrics, self.span))

    def set_highlight(self, rank: int | None) -> None:
        if rank != self.highlight:
            self.highlight = rank
            self.update()

    def set_selected(self, on: bool) -> None:
        if on != self.selected:
            self.selected = on
            self.update()

    def value(self, metric: str) -> int:
        return 0 if self.metrics is None else metric_value(self.metrics, metric)

    def lines(self) -> list[str]:
        out = [m for m in self.shown if m in ("namespace", "endpoints") and not self.pseudo]
        return out + [m for m in self.shown if m in METRIC_LABELS]

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        """Kept until the shown lines change: layouts ask for it often while a board is built."""
        if self._size_hint is None:
            self._size_hint = QSize(CARD_WIDTH, HEAD + LINE * len(self.lines()) + 6)
        return self._size_hint

    def eye_rect(self) -> QRectF:
        return QRectF(self.width() - PAD - 20, 5, 20, 16)

    def pencil_rect(self) -> QRectF:
        return QRectF(self.width() - PAD - 42, 5, 16, 16)

    def set_editable(self, editable: bool, draggable: bool) -> None:
        self.editable = editable and not self.pseudo
        self.draggable = draggable and self.editable
        self.update()

    @property
    def zero_endpoints(self) -> bool:
        return not self.pseudo and self.bp.endpoints == 0

    # -- painting ----------------------------------------------------------------------
    def _figure(self, line: str) -> tuple[str, str]:
        """A metric line's figure and rate as shown ("" for a zero or missing one, no rate
        without a span)."""
        v = self.value(line)
        if self.metrics is None or v == 0:
            return "", ""
        unit = "" if line == "connections" else " pkts"
        return compact(v) + unit, f"{rate(v / self.span)}/s" if self.span > 0 else ""

    def _figures(self) -> tuple[tuple[str, str], ...]:
        """The shown metric lines' texts: the picture changes only when these read differently
        (a live refresh moves the figures and the span of nearly every card, their text rarely)."""
        return tuple(self._figure(m) for m in self.shown if m in METRIC_LABELS)

    def _paint_key(self) -> tuple[object, ...]:
        """Everything the card's picture depends on."""
        pal = self.palette()
        return (
            self.width(), self.height(), self.devicePixelRatioF(), self._figures(), self.shown,
            self.highlight, self.selected, self.hovered, self.editable, self.bp, pal.cacheKey(),
            self.font().key(),
        )  # fmt: skip

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        """Paint from the cached picture; draw it again only when something it shows changed.
        A live refresh repaints the cards whose figures moved, and the cards around them are
        exposed again (their column is repainted beneath): ~1 ms of Python each otherwise."""
        key = self._paint_key()
        if self._picture is None or self._picture_key != key:
            dpr = self.devicePixelRatioF()
            pm = QPixmap(max(1, round(self.width() * dpr)), max(1, round(self.height() * dpr)))
            pm.setDevicePixelRatio(dpr)
            pm.fill(TRANSPARENT)
            painter = QPainter(pm)
            self._render(painter)
            painter.end()
            self._picture, self._picture_key = pm, key
        p = QPainter(self)
        p.drawPixmap(0, 0, self._picture)
        p.end()

    def _render(self, p: QPainter) -> None:
        pal = self.palette()
        rect = QRectF(self.rect()).adjusted(1, 1, -1, -1)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        bg = zero_background() if self.zero_endpoints else pal.color(QPalette.ColorRole.Base)
        border = DENIED if self.zero_endpoints else pal.color(QPalette.ColorRole.Mid)
        width = 1.0
        if self.highlight is not None:
            border, width = HIGHLIGHT, 2.5
        elif self.selected:
            border, width = pal.color(QPalette.ColorRole.Highlight), 2.0
        elif self.hovered:
            border, width = pal.color(QPalette.ColorRole.Highlight), 1.2
        p.setPen(QPen(border, width))
        p.setBrush(bg)
        p.drawRoundedRect(rect.adjusted(width / 2, width / 2, -width / 2, -width / 2), 4, 4)
        text = pal.color(QPalette.ColorRole.Text)
        grey = muted()
        x = PAD
        icons = 22 if self.editable else 0
        if self.highlight is not None:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(HIGHLIGHT)
            p.drawEllipse(QPointF(rect.right() - PAD - 34 - icons, HEAD / 2 + 1), 8, 8)
            small = QFont(self.font())
            small.setPointSizeF(max(6.5, small.pointSizeF() - 2))
            small.setBold(True)
            p.setFont(small)
            p.setPen(QColor("white"))
            p.drawText(
                QRectF(rect.right() - PAD - 42 - icons, HEAD / 2 - 7, 16, 16),
                Qt.AlignmentFlag.AlignCenter,
                str(self.highlight + 1),
            )
        if self.bp.staged:
            small = QFont(self.font())
            small.setPointSizeF(max(6.5, small.pointSizeF() - 2))
            small.setBold(True)
            fm = QFontMetrics(small)
            w = fm.horizontalAdvance("STAGED") + 8
            badge = QRectF(x, 6, w, 15)
            p.setPen(QPen(STAGED, 1))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRoundedRect(badge, 3, 3)
            p.setFont(small)
            p.drawText(badge, Qt.AlignmentFlag.AlignCenter, "STAGED")
            x += w + 5
        if not self.pseudo:
            draw_kind_icon(p, QRectF(x, 6, 14, 14), self.bp.kind)
            x += 19
        bold = QFont(self.font())
        bold.setBold(True)
        p.setFont(bold)
        p.setPen(text)
        right = rect.right() - PAD - (48 if self.highlight is not None else 26) - icons
        name = QFontMetrics(bold).elidedText(self.bp.name, Qt.TextElideMode.ElideRight, int(right - x))
        p.drawText(QRectF(x, 3, right - x, HEAD - 4), Qt.AlignmentFlag.AlignVCenter, name)
        draw_eye(p, self.eye_rect(), grey)
        if self.editable:
            draw_pencil(p, self.pencil_rect(), grey)
        p.setFont(self.font())
        y = HEAD
        for line in self.lines():
            row = QRectF(PAD, y, rect.width() - 2 * PAD, LINE)
            self._paint_line(p, row, line, text, grey)
            y += LINE

    def _paint_line(self, p: QPainter, row: QRectF, line: str, text: QColor, grey: QColor) -> None:
        left = QRectF(row.x() + 20, row.y(), row.width() - 20, row.height())
        align_l, align_r = ALIGN_LEFT, ALIGN_RIGHT
        if line == "namespace":
            draw_folder(p, QRectF(row.x() + 1, row.y() + 4, 13, 12), grey)
            p.setPen(text)
            p.drawText(left, align_l, self.bp.scope)
            return
        if line == "endpoints":
            zero = self.zero_endpoints
            p.setPen(QPen(DENIED if zero else grey, 1.2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(QRectF(row.x() + 2, row.y() + 5, 10, 10))
            p.setPen(DENIED if zero else text)
            p.drawText(left, align_l, "Endpoints")
            n = self.bp.endpoints
            p.drawText(self._values(row), align_r, "?" if n is None else str(n))
            return
        colour = METRIC_COLOURS[line]
        figure, per_s = self._figure(line)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(colour if self.value(line) else grey)
        p.drawEllipse(QPointF(row.x() + 7, row.center().y()), 4, 4)
        p.setPen(text)
        p.drawText(left, align_l, METRIC_LABELS[line])
        values = self._values(row)
        if not figure:
            p.setPen(grey)
            p.drawText(values, align_r, "–")
            return
        if per_s:
            p.setPen(grey)
            p.drawText(row, align_r, per_s)
        p.setPen(colour if line != "connections" else text)
        p.drawText(values, align_r, figure)

    def _values(self, row: QRectF) -> QRectF:
        """The figures' column: right-aligned before a rate column of fixed width, so the
        figures of all lines (and cards) line up whatever their rates."""
        rates = QFontMetrics(self.font()).horizontalAdvance("000.0/s") + 10
        return QRectF(row.x(), row.y(), row.width() - rates, row.height())

    # -- input -------------------------------------------------------------------------
    def enterEvent(self, event: QEnterEvent) -> None:  # noqa: N802 - Qt override
        self.hovered = True
        if self._tip_stale:
            self._write_tip()
        self.update()
        super().enterEvent(event)

    def leaveEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        self.hovered = False
        self.update()
        super().leaveEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if event.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(event)
        if self.eye_rect().adjusted(-4, -4, 2, 4).contains(event.position()):
            self.openRequested.emit(self.bp.key)
        elif self.editable and self.pencil_rect().adjusted(-3, -4, 2, 4).contains(event.position()):
            self.editRequested.emit(self.bp.key)
        else:
            self._press = event.position().toPoint()
            self.clicked.emit(self.bp.key)
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        """Drag the card to another place on the board (a QDrag carrying its key)."""
        if (
            not self.draggable
            or self._press is None
            or not event.buttons() & Qt.MouseButton.LeftButton
            or (event.position().toPoint() - self._press).manhattanLength() < QApplication.startDragDistance()
        ):
            return super().mouseMoveEvent(event)
        self._press = None
        self.start_drag()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        self._press = None
        super().mouseReleaseEvent(event)

    def drag_mime(self) -> QMimeData:
        mime = QMimeData()
        mime.setData(POLICY_MIME, self.bp.key.encode("utf-8"))
        mime.setText(self.bp.key)
        return mime

    def start_drag(self) -> None:
        drag = QDrag(self)
        drag.setMimeData(self.drag_mime())
        pm = QPixmap(self.size())
        pm.fill(Qt.GlobalColor.transparent)
        self.render(pm)
        drag.setPixmap(pm)
        drag.setHotSpot(QPoint(20, HEAD // 2))
        drag.exec(Qt.DropAction.MoveAction)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        self.openRequested.emit(self.bp.key)
        event.accept()
