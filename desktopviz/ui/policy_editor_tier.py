"""The tier dialog: create a tier or change one's order and default action (calico.md §2.1:
lower order first, no order = last; defaultAction Deny or Pass). Non-modal; the change goes
into the PolicySet (validated like a Tier document, undoable) and from there to the board
and the simulation."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from desktopviz.core.model import Tier
from desktopviz.core.policy_edit import PolicySet
from desktopviz.core.policy_edit_yaml import PolicyEditError


class TierDialog(QDialog):
    """Name, order and default action of a tier.

    Signals:
        tierSaved(object): the Tier created or changed (already in the policy set).
    """

    tierSaved = Signal(object)

    def __init__(self, policy_set: PolicySet, tier: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.policy_set = policy_set
        existing = policy_set.tiers.get(tier) if tier else None
        self.setWindowTitle(f"Edit tier {tier}" if existing else "Add tier")
        self.name = QLineEdit(existing.name if existing else "")
        self.name.setObjectName("tierName")
        self.name.setPlaceholderText("e.g. team-a")
        self.name.setReadOnly(existing is not None)
        self.order = QLineEdit("" if existing is None or existing.order is None else f"{existing.order:g}")
        self.order.setObjectName("tierOrder")
        self.order.setPlaceholderText("lower = evaluated first; empty = last")
        self.action = QComboBox()
        self.action.addItems(["Deny", "Pass"])
        if existing is not None and existing.default_action:
            self.action.setCurrentText(existing.default_action)
        self.action.setToolTip("What happens to traffic a policy of the tier selects but no rule decides")
        self.problem = QLabel()
        self.problem.setObjectName("tierProblem")
        self.problem.setStyleSheet("color: #b52a25;")
        self.problem.setWordWrap(True)
        hint = QLabel(self._neighbours())
        hint.setStyleSheet("color: gray;")
        hint.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Order", self.order)
        form.addRow("Default action", self.action)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(hint)
        lay.addWidget(self.problem)
        lay.addWidget(self.buttons)

    def _neighbours(self) -> str:
        parts = [
            f"{t.name} {'' if t.order is None else f'{t.order:g}'}".strip()
            for t in self.policy_set.tiers_in_order()
        ]
        return "Tiers now, in order: " + ", ".join(parts)

    def save(self) -> Tier | None:
        """Validate and apply; on a problem say why and stay open."""
        name = self.name.text().strip()
        if not name:
            self.problem.setText("metadata.name: a tier needs a name")
            return None
        text = self.order.text().strip()
        try:
            order = float(text) if text else None
        except ValueError:
            self.problem.setText(f"spec.order: {text!r} is not a number")
            return None
        old = self.policy_set.tiers.get(name)
        if old is not None and (old.order, old.default_action) == (order, self.action.currentText()):
            self.accept()  # nothing changed
            return old
        try:
            tier = self.policy_set.add_tier(name, order, self.action.currentText())
        except PolicyEditError as exc:
            self.problem.setText(str(exc))
            return None
        self.problem.clear()
        self.tierSaved.emit(tier)
        self.accept()
        return tier
