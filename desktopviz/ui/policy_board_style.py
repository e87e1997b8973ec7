"""Colours, number formats and small painted icons shared by the Policy Board and the policy
view (the Calico Enterprise board's vocabulary: tier stripes, kind badges, STAGED tags)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPalette, QPen, QPolygonF
from PySide6.QtWidgets import QApplication

from desktopviz.ui.theme import ALLOWED, DENIED, is_dark

PASSED = QColor("#7a5cc9")
CONNECTIONS = QColor("#2f78c4")
STAGED = QColor("#c77700")
KUBERNETES = QColor("#326ce5")
CALICO = QColor("#f08b1f")
GLOBAL = QColor("#5b6b7f")
HIGHLIGHT = QColor("#f0a30a")
ZERO_BG_LIGHT = QColor("#fdecec")
ZERO_BG_DARK = QColor("#4a2628")
TIER_STRIPES = ["#c9a26b", "#8aa4c8", "#9cc08f", "#c89bb8", "#a0a0c8", "#c8b28a"]
DEFAULT_TIER_STRIPE = "#4a90e2"
ACTION_COLOURS = {"Allow": ALLOWED, "Deny": DENIED, "Pass": PASSED, "Log": GLOBAL}
METRIC_COLOURS = {"connections": CONNECTIONS, "allowed": ALLOWED, "denied": DENIED, "passed": PASSED}
METRIC_LABELS = {"connections": "Connections", "allowed": "Allowed", "denied": "Denied", "passed": "Passed"}
KIND_COLOURS = {"Kubernetes": KUBERNETES, "Calico": CALICO, "Global": GLOBAL}


def compact(value: float) -> str:
    """12, 1.2k, 34k, 1.2M: short counts for cards."""
    v = float(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= limit:
            s = f"{v / limit:.1f}".rstrip("0").rstrip(".") if abs(v) < 10 * limit else f"{v / limit:.0f}"
            return s + suffix
    return f"{v:.0f}" if v == int(v) else f"{v:.1f}"


def rate(value: float) -> str:
    """A per-second figure: 0.8, 13.8, 1.2k; `< 0.1` for tiny non-zero rates."""
    if value == 0:
        return "0"
    if value < 0.1:
        return "< 0.1"
    return compact(value) if value >= 1000 else f"{value:.1f}".rstrip("0").rstrip(".")


def human_bytes(value: float) -> str:
    v = float(value)
    for unit in ("B", "kB", "MB", "GB"):
        if abs(v) < 1000 or unit == "GB":
            return f"{v:.0f} {unit}" if unit == "B" else f"{v:.1f} {unit}"
        v /= 1000
    return f"{v:.1f} GB"


def tier_stripe(name: str, index: int) -> QColor:
    return QColor(DEFAULT_TIER_STRIPE if name == "default" else TIER_STRIPES[index % len(TIER_STRIPES)])


def muted() -> QColor:
    return QApplication.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)


def zero_background() -> QColor:
    return ZERO_BG_DARK if is_dark() else ZERO_BG_LIGHT


def draw_kind_icon(p: QPainter, rect: QRectF, kind: str) -> None:
    """Kubernetes: a blue heptagon (the k8s wheel's outline); Calico: an orange disc with C;
    Global: a grey globe."""
    p.save()
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    c = rect.center()
    r = min(rect.width(), rect.height()) / 2
    colour = KIND_COLOURS.get(kind, GLOBAL)
    if kind == "Kubernetes":
        import math

        pts = [
            QPointF(c.x() + r * math.sin(2 * math.pi * i / 7), c.y() - r * math.cos(2 * math.pi * i / 7))
            for i in range(7)
        ]
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(colour)
        p.drawPolygon(QPolygonF(pts))
        p.setPen(QPen(QColor("white"), max(1.2, r / 5)))
        for i in range(7):
            a = 2 * math.pi * (i + 0.5) / 7
            p.drawLine(c, QPointF(c.x() + r * 0.6 * math.sin(a), c.y() - r * 0.6 * math.cos(a)))
    elif kind == "Global":
        p.setPen(QPen(colour, 1.3))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawEllipse(c, r * 0.9, r * 0.9)
        p.drawEllipse(c, r * 0.4, r * 0.9)
        p.drawLine(QPointF(c.x() - r * 0.9, c.y()), QPointF(c.x() + r * 0.9, c.y()))
    else:
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(colour)
        p.drawEllipse(c, r * 0.95, r * 0.95)
        p.setPen(QPen(QColor("white"), max(1.4, r / 4)))
        arc = QRectF(c.x() - r * 0.5, c.y() - r * 0.5, r, r)
        p.drawArc(arc, 45 * 16, 270 * 16)
    p.restore()


def draw_folder(p: QPainter, rect: QRectF, colour: QColor) -> None:
    p.save()
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(QPen(colour, 1.2))
    p.setBrush(Qt.BrushStyle.NoBrush)
    path = QPainterPath()
    x, y, w, h = rect.x(), rect.y() + rect.height() * 0.15, rect.width(), rect.height() * 0.7
    path.moveTo(x, y + h)
    path.lineTo(x, y)
    path.lineTo(x + w * 0.4, y)
    path.lineTo(x + w * 0.5, y + h * 0.2)
    path.lineTo(x + w, y + h * 0.2)
    path.lineTo(x + w, y + h)
    path.closeSubpath()
    p.drawPath(path)
    p.restore()


def draw_eye(p: QPainter, rect: QRectF, colour: QColor) -> None:
    p.save()
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(QPen(colour, 1.4))
    p.setBrush(Qt.BrushStyle.NoBrush)
    c = rect.center()
    w, h = rect.width() / 2, rect.height() / 3
    path = QPainterPath()
    path.moveTo(c.x() - w, c.y())
    path.quadTo(c.x(), c.y() - 2 * h, c.x() + w, c.y())
    path.quadTo(c.x(), c.y() + 2 * h, c.x() - w, c.y())
    p.drawPath(path)
    p.setBrush(colour)
    p.drawEllipse(c, h * 0.8, h * 0.8)
    p.restore()


def draw_pencil(p: QPainter, rect: QRectF, colour: QColor) -> None:
    """The card's edit icon: a pencil drawn diagonally in `rect`."""
    p.save()
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(QPen(colour, 1.3))
    p.setBrush(Qt.BrushStyle.NoBrush)
    x0, y0 = rect.left() + 3, rect.bottom() - 2
    x1, y1 = rect.right() - 3, rect.top() + 2
    d = 2.2  # half the pencil's width, across its axis
    body = QPainterPath()
    body.moveTo(x0 + 3, y0 - 3 + d)
    body.lineTo(x1 + d * 0.2, y1 + d * 1.4)
    body.lineTo(x1 - d * 1.4, y1 - d * 0.2)
    body.lineTo(x0 + 3 - d, y0 - 3)
    body.closeSubpath()
    p.drawPath(body)
    tip = QPainterPath()
    tip.moveTo(x0 + 3, y0 - 3 + d)
    tip.lineTo(x0, y0)
    tip.lineTo(x0 + 3 - d, y0 - 3)
    p.drawPath(tip)
    p.restore()
