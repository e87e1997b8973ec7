"""The rule part of the policy editor: one rule's fields (action, protocol, From and To with
endpoint selector, namespace selector, nets, ports, service accounts, domains), as in
Calico's "Create a Policy Rule" form (calico.md §4.2).

The widget edits a rule *document* (the Calico YAML mapping): fields it does not show
(icmp, http, ipVersion …) are kept as they are.
"""

from __future__ import annotations

import copy
from typing import Any

from PySide6.QtCore import QEvent, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

ACTIONS = ("Allow", "Deny", "Pass", "Log")
ADVANCED = frozenset({"notSelector", "notNets", "notPorts"})  # shown in Advanced mode
PROTOCOLS = ("Any protocol", "TCP", "UDP", "ICMP", "ICMPv6", "SCTP", "UDPLite")
NO_RULE_HINT = "Select a rule on the left to edit it, or + Add rule."
# (document key, label, kind): kind "text" is a string, "list" a comma-separated list.
ENTITY_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("selector", "Endpoint selector", "text"),
    ("notSelector", "Not selector", "text"),
    ("namespaceSelector", "Namespace selector", "text"),
    ("nets", "Nets", "list"),
    ("notNets", "Not nets", "list"),
    ("ports", "Ports", "list"),
    ("notPorts", "Not ports", "list"),
    ("serviceAccounts.names", "Service account names", "list"),
    ("serviceAccounts.selector", "Service account selector", "text"),
    ("domains", "Domains", "list"),
)
_PLACEHOLDER = {
    "selector": "e.g. app == 'frontend'  (empty: any)",
    "namespaceSelector": "e.g. projectcalico.org/name == 'storefront', global()",
    "nets": "CIDRs, comma-separated",
    "ports": "80, 8080:8090, http",
    "domains": "*.twilio.com (egress Allow only)",
}


def _split(text: str) -> list[Any]:
    out: list[Any] = []
    for part in (p.strip() for p in text.split(",")):
        if part:
            out.append(int(part) if part.isdigit() else part)
    return out


def _get(ent: dict[str, Any], key: str) -> Any:
    if "." in key:
        outer, inner = key.split(".", 1)
        sub = ent.get(outer)
        return sub.get(inner) if isinstance(sub, dict) else None
    return ent.get(key)


def _set(ent: dict[str, Any], key: str, value: Any) -> None:
    if "." in key:
        outer, inner = key.split(".", 1)
        sub = ent.get(outer) if isinstance(ent.get(outer), dict) else {}
        if value in (None, "", []):
            sub.pop(inner, None)
        else:
            sub[inner] = value
        if sub:
            ent[outer] = sub
        else:
            ent.pop(outer, None)
        return
    if value in (None, "", []):
        ent.pop(key, None)
    else:
        ent[key] = value


