"""One rule in the policy view: the rule as a sentence, the endpoints its traffic came from
(ingress) or went to (egress), and its metrics like Calico's policy view: endpoints,
connections, allowed, denied and passed packets and bytes per second, inbound ↓ and
outbound ↑, with totals over the range; `n/a` where there is no data."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QBoxLayout, QFrame, QLabel, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from desktopviz.core.board import nbytes, packets
from desktopviz.core.board_detail import RuleRow
from desktopviz.core.queries import Traffic
from desktopviz.ui.policy_board_style import ACTION_COLOURS, GLOBAL, compact, human_bytes, rate

IN_COLOUR = "#d9822b"  # inbound ↓ (Calico's orange)
OUT_COLOUR = "#2f8fc4"  # outbound ↑ (Calico's blue)
NARROW = 760  # below this width the metrics go under the rule
NA = "<span style='color:gray'>n/a</span>"


def _in(text: str) -> str:
    return f"<span style='color:{IN_COLOUR}'>{text} ↓</span>"


def _out(text: str) -> str:
    return f"<span style='color:{OUT_COLOUR}'>{text} ↑</span>"


def metrics_html(row: RuleRow, span: float) -> str:
    """The metrics table of a rule (rates over `span` seconds, totals)."""
    m = row.metrics
    if not m.total.logs:
        cells = " &nbsp;·&nbsp; ".join(
            f"<span style='color:gray'>{w}</span> {NA}"
            for w in ("Endpoints", "Connections/s", "Allowed", "Denied", "Passed")
        )
        return f"{cells}<br><span style='color:gray'>no traffic hit this rule in the time range</span>"
    ingress = row.direction == "ingress"
    per = (lambda v: rate(v / span)) if span > 0 else (lambda v: compact(v))

    def pair(t: Traffic, attr_in: str, attr_out: str, fmt) -> list[str]:  # type: ignore[no-untyped-def]
        if not t.logs:
            return [NA, NA, NA]
        vin, vout = getattr(t, attr_in), getattr(t, attr_out)
        return [_in(fmt(vin / span if span > 0 else vin)), _out(fmt(vout / span if span > 0 else vout)), ""]

    rows: list[tuple[str, list[str]]] = []
    n = row.peer_count
    if m.total.logs:
        rows.append(("Endpoints", [_in(str(n if ingress else 0)), _out(str(0 if ingress else n)), str(n)]))
        c = per(m.total.connections)
        rows.append(
            (
                "Connections/s",
                [_in(c) if ingress else NA, NA if ingress else _out(c), f"{m.total.connections:,}"],
            )
        )
    else:
        rows.append(("Endpoints", [NA, NA, NA]))
        rows.append(("Connections/s", [NA, NA, NA]))
    for label, t in (("Allowed", m.allowed), ("Denied", m.denied), ("Passed", m.passed)):
        pk = pair(t, "packets_in", "packets_out", lambda v: rate(v) if span > 0 else compact(v))
        by = pair(t, "bytes_in", "bytes_out", lambda v: human_bytes(v))
        if t.logs:
            pk[2] = f"{packets(t):,} pkts"
            by[2] = human_bytes(nbytes(t))
        rows.append((f"{label} packets/s", pk))
        rows.append((f"{label} bytes/s", by))
    head = (
        "<tr><th></th><th align=right>inbound</th><th align=right>outbound</th>"
        "<th align=right>total</th></tr>"
    )
    body = "".join(
        f"<tr><td style='color:gray'>{escape(label)}&nbsp;&nbsp;</td>"
        + "".join(f"<td align=right>&nbsp;&nbsp;{v}</td>" for v in vals)
        + "</tr>"
        for label, vals in rows
    )
    return f"<table cellspacing=0 cellpadding=1>{head}{body}</table>"


def peers_html(row: RuleRow) -> str:
    if not row.peers:
        return ""
    word = "From" if row.direction == "ingress" else "To"
    done = {"allow": "allowed", "deny": "denied", "pass": "passed"}
    items = [
        f"<b>{escape(p.label)}</b> <span style='color:gray'>({p.connections:,} connections "
        f"{done.get(p.action, p.action)})</span>"
        for p in row.peers
    ]
    more = row.peer_count - len(row.peers)
    tail = f" <span style='color:gray'>and {more} more</span>" if more > 0 else ""
    return f"{word}: " + ", ".join(items) + tail


class RuleRowWidget(QFrame):
    """A rule line of the policy view.

    Signals:
        showFlows(str direction, int index, str action): "Show flows" for this rule.
    """

    showFlows = Signal(str, int, str)

    def __init__(self, row: RuleRow, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.row = row
        self.setObjectName(f"rule_{row.direction}_{row.index}")
        outer = QBoxLayout(QBoxLayout.Direction.LeftToRight, self)
        self._outer = outer
        outer.setContentsMargins(0, 4, 0, 4)
        outer.setSpacing(12)
        box = QFrame(self)
        box.setObjectName("ruleBox")
        colour = ACTION_COLOURS.get(row.action, GLOBAL).name()
        box.setStyleSheet(
            f"QFrame#ruleBox {{ background: palette(alternate-base); border: 1px solid palette(mid); "
            f"border-left: 5px solid {colour}; border-radius: 3px; }}"
        )
        left = QVBoxLayout(box)
        left.setContentsMargins(10, 6, 8, 6)
        left.setSpacing(4)
        self.sentence = QLabel(box)
        self.sentence.setWordWrap(True)
        self.sentence.setTextFormat(Qt.TextFormat.RichText)
        self.sentence.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.peers = QLabel(box)
        self.peers.setWordWrap(True)
        self.peers.setTextFormat(Qt.TextFormat.RichText)
        self.flows_button = QToolButton(box)
        self.flows_button.setText("Show flows")
        self.flows_button.setAutoRaise(True)
        self.flows_button.setStyleSheet("QToolButton { color: palette(link); }")
        self.flows_button.clicked.connect(
            lambda: self.showFlows.emit(self.row.direction, self.row.index, self.row.action)
        )
        left.addWidget(self.sentence)
        left.addWidget(self.peers)
        left.addWidget(self.flows_button, 0, Qt.AlignmentFlag.AlignLeft)
        left.addStretch(1)
        box.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Maximum)
        self.metrics = QLabel(self)
        self.metrics.setTextFormat(Qt.TextFormat.RichText)
        self.metrics.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        small = self.metrics.font()
        small.setPointSizeF(max(7.5, small.pointSizeF() - 1))
        self.metrics.setFont(small)
        outer.addWidget(box, 5, Qt.AlignmentFlag.AlignTop)
        outer.addWidget(self.metrics, 4)
        self.update_row(row, 0.0)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        """Metrics beside the rule when there is room, under it in a narrow dock."""
        wide = event.size().width() >= NARROW
        direction = QBoxLayout.Direction.LeftToRight if wide else QBoxLayout.Direction.TopToBottom
        if self._outer.direction() != direction:
            self._outer.setDirection(direction)
        super().resizeEvent(event)

    def update_row(self, row: RuleRow, span: float) -> None:
        self.row = row
        colour = ACTION_COLOURS.get(row.action, GLOBAL).name()
        index = "end of tier" if row.index == -1 else f"rule {row.index}"
        text = escape(row.text)
        if row.action and text.startswith(row.action):
            text = f"<b style='color:{colour}'>{escape(row.action)}</b>{text[len(row.action) :]}"
        self.sentence.setText(f"<span style='color:gray'>{index}</span>&nbsp;&nbsp;{text}")
        peers = peers_html(row)
        self.peers.setText(peers)
        self.peers.setVisible(bool(peers))
        self.flows_button.setVisible(row.has_data)
        self.metrics.setText(metrics_html(row, span))
