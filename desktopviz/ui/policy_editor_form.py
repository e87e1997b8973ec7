"""The form tab of the policy editor: name, tier, order, scope, selectors, types and the
ingress and egress rule lists (calico.md §4.2 "Policy editor"), editing one policy document.

Signals:
    changed(object): the document after any edit in the form.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desktopviz.core.policy_edit_yaml import EditIssue, model_kind
from desktopviz.ui.policy_editor_rules import RuleEditor

ERROR_STYLE = "border: 1px solid #d9534f; background: #fff3f3;"
_GLOBAL_KINDS = ("GlobalNetworkPolicy", "StagedGlobalNetworkPolicy")
_NS_KIND = {"GlobalNetworkPolicy": "NetworkPolicy", "StagedGlobalNetworkPolicy": "StagedNetworkPolicy"}
_GLOBAL_KIND = {v: k for k, v in _NS_KIND.items()}


def _rule_text(rule: dict[str, Any]) -> str:
    words = [str(rule.get("action", "?"))]
    words.append(str(rule.get("protocol", "any protocol")))
    for side, label in (("source", "from"), ("destination", "to")):
        ent = rule.get(side) or {}
        bits = [f"{k} {v}" for k, v in ent.items() if v not in (None, "", [])]
        if bits:
            words.append(f"{label} [{'; '.join(str(b) for b in bits)}]")
    return " ".join(words)


class RuleList(QGroupBox):
    """Ingress or egress rules as sentences, with add, remove and move buttons."""

    def __init__(self, title: str, direction: str, parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.direction = direction
        self.list = QListWidget(self)
        self.list.setObjectName(f"{direction}Rules")
        self.list.setMinimumHeight(90)
        self.add = QPushButton("+ Add rule", self)
        self.remove = QPushButton("Remove", self)
        self.up = QPushButton("↑", self)
        self.down = QPushButton("↓", self)
        for b in (self.up, self.down):
            b.setFixedWidth(32)
        buttons = QHBoxLayout()
        for b in (self.add, self.remove, self.up, self.down):
            buttons.addWidget(b)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 6)
        lay.addWidget(self.list)
        lay.addLayout(buttons)

    def set_rules(self, rules: list[dict[str, Any]], bad: set[int]) -> None:
        row = self.list.currentRow()
        self.list.blockSignals(True)
        self.list.clear()
        for i, rule in enumerate(rules):
            item = QListWidgetItem(f"{i}. {_rule_text(rule)}")
            if i in bad:
                item.setForeground(Qt.GlobalColor.red)
                item.setText("⚠ " + item.text())
            self.list.addItem(item)
        if 0 <= row < len(rules):
            self.list.setCurrentRow(row)
        self.list.blockSignals(False)


class PolicyForm(QScrollArea):
    """Edits a policy document; see the module docstring for its signal."""

    changed = Signal(object)

    def __init__(
        self, tiers: Iterable[str], namespaces: Iterable[str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self._doc: dict[str, Any] = {}
        self._loading = False
        self._selected: tuple[str, int] | None = None
        body = QWidget(self)
        self.setWidget(body)
        self.name = QLineEdit(body)
        self.name.setObjectName("name")
        self.tier = QComboBox(body)
        self.tier.setObjectName("tier")
        self.tier.addItems(list(tiers))
        self.order = QLineEdit(body)
        self.order.setObjectName("order")
        self.order.setPlaceholderText("empty: evaluated last in the tier")
        self.scope = QComboBox(body)
        self.scope.setObjectName("scope")
        self.scope.addItems(["Namespace", "Global"])
        self.namespace = QComboBox(body)
        self.namespace.setObjectName("namespace")
        self.namespace.setEditable(True)
        self.namespace.addItems(sorted(namespaces))
        self.kind = QLabel(body)
        self.selector = QLineEdit(body)
        self.selector.setObjectName("selector")
        self.selector.setPlaceholderText("all()  e.g. fw-zone == 'trusted'")
        self.ns_selector = QLineEdit(body)
        self.ns_selector.setObjectName("namespaceSelector")
        self.ns_selector.setPlaceholderText("Global scope only")
        self.sa_selector = QLineEdit(body)
        self.sa_selector.setObjectName("serviceAccountSelector")
        self.ingress_type = QCheckBox("Ingress", body)
        self.egress_type = QCheckBox("Egress", body)
        scope_row = QHBoxLayout()
        scope_row.addWidget(self.scope)
        scope_row.addWidget(self.namespace, 1)
        types_row = QHBoxLayout()
        types_row.addWidget(self.ingress_type)
        types_row.addWidget(self.egress_type)
        types_row.addStretch(1)
        tier_row = QHBoxLayout()
        tier_row.addWidget(self.tier, 2)
        tier_row.addWidget(QLabel("Order", body))
        tier_row.addWidget(self.order, 1)
        policy = QGroupBox("Policy", body)
        pform = QFormLayout(policy)
        pform.addRow("Name", self.name)
        pform.addRow("Tier", tier_row)
        pform.addRow("Scope", scope_row)
        pform.addRow("Kind", self.kind)
        pform.addRow("Applies to", self.selector)
        pform.addRow("Namespace selector", self.ns_selector)
        pform.addRow("Service accounts", self.sa_selector)
        pform.addRow("Type", types_row)
        self.ingress = RuleList("Ingress rules", "ingress", body)
        self.egress = RuleList("Egress rules", "egress", body)
        left = QVBoxLayout()
        left.addWidget(policy)
        left.addWidget(self.ingress, 1)
        left.addWidget(self.egress, 1)
        self.rule = RuleEditor(body)
        self.rule.setEnabled(False)
        cols = QHBoxLayout(body)
        cols.addLayout(left, 5)
        cols.addWidget(self.rule, 4)
        for edit in (self.name, self.order, self.selector, self.ns_selector, self.sa_selector):
            edit.textEdited.connect(self._edited)
        self.tier.activated.connect(self._edited)
        self.scope.activated.connect(self._edited)
        self.namespace.currentTextChanged.connect(self._edited)
        self.ingress_type.toggled.connect(self._edited)
        self.egress_type.toggled.connect(self._edited)
        self.rule.edited.connect(self._rule_edited)
        for rl in (self.ingress, self.egress):
            rl.list.currentRowChanged.connect(lambda row, d=rl.direction: self._select(d, row))
            rl.add.clicked.connect(lambda _=False, d=rl.direction: self._add_rule(d))
            rl.remove.clicked.connect(lambda _=False, d=rl.direction: self._remove_rule(d))
            rl.up.clicked.connect(lambda _=False, d=rl.direction: self._move_rule(d, -1))
            rl.down.clicked.connect(lambda _=False, d=rl.direction: self._move_rule(d, 1))
        self._issues: list[EditIssue] = []

    # -- document -> widgets ---------------------------------------------------------------
    def document(self) -> dict[str, Any]:
        return copy.deepcopy(self._doc)

    def set_document(self, doc: dict[str, Any]) -> None:
        self._loading = True
        try:
            self._doc = copy.deepcopy(doc)
            md = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
            spec = doc.get("spec") if isinstance(doc.get("spec"), dict) else {}
            kind = model_kind(doc)
            k8s = "Kubernetes" in kind
            tier = str(spec.get("tier") or "default") if not k8s else "default"
            name = str(md.get("name") or "")
            short = name[len(tier) + 1 :] if name.startswith(tier + ".") else name
            _set_text(self.name, short)
            if self.tier.findText(tier) < 0:
                self.tier.addItem(tier)
            self.tier.setCurrentText(tier)
            order = spec.get("order")
            _set_text(self.order, "1000" if k8s else ("" if order is None else _num_text(order)))
            is_global = kind in _GLOBAL_KINDS
            self.scope.setCurrentIndex(1 if is_global else 0)
            self.namespace.setCurrentText(str(md.get("namespace") or ""))
            self.namespace.setEnabled(not is_global)
            staged = (
                f" (staged, stagedAction {spec.get('stagedAction', 'Set')})"
                if kind.startswith("Staged")
                else ""
            )
            self.kind.setText(f"{kind}{staged}")
            _set_text(
                self.selector, str(spec.get("selector") or "") if not k8s else "(podSelector: edit in YAML)"
            )
            _set_text(self.ns_selector, str(spec.get("namespaceSelector") or ""))
            self.ns_selector.setEnabled(is_global)
            _set_text(self.sa_selector, str(spec.get("serviceAccountSelector") or ""))
            types = spec.get("types") if isinstance(spec.get("types"), list) else None
            self.ingress_type.setChecked(
                "Ingress" in types if types else not spec.get("egress") or bool(spec.get("ingress"))
            )
            self.egress_type.setChecked("Egress" in types if types else bool(spec.get("egress")))
            for w in (
                self.name,
                self.tier,
                self.order,
                self.scope,
                self.selector,
                self.ingress,
                self.egress,
            ):
                w.setEnabled(not k8s)
            self.rule.setEnabled(not k8s and self._selected is not None)  # no rule selected: a hint
            self._refresh_rules()
        finally:
            self._loading = False

    def _rules(self, direction: str) -> list[dict[str, Any]]:
        spec = self._doc.get("spec") if isinstance(self._doc.get("spec"), dict) else {}
        rules = spec.get(direction)
        return [r if isinstance(r, dict) else {} for r in rules] if isinstance(rules, list) else []

    def _refresh_rules(self) -> None:
        for rl in (self.ingress, self.egress):
            bad = {_rule_index(i.path, rl.direction) for i in self._issues} - {None}
            rl.set_rules(self._rules(rl.direction), bad)  # type: ignore[arg-type]
        if self._selected is not None:
            d, row = self._selected
            rules = self._rules(d)
            if 0 <= row < len(rules):
                self.rule.set_rule(rules[row], f"{d.capitalize()} rule {row}")
            else:
                self._selected = None
                self.rule.set_rule(None, "Rule")
                self.rule.setEnabled(False)

    # -- widgets -> document ----------------------------------------------------------------
    def _edited(self, *_: object) -> None:
        if self._loading:
            return
        doc = self._doc
        md = doc.setdefault("metadata", {})
        spec = doc.setdefault("spec", {})
        kind = model_kind(doc)
        if "Kubernetes" not in kind:
            tier = self.tier.currentText() or "default"
            spec["tier"] = tier
            md["name"] = f"{tier}.{self.name.text().strip()}"
            text = self.order.text().strip()
            if text:
                try:
                    spec["order"] = int(text) if text.lstrip("-").isdigit() else float(text)
                except ValueError:
                    spec["order"] = text  # the validator names the field
            else:
                spec.pop("order", None)
            want_global = self.scope.currentIndex() == 1
            if want_global and kind in _NS_KIND.values():
                doc["kind"] = _GLOBAL_KIND[kind]
                md.pop("namespace", None)
            elif not want_global and kind in _GLOBAL_KINDS:
                doc["kind"] = _NS_KIND[kind]
                spec.pop("namespaceSelector", None)
            if not want_global:
                md["namespace"] = self.namespace.currentText().strip()
            for key, edit in (("selector", self.selector), ("serviceAccountSelector", self.sa_selector)):
                _put(spec, key, edit.text().strip())
            if want_global:
                _put(spec, "namespaceSelector", self.ns_selector.text().strip())
            self.namespace.setEnabled(not want_global)
            self.ns_selector.setEnabled(want_global)
            types = [
                t
                for t, box in (("Ingress", self.ingress_type), ("Egress", self.egress_type))
                if box.isChecked()
            ]
            spec["types"] = types
        self.changed.emit(self.document())

    def _select(self, direction: str, row: int) -> None:
        if row < 0:
            return
        other = self.egress if direction == "ingress" else self.ingress
        other.list.blockSignals(True)
        other.list.clearSelection()
        other.list.setCurrentRow(-1)
        other.list.blockSignals(False)
        self._selected = (direction, row)
        self.rule.setEnabled(True)
        self._refresh_rules()
        self.show_issues(self._issues)

    def _rule_edited(self, rule: dict[str, Any]) -> None:
        if self._selected is None:
            return
        d, row = self._selected
        rules = self._doc.setdefault("spec", {}).setdefault(d, [])
        if 0 <= row < len(rules):
            rules[row] = rule
            for rl in (self.ingress, self.egress):
                if rl.direction == d and rl.list.item(row) is not None:
                    rl.list.item(row).setText(f"{row}. {_rule_text(rule)}")
            self.changed.emit(self.document())

    def _add_rule(self, direction: str) -> None:
        spec = self._doc.setdefault("spec", {})
        rules = spec.setdefault(direction, [])
        rules.append({"action": "Allow"})
        types = spec.setdefault("types", [])
        if direction.capitalize() not in types:
            types.append(direction.capitalize())
            spec["types"] = [t for t in ("Ingress", "Egress") if t in types]
        self.set_document(self._doc)
        rl = self.ingress if direction == "ingress" else self.egress
        rl.list.setCurrentRow(len(rules) - 1)
        self.changed.emit(self.document())

    def _remove_rule(self, direction: str) -> None:
        rl = self.ingress if direction == "ingress" else self.egress
        row = rl.list.currentRow()
        rules = self._rules(direction)
        if 0 <= row < len(rules):
            del self._doc["spec"][direction][row]
            if not self._doc["spec"][direction]:
                del self._doc["spec"][direction]
            self._selected = None
            self.set_document(self._doc)
            self.changed.emit(self.document())

    def _move_rule(self, direction: str, step: int) -> None:
        rl = self.ingress if direction == "ingress" else self.egress
        row = rl.list.currentRow()
        rules = self._rules(direction)
        if 0 <= row < len(rules) and 0 <= row + step < len(rules):
            lst = self._doc["spec"][direction]
            lst[row], lst[row + step] = lst[row + step], lst[row]
            self._selected = (direction, row + step)
            self.set_document(self._doc)
            rl.list.setCurrentRow(row + step)
            self.changed.emit(self.document())

    # -- issues ---------------------------------------------------------------------------------
    def field_for(self, path: str) -> QWidget | None:
        """The widget that edits a field path (None if the form does not show it)."""
        simple = {
            "metadata.name": self.name,
            "metadata.namespace": self.namespace,
            "spec.tier": self.tier,
            "spec.order": self.order,
            "spec.selector": self.selector,
            "spec.namespaceSelector": self.ns_selector,
            "spec.serviceAccountSelector": self.sa_selector,
            "spec.types": self.ingress_type,
        }
        for key, widget in simple.items():
            if path == key or path.startswith(key + "["):
                return widget
        if self._selected is not None:
            d, row = self._selected
            prefix = f"spec.{d}[{row}]"
            if path.startswith(prefix + "."):
                return self.rule.field(path[len(prefix) + 1 :])
        return None

    def show_issues(self, issues: list[EditIssue]) -> None:
        """Mark the fields with problems (red, message as tooltip) and the rules holding them."""
        self._issues = list(issues)
        widgets = [
            self.name, self.namespace, self.tier, self.order, self.selector, self.ns_selector,
            self.sa_selector, self.ingress_type, self.rule.action, self.rule.protocol,
            *self.rule.source.edits.values(), *self.rule.destination.edits.values(),
        ]  # fmt: skip
        for w in widgets:
            w.setStyleSheet("")
            w.setToolTip("")
        for issue in issues:
            w = self.field_for(issue.path)
            if w is not None:
                w.setStyleSheet(ERROR_STYLE)
                col = f" (column {issue.column})" if issue.column else ""
                w.setToolTip(f"{issue.message}{col}")
        for rl in (self.ingress, self.egress):
            bad = {_rule_index(i.path, rl.direction) for i in issues} - {None}
            for row in range(rl.list.count()):
                item = rl.list.item(row)
                text = item.text().removeprefix("⚠ ")
                item.setText(("⚠ " + text) if row in bad else text)
                item.setForeground(Qt.GlobalColor.red if row in bad else self.palette().text().color())


def _rule_index(path: str, direction: str) -> int | None:
    prefix = f"spec.{direction}["
    if path.startswith(prefix):
        try:
            return int(path[len(prefix) :].split("]", 1)[0])
        except ValueError:
            return None
    return None


def _set_text(edit: QLineEdit, text: str) -> None:
    if edit.text() != text:
        edit.setText(text)


def _num_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _put(spec: dict[str, Any], key: str, value: str) -> None:
    if value:
        spec[key] = value
    else:
        spec.pop(key, None)