class EntityEditor(QGroupBox):
    """The From (source) or To (destination) part of a rule.

    Signals:
        edited(): a field changed (read `entity()`).
    """

    edited = Signal()

    def __init__(self, title: str, side: str, parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.side = side
        self.edits: dict[str, QLineEdit] = {}
        self.form = form = QFormLayout(self)
        form.setContentsMargins(8, 6, 8, 6)
        form.setVerticalSpacing(4)
        for key, label, _ in ENTITY_FIELDS:
            edit = QLineEdit(self)
            edit.setObjectName(f"{side}.{key}")
            edit.setPlaceholderText(_PLACEHOLDER.get(key, ""))
            edit.textEdited.connect(self.edited)
            self.edits[key] = edit
            form.addRow(label, edit)

    def set_advanced(self, on: bool) -> None:
        for key in ADVANCED:
            self.form.setRowVisible(self.edits[key], on)

    def set_entity(self, ent: dict[str, Any] | None) -> None:
        ent = ent or {}
        for key, _, kind in ENTITY_FIELDS:
            value = _get(ent, key)
            if kind == "list":
                text = (
                    ", ".join(str(v) for v in value)
                    if isinstance(value, list)
                    else ("" if value is None else str(value))
                )
            else:
                text = "" if value is None else str(value)
            if self.edits[key].text() != text:
                self.edits[key].setText(text)

    def entity(self, base: dict[str, Any] | None) -> dict[str, Any]:
        ent = copy.deepcopy(base) if isinstance(base, dict) else {}
        for key, _, kind in ENTITY_FIELDS:
            text = self.edits[key].text().strip()
            _set(ent, key, _split(text) if kind == "list" else text)
        return ent


class RuleEditor(QWidget):
    """Edits one rule document.

    Signals:
        edited(object): the rule document after a change.
    """

    edited = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rule: dict[str, Any] = {"action": "Allow"}
        self.title = QLabel("Rule", self)
        self.title.setObjectName("ruleTitle")
        self.title.setStyleSheet("font-weight: 600; font-size: 11pt;")
        self.advanced = QCheckBox("Advanced mode", self)
        self.advanced.setObjectName("advanced")
        self.advanced.toggled.connect(self._advanced)
        self.action = QComboBox(self)
        self.action.setObjectName("action")
        self.action.addItems(ACTIONS)
        self.protocol = QComboBox(self)
        self.protocol.setObjectName("protocol")
        self.protocol.setEditable(True)
        self.protocol.addItems(PROTOCOLS)
        self.source = EntityEditor("From", "source", self)
        self.destination = EntityEditor("To", "destination", self)
        top = QHBoxLayout()
        top.addWidget(self.action, 1)
        top.addWidget(self.protocol, 2)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.advanced)
        lay.addLayout(head)
        lay.addLayout(top)
        lay.addWidget(self.source)
        lay.addWidget(self.destination)
        self.hint = QLabel(NO_RULE_HINT, self)
        self.hint.setObjectName("noRuleHint")
        self.hint.setStyleSheet("color: palette(placeholder-text); padding: 12px 0;")
        self.hint.setVisible(False)
        lay.addWidget(self.hint)
        lay.addStretch(1)
        self.action.activated.connect(self._emit)
        self.protocol.currentTextChanged.connect(self._emit)
        self.source.edited.connect(self._emit)
        self.destination.edited.connect(self._emit)
        self._loading = False
        self._advanced(False)

    def changeEvent(self, event: QEvent) -> None:
        """Disabled (no rule selected): a hint instead of an empty form that looks editable."""
        if event.type() == QEvent.Type.EnabledChange:
            on = self.isEnabled()
            for w in (self.action, self.protocol, self.source, self.destination, self.advanced):
                w.setVisible(on)
            self.hint.setVisible(not on)
            if not on:
                self.title.setText("No rule selected")
        super().changeEvent(event)

    def _advanced(self, on: bool) -> None:
        self.source.set_advanced(on)
        self.destination.set_advanced(on)

    def set_rule(self, rule: dict[str, Any] | None, title: str = "Rule") -> None:
        self._loading = True
        try:
            self._rule = copy.deepcopy(rule) if rule else {"action": "Allow"}
            self.title.setText(title)
            action = str(self._rule.get("action", "Allow")).capitalize()
            self.action.setCurrentIndex(max(0, self.action.findText(action)))
            proto = self._rule.get("protocol")
            self.protocol.setCurrentText(PROTOCOLS[0] if proto is None else str(proto))
            self.source.set_entity(self._rule.get("source"))
            self.destination.set_entity(self._rule.get("destination"))
            uses = any(
                isinstance(self._rule.get(side), dict) and any(k in self._rule[side] for k in ADVANCED)
                for side in ("source", "destination")
            )
            if uses:
                self.advanced.setChecked(True)
        finally:
            self._loading = False

    def rule(self) -> dict[str, Any]:
        out = copy.deepcopy(self._rule)
        out["action"] = self.action.currentText()
        proto = self.protocol.currentText().strip()
        if not proto or proto == PROTOCOLS[0]:
            out.pop("protocol", None)
        else:
            out["protocol"] = int(proto) if proto.isdigit() else proto
        for side, editor in (("source", self.source), ("destination", self.destination)):
            ent = editor.entity(out.get(side))
            if ent:
                out[side] = ent
            else:
                out.pop(side, None)
        return out

    def field(self, path: str) -> QWidget | None:
        """The widget for a path inside a rule (`source.selector`, `protocol`, `action`)."""
        if path in ("action", "protocol"):
            return self.action if path == "action" else self.protocol
        side, _, rest = path.partition(".")
        editor = {"source": self.source, "destination": self.destination}.get(side)
        if editor is None:
            return None
        if rest.split("[")[0] in ADVANCED:
            self.advanced.setChecked(True)
        for key in sorted(editor.edits, key=len, reverse=True):
            if rest == key or rest.startswith(key + "[") or rest.startswith(key + "."):
                return editor.edits[key]
        head = rest.split("[")[0]
        return editor.edits.get(head)

    def _emit(self, *_: object) -> None:
        if not self._loading:
            self._rule = self.rule()
            self.edited.emit(self._rule)
