"""The policy editor (calico.md §4.2 "Policy editor", §4.3 Preview/Stage/Enforce).

A dialog over a core :class:`~desktopviz.core.policy_edit.PolicySet`: a form and a YAML tab
kept in sync both ways and validated as the user types (the problems listed with field, line
and column; the offending field outlined), a change log with each version's YAML diff,
undo/redo, Preview (the what-if on recorded flows, in its own tab, and as a signal for the
Flow Visualizer), Stage, Enforce, Delete and Export. Nothing invalid can be applied.

Open it from the board or main window::

    dlg = PolicyEditorDialog(policy_set, policy_key="storefront/default.trusted")   # edit
    dlg = PolicyEditorDialog(policy_set, tier="security", insert_after="security.quarantine")  # new
    dlg.applyRequested.connect(lambda policy, mode: controller.apply_policy(policy))
    dlg.removeRequested.connect(controller.remove_policy)

Signals:
    applyRequested(object, str): a Policy to create or replace live; mode 'enforce' | 'stage'.
    removeRequested(str): a policy key to remove live (deleted, or a staged one enforced).
    tierRequested(object): a Tier created or changed.
    previewRequested(object): a WhatIfRequest (states before and after) for the visualizer.
    previewReady(object): the WhatIfResult of the Preview tab.
    previewOptionsChanged(bool, bool): the Preview tab's "Changes applied" and "Only changed
        flows" toggles (how the Flow Visualizer shows the preview).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktopviz.core.model import Cluster
from desktopviz.core.policy_edit import Change, PolicySet, PolicySetState, delta
from desktopviz.core.policy_edit_yaml import EditIssue, PolicyEditError, to_yaml
from desktopviz.ui.policy_editor_form import PolicyForm
from desktopviz.ui.policy_editor_views import ChangeLogView, PreviewView, WhatIfRequest, run_preview
from desktopviz.ui.policy_sim_link import connect_controller, send_delta

VALIDATE_MS = 250


class PolicyEditorDialog(QDialog):
    """Create or edit one policy of a PolicySet (see the module docstring)."""

    applyRequested = Signal(object, str)
    removeRequested = Signal(str)
    tierRequested = Signal(object)
    previewRequested = Signal(object)
    previewReady = Signal(object)
    previewOptionsChanged = Signal(bool, bool)

    def __init__(
        self,
        policy_set: PolicySet,
        policy_key: str | None = None,
        tier: str | None = None,
        insert_before: str | None = None,
        insert_after: str | None = None,
        *,
        namespace: str | None = None,
        cluster: Cluster | None = None,
        store_path: str | Path | None = None,
        since: int | None = None,
        until: int | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.policy_set = policy_set
        self.policy_key = policy_key
        self.insert_before, self.insert_after = insert_before, insert_after
        self.cluster = cluster
        self.store_path = str(store_path) if store_path else None
        self.time_range = (since, until)
        self.issues: list[EditIssue] = []
        self._syncing = False
        if policy_key is not None:
            doc = policy_set.document(policy_key)
        else:
            anchor = policy_set.policies.get(insert_before or insert_after or "")
            tier = tier or (anchor.tier if anchor else "default")
            ns = namespace if namespace is not None else (anchor.namespace if anchor else "default")
            doc = policy_set.new_document(tier, ns)
        self.setWindowTitle(f"Edit policy {policy_key}" if policy_key else "Create a policy")
        self.resize(1180, 780)
        self._build()
        self._set_document(doc)
        self._validate_now()
        self.policy_set.subscribe(self._history_changed)
        self._history_changed()

    # -- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        ps = self.policy_set
        self.title = QLabel(self)
        self.title.setObjectName("editorTitle")
        self.title.setStyleSheet("font-size: 15pt; font-weight: 600; padding: 4px 2px;")
        self.tabs = QTabWidget(self)
        namespaces = ps.namespaces or {p.namespace for p in ps.policies.values() if p.namespace}
        self.form = PolicyForm([t.name for t in ps.tiers_in_order()], namespaces, self)
        self.yaml = QPlainTextEdit(self)
        self.yaml.setObjectName("yaml")
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.yaml.setFont(mono)
        self.changelog = ChangeLogView(self)
        self.preview = PreviewView(self)
        self.preview.optionsChanged.connect(self.previewOptionsChanged)
        self.tabs.addTab(self.form, "Form")
        self.tabs.addTab(self.yaml, "YAML")
        self.tabs.addTab(self.changelog, "Change log")
        self.tabs.addTab(self.preview, "Preview")
        self.problems = QListWidget(self)
        self.problems.setObjectName("problems")
        self.problems.setStyleSheet("QListWidget { color: #b52a25; }")
        self.status = QLabel(self)
        self.delete_button = QPushButton("Delete", self)
        self.undo_button = QPushButton("Undo", self)
        self.redo_button = QPushButton("Redo", self)
        self.export_button = QPushButton("Export YAML…", self)
        self.cancel_button = QPushButton("Close", self)
        self.preview_button = QPushButton("Preview", self)
        self.stage_button = QPushButton("Stage", self)
        self.enforce_button = QPushButton("Enforce", self)
        self.enforce_button.setDefault(True)
        self.enforce_button.setStyleSheet("font-weight: 600;")
        self.delete_button.setEnabled(self.policy_key is not None)
        buttons = QHBoxLayout()
        for b in (self.delete_button, self.undo_button, self.redo_button, self.export_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        for b in (self.cancel_button, self.preview_button, self.stage_button, self.enforce_button):
            buttons.addWidget(b)
        lay = QVBoxLayout(self)
        lay.addWidget(self.title)
        lay.addWidget(self.tabs, 1)
        lay.addWidget(self.problems)
        lay.addWidget(self.status)
        lay.addLayout(buttons)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(VALIDATE_MS)
        self._timer.timeout.connect(self._yaml_settled)
        self.form.changed.connect(self._form_changed)
        self.yaml.textChanged.connect(self._yaml_typed)
        self.problems.itemActivated.connect(self._goto_problem)
        self.problems.itemClicked.connect(self._goto_problem)
        self.enforce_button.clicked.connect(self.enforce)
        self.stage_button.clicked.connect(self.stage)
        self.preview_button.clicked.connect(self.request_preview)
        self.delete_button.clicked.connect(self.delete)
        self.undo_button.clicked.connect(self.undo)
        self.redo_button.clicked.connect(self.redo)
        self.export_button.clicked.connect(self._export_dialog)
        self.cancel_button.clicked.connect(self.reject)
        QShortcut(QKeySequence.StandardKey.Undo, self, activated=self.undo)
        QShortcut(QKeySequence.StandardKey.Redo, self, activated=self.redo)

    # -- form <-> YAML ---------------------------------------------------------------------
    def _set_document(self, doc: dict[str, Any]) -> None:
        self._syncing = True
        try:
            self.form.set_document(doc)
            self.yaml.setPlainText(to_yaml(doc))
        finally:
            self._syncing = False
        self._timer.stop()

    def document(self) -> dict[str, Any]:
        """The document being edited (as the form and YAML tab show it)."""
        return self.form.document()

    def yaml_text(self) -> str:
        return self.yaml.toPlainText()

    def _form_changed(self, doc: dict[str, Any]) -> None:
        self._syncing = True
        try:
            self.yaml.setPlainText(to_yaml(doc))
        finally:
            self._syncing = False
        self._validate_now()

    def _yaml_typed(self) -> None:
        if not self._syncing:
            self._timer.start()

    def _yaml_settled(self) -> None:
        """The user stopped typing in the YAML tab: update the form when the text is a
        mapping, then validate the text."""
        try:
            value = yaml.safe_load(self.yaml.toPlainText())
        except yaml.YAMLError:
            value = None
        if isinstance(value, dict):
            self._syncing = True
            try:
                self.form.set_document(value)
            finally:
                self._syncing = False
        self._validate_now()

    def flush(self) -> None:
        """Apply a pending YAML edit at once (before a button acts, and in tests)."""
        if self._timer.isActive():
            self._timer.stop()
            self._yaml_settled()

    def _validate_now(self) -> list[EditIssue]:
        replacing = self.policy_key
        _, issues = self.policy_set.validate(self.yaml.toPlainText(), replacing)
        self.issues = issues
        self.problems.clear()
        for issue in issues:
            self.problems.addItem(str(issue))
        self.problems.setVisible(bool(issues))
        rows = min(max(len(issues), 1), 4)
        self.problems.setFixedHeight(rows * (self.problems.fontMetrics().height() + 4) + 8)
        self.form.show_issues(issues)
        ok = not issues
        for b in (self.enforce_button, self.stage_button, self.preview_button):
            b.setEnabled(ok)
        self.status.setText("" if ok else f"{len(issues)} problem(s): fix them to preview, stage or enforce")
        self._update_title()
        return issues

    def _update_title(self) -> None:
        doc = self.document()
        md = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
        ns = f"{md.get('namespace')}/" if md.get("namespace") else ""
        kind = doc.get("kind", "")
        self.title.setText(f"{'Edit' if self.policy_key else 'Create'} {kind} {ns}{md.get('name', '')}")

    def _goto_problem(self, item: Any) -> None:
        row = self.problems.row(item)
        if not 0 <= row < len(self.issues):
            return
        issue = self.issues[row]
        widget = self.form.field_for(issue.path)
        if widget is not None and self.tabs.currentWidget() is self.form:
            widget.setFocus()
            return
        if issue.line:
            self.tabs.setCurrentWidget(self.yaml)
            block = self.yaml.document().findBlockByNumber(issue.line - 1)
            cursor = self.yaml.textCursor()
            cursor.setPosition(block.position() + max(0, issue.column - 1))
            self.yaml.setTextCursor(cursor)
            self.yaml.setFocus()

    # -- actions -----------------------------------------------------------------------------
    def _emit_delta(self, before: PolicySetState, after: PolicySetState, mode: str) -> None:
        d = delta(before, after)
        for tier in d.tiers:
            self.tierRequested.emit(tier)
        for key in d.removed:
            self.removeRequested.emit(key)
        for policy in d.applied:
            self.applyRequested.emit(policy, "stage" if policy.staged else mode)

    def _act(self, label: str, action: Any) -> bool:
        self.flush()
        if self._validate_now():
            self.status.setText(f"Cannot {label}: {self.issues[0]}")
            return False
        before, doc = self.policy_set.state, self.document()
        try:
            policy = action()
        except PolicyEditError as exc:
            self.issues = exc.issues
            self.status.setText(f"Cannot {label}: {exc}")
            return False
        self._emit_delta(before, self.policy_set.state, "enforce")
        if policy is None:  # a staged deletion was enforced (calico.md §2.13): nothing left to edit
            self._start_new(
                doc, f"{self.policy_set.history[-1].label}: done; the editor now holds a new policy"
            )
            return True
        self.policy_key = policy.key
        self.delete_button.setEnabled(True)
        self._set_document(self.policy_set.document(policy.key))
        self._validate_now()
        self.status.setText(f"{label.capitalize()}d {policy.key}")
        return True

    def _start_new(self, doc: dict[str, Any], status: str) -> None:
        """The policy edited is gone: the dialog goes on with a new one in its tier and namespace."""
        spec, md = doc.get("spec") or {}, doc.get("metadata") or {}
        tier = str(spec.get("tier") or "default")
        self.policy_key, self.insert_before, self.insert_after = None, None, None
        self.delete_button.setEnabled(False)
        self.setWindowTitle("Create a policy")
        self._set_document(self.policy_set.new_document(tier, md.get("namespace")))
        self._validate_now()
        self.status.setText(status)

    def enforce(self) -> bool:
        """Make the policy live (a new one is placed as asked; a staged one replaces the
        enforced policy of its name and is deleted; a staged deletion deletes both and leaves
        the dialog on a new policy)."""
        doc = self.yaml.toPlainText()
        if self.policy_key is None:
            return self._act(
                "enforce",
                lambda: self.policy_set.add(doc, before=self.insert_before, after=self.insert_after),
            )
        return self._act("enforce", lambda: self.policy_set.enforce(doc, replacing=self.policy_key))

    def stage(self) -> bool:
        """Save as a staged policy: traffic is unaffected, flow logs show its verdicts as pending."""
        return self._act("stage", lambda: self.policy_set.stage(self.yaml.toPlainText()))

    def delete(self) -> bool:
        if self.policy_key is None or self.policy_key not in self.policy_set.policies:
            return False
        before = self.policy_set.state
        self.policy_set.delete(self.policy_key)
        self._emit_delta(before, self.policy_set.state, "enforce")
        self.status.setText(f"Deleted {self.policy_key}")
        self.delete_button.setEnabled(False)
        self.policy_key = None
        return True

    def undo(self) -> None:
        change = self.policy_set.undo()
        if change is not None:
            self._emit_delta(change.after, change.before, "enforce")
            self._reload_after(change.before)

    def redo(self) -> None:
        change = self.policy_set.redo()
        if change is not None:
            self._emit_delta(change.before, change.after, "enforce")
            self._reload_after(change.after)

    def _reload_after(self, state: PolicySetState) -> None:
        if self.policy_key in state.policies:
            self._set_document(self.policy_set.document(self.policy_key))
        self.delete_button.setEnabled(self.policy_key in state.policies)
        self._validate_now()

    def _history_changed(self) -> None:
        self.undo_button.setEnabled(self.policy_set.can_undo)
        self.redo_button.setEnabled(self.policy_set.can_redo)
        self.changelog.set_history(self.policy_set.history, self.policy_set.diff())

    def preview_request(self) -> WhatIfRequest | None:
        self.flush()
        if self._validate_now():
            return None
        try:
            after = self.policy_set.preview_state(self.yaml.toPlainText(), self.policy_key)
        except PolicyEditError as exc:
            self.status.setText(f"Cannot preview: {exc}")
            return None
        return WhatIfRequest(self.policy_set.state, after, self.policy_key, *self.time_range)

    def request_preview(self) -> bool:
        """Emit previewRequested and, with a store and cluster, fill the Preview tab."""
        request = self.preview_request()
        if request is None:
            return False
        self.previewRequested.emit(request)
        if self.store_path and self.cluster is not None:
            self.tabs.setCurrentWidget(self.preview)
            self.preview.set_busy()
            run_preview(self.store_path, self.policy_set.cluster(self.cluster), request, self._preview_done)
        return True

    def _preview_done(self, result: Any) -> None:
        self.preview.set_result(result)
        if not isinstance(result, Exception):
            self.previewReady.emit(result)

    def export_to(self, path: str | Path, keys: list[str] | None = None) -> None:
        """Write the policy set (or some policies) as YAML kubectl/calicoctl accept."""
        Path(path).write_text(self.policy_set.export_yaml(keys), encoding="utf-8")

    def _export_dialog(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(self, "Export policies", "policies.yaml", "YAML (*.yaml *.yml)")
        if path:
            self.export_to(path)
            self.status.setText(f"Exported to {path}")

    def done(self, result: int) -> None:  # noqa: D401 - Qt override
        try:
            self.policy_set._listeners.remove(self._history_changed)  # noqa: SLF001
        except ValueError:
            pass
        super().done(result)


__all__ = ["Change", "PolicyEditorDialog", "WhatIfRequest", "connect_controller", "send_delta"]
