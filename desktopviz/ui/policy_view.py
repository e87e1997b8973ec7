"""The policy view: one policy's selector, types, order and tier, and its ingress and egress
rules as sentences, each with its own live metrics (calico.md §4.2, `denied-traffic.png`),
ending with what fell through it (the tier's end-of-tier action, rule -1).

Follows the view conventions: ``set_store``, ``refresh`` (cheap: the query runs off the GUI
thread, requests merge), ``set_time_range``. Opened by the Policy Board (``open_policy``) or
on its own with :meth:`show_policy`.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desktopviz.core.board import BoardPolicy, nbytes, packets
from desktopviz.core.board_detail import PolicyDetail, RuleRow, flows_filter, policy_detail
from desktopviz.ui.policy_board_style import KIND_COLOURS, METRIC_COLOURS, STAGED, compact, human_bytes
from desktopviz.ui.policy_board_worker import BoardWorker, new_generation, open_store
from desktopviz.ui.policy_view_rule import RuleRowWidget

NO_POLICY = (
    "<b>No policy selected</b><br><span style='color:gray'>Open a policy from the Policy Board "
    "(its eye icon, or double-click its card) to see its rules and what each one did.</span>"
)


def _section(title: str) -> QLabel:
    label = QLabel(title)
    f = label.font()
    f.setPointSizeF(f.pointSizeF() + 2)
    f.setBold(True)
    label.setFont(f)
    label.setStyleSheet("border-bottom: 1px solid palette(mid); padding: 8px 0 3px 0;")
    return label


class PolicyView(QWidget):
    """One policy and its rules with per-rule metrics.

    Signals:
        showFlows(str): a filter (flow browser's language) for the flows of the policy or a rule.
        policyActivated(str): the policy's name was clicked (its trace name).
        backRequested(): the "back to the board" button.
        editRequested(str): the pencil (Edit) button: edit this policy (its trace name).
        updated(): new numbers are shown.
        error(str): a query failed.
    """

    showFlows = Signal(str)
    policyActivated = Signal(str)
    backRequested = Signal()
    editRequested = Signal(str)
    updated = Signal()
    error = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path: str | None = None
        self.since: int | None = None
        self.until: int | None = None
        self.policy: BoardPolicy | None = None
        self.tier_default: str | None = None
        self.detail: PolicyDetail | None = None
        self.rule_widgets: dict[tuple[str, int], RuleRowWidget] = {}
        self._shape: list[tuple[str, int]] = []
        self._worker = BoardWorker(self)
        self._worker.done.connect(self._on_done)
        self._worker.failed.connect(lambda kind, msg: self.error.emit(f"Policy view: {msg}"))

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        bar.setContentsMargins(6, 4, 6, 0)
        self.back_button = QPushButton("← Policy Board")
        self.back_button.setFlat(True)
        self.back_button.clicked.connect(self.backRequested)
        self.flows_button = QPushButton("Show flows")
        self.flows_button.setToolTip("Show the flows this policy decided in the flow-log browser")
        self.flows_button.clicked.connect(self._show_policy_flows)
        self.flows_button.setEnabled(False)  # until a policy is shown
        self.edit_button = QPushButton("✎ Edit")
        self.edit_button.setObjectName("editPolicy")
        self.edit_button.setToolTip("Edit this policy in the policy editor")
        self.edit_button.clicked.connect(self._edit)
        self.edit_button.setVisible(False)
        self.editable = False
        bar.addWidget(self.back_button)
        bar.addStretch(1)
        bar.addWidget(self.edit_button)
        bar.addWidget(self.flows_button)
        outer.addLayout(bar)
        self.scroll = QScrollArea(self)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        outer.addWidget(self.scroll)
        self._page = QWidget()
        self.scroll.setWidget(self._page)
        self._content = QVBoxLayout(self._page)
        self._content.setContentsMargins(12, 6, 12, 12)
        self.title = QLabel(NO_POLICY)
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse)
        self.title.linkActivated.connect(self.policyActivated)
        self.facts = QLabel()
        self.facts.setTextFormat(Qt.TextFormat.RichText)
        self.facts.setWordWrap(True)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.totals = QLabel()
        self.totals.setTextFormat(Qt.TextFormat.RichText)
        self.totals.setWordWrap(True)
        self._content.addWidget(self.title)
        self._content.addWidget(self.facts)
        self._content.addWidget(self.totals)
        self._rules_box = QVBoxLayout()
        self._content.addLayout(self._rules_box)
        self._content.addStretch(1)

    # -- view API ------------------------------------------------------------------------
    def set_store(self, path: str | Path | None) -> None:
        self.path = str(path) if path else None
        new_generation()
        self._worker.reset()
        self.refresh()

    def set_time_range(self, since: int | None, until: int | None) -> None:
        self.since, self.until = since, until
        self.refresh()

    def set_back_visible(self, on: bool) -> None:
        self.back_button.setVisible(on)

    def show_policy(self, bp: BoardPolicy, tier_default: str | None = None) -> None:
        """Show a board policy (its rules at once, their numbers when the query returns)."""
        same = self.policy is not None and self.policy.key == bp.key
        self.policy, self.tier_default = bp, tier_default
        self.flows_button.setEnabled(True)
        if not same:
            self.detail = None
            self._worker.reset()
            self._build(self._empty_detail(bp))
        self._update_edit()
        self.refresh()

    def set_editable(self, on: bool, reason: str = "") -> None:
        """Offer the pencil (Edit) for policies of the scenario; `reason` says why not."""
        self.editable = on
        self.edit_button.setToolTip("Edit this policy in the policy editor" if on else reason)
        self._update_edit()

    def _update_edit(self) -> None:
        bp = self.policy
        self.edit_button.setVisible(bp is not None and bp.policy is not None)
        self.edit_button.setEnabled(self.editable)

    def _edit(self) -> None:
        if self.policy is not None and self.editable:
            self.editRequested.emit(self.policy.key)

    @property
    def current_key(self) -> str | None:
        return self.policy.key if self.policy else None

    def refresh(self) -> None:
        if self.policy is None or self.path is None:
            return
        bp, path, since, until, tdef = self.policy, self.path, self.since, self.until, self.tier_default
        self._worker.submit(
            "detail", lambda: policy_detail(open_store(path), bp, since, until, tier_default=tdef)
        )

    def is_idle(self) -> bool:
        return self._worker.is_idle()

    def shutdown(self) -> None:
        self._worker.shutdown()

    def flows_filter(self, direction: str | None = None, index: int | None = None, action: str = "") -> str:
        return "" if self.policy is None else flows_filter(self.policy, direction, index, action)

    # -- building ------------------------------------------------------------------------
    def _empty_detail(self, bp: BoardPolicy) -> PolicyDetail:
        from desktopviz.core.board_detail import end_of_tier_text
        from desktopviz.core.policy_text import describe_rule

        d = PolicyDetail(bp, 0.0)
        if bp.policy is not None:
            for direction in ("ingress", "egress"):
                for i, rule in enumerate(bp.policy.rules(direction)):
                    d.rules(direction).append(RuleRow(direction, i, rule.action, describe_rule(rule)))  # type: ignore[arg-type]
                if direction.capitalize() in bp.policy.types:
                    text = end_of_tier_text(bp, self.tier_default)
                    d.end_of_tier[direction] = RuleRow(direction, -1, self.tier_default or "", text)  # type: ignore[arg-type]
        return d

    def _clear_rules(self) -> None:
        while self._rules_box.count():
            item = self._rules_box.takeAt(0)
            w = item.widget()
            if w is not None:
                w.setParent(None)
                w.deleteLater()
        self.rule_widgets.clear()

    @staticmethod
    def _shape_of(d: PolicyDetail) -> list[tuple[str, int]]:
        rows = [*d.ingress, *d.egress, *d.end_of_tier.values(), *d.other]
        return [(r.direction, r.index) for r in rows]

    def _build(self, d: PolicyDetail) -> None:
        bp = d.policy
        self._clear_rules()
        kind_colour = KIND_COLOURS.get(bp.kind)
        staged = f" <span style='color:{STAGED.name()}; font-weight:600'>[STAGED]</span>" if bp.staged else ""
        self.title.setText(
            f"<span style='font-size:15pt; font-weight:600'><a href='{escape(bp.key)}' "
            f"style='text-decoration:none; color:palette(text)'>{escape(bp.name)}</a></span>{staged}"
            f"<br><span style='color:gray'>{escape(bp.key)}</span>"
        )
        pol = bp.policy
        facts = [
            ("Kind", f"<span style='color:{kind_colour.name() if kind_colour else 'gray'}'>{bp.kind}</span>"),
            (
                "Tier",
                escape(bp.tier) + (f" (default action {self.tier_default})" if self.tier_default else ""),
            ),
            ("Order", bp.order_text),
            ("Scope", escape(bp.scope)),
        ]
        if pol is not None:
            facts.append(("Selector", f"<code>{escape(pol.selector or 'all()')}</code>"))
            if pol.namespace_selector:
                facts.append(("Namespace selector", f"<code>{escape(pol.namespace_selector)}</code>"))
            facts.append(("Types", ", ".join(pol.types)))
            if pol.staged:
                facts.append(("Staged action", pol.staged_action or "Set"))
        else:
            facts.append(
                ("Rules", "known only from flow-log traces (open the run with its scenario for rule texts)")
            )
        if bp.endpoints is not None:
            what = "Endpoints selected" if pol is not None else "Endpoints seen"
            facts.append((what, str(bp.endpoints)))
        self.facts.setText(
            "<table cellspacing=0 cellpadding=2>"
            + "".join(f"<tr><td style='color:gray'>{k}&nbsp;&nbsp;</td><td>{v}</td></tr>" for k, v in facts)
            + "</table>"
        )
        for direction, title in (("ingress", "Ingress Policy Rules"), ("egress", "Egress Policy Rules")):
            rows = d.rules(direction)
            if not rows and (pol is None or direction.capitalize() not in pol.types):
                continue
            self._rules_box.addWidget(_section(f"{title} ({len(rows)})"))
            for r in rows:
                self._add_rule(r)
        if d.end_of_tier:
            self._rules_box.addWidget(_section("End of tier: what fell through"))
            for r in d.end_of_tier.values():
                self._add_rule(r)
        if d.other:
            self._rules_box.addWidget(_section("Other rule hits"))
            for r in d.other:
                self._add_rule(r)
        self._shape = self._shape_of(d)

    def _add_rule(self, r: RuleRow) -> None:
        w = RuleRowWidget(r, self._page)
        w.showFlows.connect(
            lambda direction, index, action: self.showFlows.emit(self.flows_filter(direction, index, action))
        )
        self.rule_widgets[(r.direction, r.index)] = w
        self._rules_box.addWidget(w)

    def _on_done(self, kind: str, d: PolicyDetail) -> None:
        if self.policy is None or d.policy.key != self.policy.key:
            return
        self.detail = d
        if self._shape_of(d) != self._shape:
            self._build(d)
        for r in [*d.ingress, *d.egress, *d.end_of_tier.values(), *d.other]:
            w = self.rule_widgets.get((r.direction, r.index))
            if w is not None:
                w.update_row(r, d.span_seconds)
        t = d.totals
        if t.total.logs:
            bits = [f"{t.total.connections:,} connections"]
            for name, part in (("allowed", t.allowed), ("denied", t.denied), ("passed", t.passed)):
                if part.logs:
                    colour = METRIC_COLOURS[name].name()
                    bits.append(
                        f"<span style='color:{colour}'>{name} {compact(packets(part))} packets "
                        f"({human_bytes(nbytes(part))})</span>"
                    )
            minutes = d.span_seconds / 60
            what = "would be decided (pending traces)" if d.policy.staged else "decided"
            self.totals.setText(f"Traffic {what} in {minutes:.0f} min: " + ", ".join(bits))
        else:
            self.totals.setText(
                "<span style='color:gray'>No traffic hit this policy in the time range.</span>"
            )
        self.updated.emit()

    def _show_policy_flows(self) -> None:
        if self.policy is not None:
            self.showFlows.emit(self.flows_filter())
