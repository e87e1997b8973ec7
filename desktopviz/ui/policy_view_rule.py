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
from desktopviz.ui.policy_board_style import ACTION_COLOURS, GLOBAL, compact, human_bytes, rate

IN_COLOUR = "#d9822b"  # inbound ↓ (Calico's orange)
OUT_COLOUR = "#2f8fc4"  # outbound ↑ (Calico's blue)
NARROW = 760  # below this width the metrics go under the rule
NA = "<span style='color:gray'>n/a</span>"


def _in(text: str) -> str:
    return f"<span style='color:{IN_COLOUR}'>{text} ↓</span>"


def _out(text: str) -> str:
    return f"<span style='color:{OUT_COLOUR}'>{text} ↑</span>"


COLUMNS = (80, 50, 84, 84, 92)  # label, unit, inbound, outbound, total: alike for every rule, so they line up
METRICS_WIDTH = sum(COLUMNS) + 12


def _cell(value: str, width: int, head: bool = False) -> str:
    tag = "th" if head else "td"
    return f"<{tag} width={width} align=right style='padding: 1px 0 1px 8px'>{value}</{tag}>"


def _row(label: str, values: list[str], unit: str = "") -> str:
    return (
        f"<tr><td width={COLUMNS[0]} style='padding: 1px 0'>{escape(label)}</td>"
        f"<td width={COLUMNS[1]} style='color:gray; padding: 1px 0'>{unit}</td>"
        + "".join(_cell(v, w) for v, w in zip(values, COLUMNS[2:], strict=True))
        + "</tr>"
    )


def metrics_html(row: RuleRow, span: float) -> str:
    """The metrics table of a rule (rates over `span` seconds, totals), in fixed columns so
    the tables of all rules line up: Endpoints, Connections/s, then Allowed, Denied and
    Passed, each as packets/s and bytes/s when the rule saw such traffic, else one `n/a` line."""
    m = row.metrics
    if not m.total.logs:
        return "<span style='color:gray'>n/a · no traffic hit this rule in the time range</span>"
    ingress = row.direction == "ingress"
    per = (lambda v: rate(v / span)) if span > 0 else (lambda v: compact(v))
    pkt = (lambda v: rate(v)) if span > 0 else (lambda v: compact(v))
    n = row.peer_count
    c = per(m.total.connections)
    lines = [
        _row("Endpoints", [_in(str(n if ingress else 0)), _out(str(0 if ingress else n)), str(n)]),
        _row(
            "Connections",
            [_in(c) if ingress else NA, NA if ingress else _out(c), f"{m.total.connections:,}"],
            "/s",
        ),
    ]
    for label, t in (("Allowed", m.allowed), ("Denied", m.denied), ("Passed", m.passed)):
        if not t.logs:
            lines.append(_row(label, [NA, NA, NA]))
            continue

        def both(a_in: float, a_out: float, fmt) -> list[str]:  # type: ignore[no-untyped-def]
            if span > 0:
                a_in, a_out = a_in / span, a_out / span
            return [_in(fmt(a_in)), _out(fmt(a_out))]

        lines.append(_row(label, [*both(t.packets_in, t.packets_out, pkt), f"{packets(t):,} pkts"], "pkts/s"))
        lines.append(
            _row("", [*both(t.bytes_in, t.bytes_out, human_bytes), human_bytes(nbytes(t))], "bytes/s")
        )
    head = (
        f"<tr><th width={COLUMNS[0]}></th><th width={COLUMNS[1]}></th>"
        + _cell(f"<span style='color:{IN_COLOUR}'>inbound ↓</span>", COLUMNS[2], True)
        + _cell(f"<span style='color:{OUT_COLOUR}'>outbound ↑</span>", COLUMNS[3], True)
        + _cell("total", COLUMNS[4], True)
        + "</tr>"
    )
    return f"<table cellspacing=0 cellpadding=0 width={sum(COLUMNS)}>{head}{''.join(lines)}</table>"


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
        self.metrics.setFixedWidth(METRICS_WIDTH)
        self.metrics.setWordWrap(True)
        outer.addWidget(box, 1, Qt.AlignmentFlag.AlignTop)
        outer.addWidget(self.metrics, 0)
        self.update_row(row, 0.0)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        """Metrics beside the rule when there is room, under it in a narrow dock."""
        wide = event.size().width() >= NARROW
        direction = QBoxLayout.Direction.LeftToRight if wide else QBoxLayout.Direction.TopToBottom
        if self._outer.direction() != direction:
            self._outer.setDirection(direction)
            indent = 0 if wide else 16  # under the rule: in line with the rule's text
            self.metrics.setContentsMargins(indent, 0, 0, 0)
            self.metrics.setFixedWidth(METRICS_WIDTH + indent)
        super().resizeEvent(event)

    def update_row(self, row: RuleRow, span: float) -> None:
        self.row = row
        colour = ACTION_COLOURS.get(row.action, GLOBAL).name()
        index = f"{row.direction}, end of tier" if row.index == -1 else f"rule {row.index}"
        text = escape(row.text)
        if row.action and text.startswith(row.action):
            text = f"<b style='color:{colour}'>{escape(row.action)}</b>{text[len(row.action) :]}"
        self.sentence.setText(f"<span style='color:gray'>{index}</span>&nbsp;&nbsp;{text}")
        peers = peers_html(row)
        self.peers.setText(peers)
        self.peers.setVisible(bool(peers))
        self.flows_button.setVisible(row.has_data)
        self.metrics.setText(metrics_html(row, span))
