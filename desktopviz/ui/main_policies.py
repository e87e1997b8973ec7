"""Policy editing in the main window (a mixin of MainWindow): one PolicySet per session,
built from the scenario; the board's edit requests open the policy editor (non-modal) or
change the set directly (drag, delete, enforce a staged card); every change, undo and redo
reaches the simulation (``send_delta``: new connections only, as in Calico) and the GUI's own
copy of the cluster (the board's endpoint counts, the visualizer's "policies applied"); the
editor's Preview is shown in the Flow Visualizer. Scenario events that change the
simulation's cluster come back as snapshots (``SimController.cluster_changed``): the policy
set takes in their policy changes and the GUI engine is rebuilt off the GUI thread.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QThreadPool, Slot
from PySide6.QtWidgets import QDockWidget

# Loaded with the window, not by the first session's engine job: importing (compiling, where
# no .pyc is written) holds the GIL for the whole module, in the pool while the window paints.
import desktopviz.core.board_traces  # noqa: F401
import desktopviz.core.policy  # noqa: F401
from desktopviz.core.policy_edit import PolicySet, PolicySetState, delta
from desktopviz.core.policy_edit_yaml import PolicyEditError
from desktopviz.ui.policy_editor import PolicyEditorDialog
from desktopviz.ui.policy_editor_tier import TierDialog
from desktopviz.ui.policy_editor_views import ChangeLogView
from desktopviz.ui.policy_sim_link import EngineJob, apply_delta_to_engine, send_delta

NO_SCENARIO = "This stored run has no scenario: open its scenario to edit policies."


class PolicyEditing:
    """Policy editing of MainWindow (connected in MainWindow._connect_signals)."""

    scenario: Any
    controller: Any
    store_path: str | None
    session_path: str | None
    board: Any
    visualizer: Any
    menus: Any

    def _init_policy_editing(self) -> None:
        self.policy_set: PolicySet | None = None
        self.gui_engine: Any = None
        self.policy_editors: list[PolicyEditorDialog] = []
        self.tier_dialog: TierDialog | None = None
        self.preview_result: Any = None
        self._preview_dialog: PolicyEditorDialog | None = None
        self._synced: PolicySetState | None = None
        self._absorbing = False
        self._engine_token = 0
        self._session_engine_token = -1
        self._relay = EngineJob.Relay(self)  # type: ignore[arg-type]
        self._relay.done.connect(self._engine_built)
        self.changelog = ChangeLogView()
        self.changelog.setObjectName("policyChangeLog")
        dock = QDockWidget("Policy Change Log", self)  # type: ignore[arg-type]
        dock.setObjectName("policy_log_dock")
        dock.setWidget(self.changelog)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)  # type: ignore[attr-defined]
        dock.hide()
        self.policy_log_dock = dock

    def _connect_policy_signals(self) -> None:
        b = self.board
        b.editRequested.connect(lambda key: self.open_policy_editor(key))
        b.newPolicyRequested.connect(
            lambda tier, before, after: self.open_policy_editor(tier=tier, before=before, after=after)
        )
        b.deleteRequested.connect(self.delete_policy)
        b.moveRequested.connect(self.move_policy)
        b.newTierRequested.connect(lambda: self.open_tier_dialog())
        b.editTierRequested.connect(self.open_tier_dialog)
        b.enforceRequested.connect(self.enforce_staged)
        b.stageRequested.connect(self.stage_changes)
        banner = getattr(self.visualizer, "banner", None)  # the visualizer's preview banner
        if banner is not None and hasattr(banner, "togglesChanged"):
            banner.togglesChanged.connect(self._visualizer_toggles)
            banner.closed.connect(self._visualizer_preview_closed)

    # -- session -----------------------------------------------------------------------
    def _start_policy_session(self) -> None:
        """A session began: a fresh policy set over the scenario (none for a stored run)."""
        for dlg in list(self.policy_editors):
            dlg.close()
        self._show_preview(None)
        self._engine_token += 1
        scenario = self.scenario
        if scenario is None:
            self.policy_set, self._synced, self.gui_engine = None, None, None
            self.board.set_editable(False, NO_SCENARIO)
            self.board.set_scenario(None)
        else:
            # The GUI's engine (the visualizer's "policies applied", previews) is built off
            # the GUI thread, and only once the views have made their first pictures: while the
            # window paints the new session, a second engine build beside the board's would
            # make each of its calls into Python wait for the GIL (bench_ui_latency).
            self.gui_engine = None
            self._session_engine_token = self._engine_token
            job = EngineJob(self._engine_token, scenario.cluster, self._relay)
            self.when_views_idle(lambda: self._start_engine_job(job))  # type: ignore[attr-defined]
            ps = PolicySet.from_cluster(scenario.cluster)
            ps.subscribe(self._policy_set_changed)
            self.policy_set, self._synced = ps, ps.state
            self.board.set_editable(True)
            self.board.set_scenario(self._board_scenario())
        self.visualizer.set_engine(self.gui_engine)
        self._update_policy_actions()

    def _start_engine_job(self, job: EngineJob) -> None:
        """Build the engine, unless a newer session or cluster has made it stale meanwhile."""
        if job.token == self._engine_token:
            QThreadPool.globalInstance().start(job)

    def _board_scenario(self) -> Any:
        """A copy of the scenario for the board's thread (the GUI's cluster changes later)."""
        ps, sc = self.policy_set, self.scenario
        if ps is None or sc is None:
            return sc
        return dataclasses.replace(sc, cluster=ps.cluster(sc.cluster))

    def _policy_set_changed(self) -> None:
        ps = self.policy_set
        if ps is None or self._synced is None:
            return
        d = delta(self._synced, ps.state)
        self._synced = ps.state
        if not self._absorbing:
            if self.controller is not None and d:
                skipped = send_delta(self.controller, d)
                if skipped:
                    self._on_view_error(f"Tiers not sent to the simulation: {', '.join(skipped)}")  # type: ignore[attr-defined]
            if self.gui_engine is not None:
                try:
                    apply_delta_to_engine(self.gui_engine, self.scenario.cluster, d)
                except Exception as exc:  # noqa: BLE001 - shown; the session goes on
                    self._on_view_error(f"Policy engine: {exc}")  # type: ignore[attr-defined]
        self.board.set_scenario(self._board_scenario())
        self._update_policy_actions()

    def _update_policy_actions(self) -> None:
        ps = self.policy_set
        m = self.menus
        m.undo_policy_action.setEnabled(bool(ps and ps.can_undo))
        m.redo_policy_action.setEnabled(bool(ps and ps.can_redo))
        last = ps.history[-1].label if ps and ps.history else ""
        m.undo_policy_action.setText(f"&Undo {last}" if last else "&Undo Policy Change")
        nxt = ps.next_redo.label if ps and ps.next_redo else ""
        m.redo_policy_action.setText(f"&Redo {nxt}" if nxt else "&Redo Policy Change")
        for act in (m.save_policies_action, m.export_policies_action):
            act.setEnabled(ps is not None)
        if ps is not None:
            self.changelog.set_history(ps.history, ps.diff())
        else:
            self.changelog.set_history([], "")

    # -- simulation follows --------------------------------------------------------------
    @Slot(object)
    def _on_cluster_changed(self, snap: Any) -> None:
        """An event (or reset) changed the simulation's cluster: take in its policy changes
        and rebuild the GUI's engine on the snapshot off the GUI thread."""
        ps = self.policy_set
        if ps is None:
            return
        ps.namespaces = set(snap.cluster.namespaces)
        self._absorbing = True
        try:
            ps.rebase(snap.policies, snap.tiers)
        finally:
            self._absorbing = False
        self._engine_token += 1
        QThreadPool.globalInstance().start(EngineJob(self._engine_token, snap.cluster, self._relay))

    @Slot(int, object, object)
    def _engine_built(self, token: int, cluster: Any, engine: Any) -> None:
        if token != self._engine_token or self.policy_set is None or self.scenario is None:
            return
        first = token == self._session_engine_token  # the session's first engine
        if isinstance(engine, Exception):
            if not first:  # (at session start an optional detail: the session runs without it)
                self._on_view_error(f"Policy engine: {engine}")  # type: ignore[attr-defined]
            return
        ps = self.policy_set
        try:  # edits made while it was built (or not yet in the snapshot)
            apply_delta_to_engine(
                engine, cluster, delta(PolicySetState(cluster.tiers, cluster.policies), ps.state)
            )
        except Exception as exc:  # noqa: BLE001
            self._on_view_error(f"Policy engine: {exc}")  # type: ignore[attr-defined]
        self.scenario = dataclasses.replace(self.scenario, cluster=cluster)
        self.gui_engine = engine
        self.visualizer.set_engine(engine)
        if not first:  # (the board was given the session's scenario already)
            self.board.set_scenario(self._board_scenario())

    # -- editing -------------------------------------------------------------------------
    def _editing_refused(self) -> bool:
        if self.policy_set is None:
            self.show_message("info", "Edit policies", NO_SCENARIO)  # type: ignore[attr-defined]
            return True
        return False

    def open_policy_editor(
        self,
        key: str | None = None,
        *,
        tier: str | None = None,
        before: str | None = None,
        after: str | None = None,
    ) -> PolicyEditorDialog | None:
        """Open the policy editor (non-modal) on a policy, or for a new one placed in `tier`
        before/after a policy."""
        if self._editing_refused():
            return None
        assert self.policy_set is not None
        if key is not None and key not in self.policy_set.policies:
            self._on_view_error(f"Cannot edit {key}: it is not in the scenario")  # type: ignore[attr-defined]
            return None
        dlg = PolicyEditorDialog(
            self.policy_set,
            key,
            tier,
            before,
            after,
            cluster=self.scenario.cluster,
            store_path=self.store_path,
            parent=self,  # type: ignore[arg-type]
        )
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.previewReady.connect(lambda result, d=dlg: self._preview_from(d, result))
        dlg.previewOptionsChanged.connect(lambda *_o, d=dlg: self._preview_from(d, self.preview_result))
        dlg.finished.connect(lambda _r, d=dlg: self._editor_closed(d))
        self.policy_editors.append(dlg)
        dlg.show()
        dlg.raise_()
        return dlg

    def _editor_closed(self, dlg: PolicyEditorDialog) -> None:
        if dlg in self.policy_editors:
            self.policy_editors.remove(dlg)
        if self._preview_dialog is dlg:
            self._show_preview(None)

    def _preview_from(self, dlg: PolicyEditorDialog, result: Any) -> None:
        self._preview_dialog = dlg
        self._show_preview(result, *dlg.preview.options())

    def _show_preview(self, result: Any, applied: bool = False, only_changed: bool = False) -> None:
        """The editor's Preview in the Flow Visualizer (calico.md §4.3: "Preview policy …"
        with the Changes applied / Only changed flows toggles)."""
        self.preview_result = result
        dlg = self._preview_dialog
        if result is None:
            self._preview_dialog = None
        setter = getattr(self.visualizer, "set_preview", None)
        if setter is not None:
            title = f"policy {dlg.policy_key or '(new)'}" if dlg is not None and result else ""
            try:
                setter(result, applied, only_changed, title=title)
            except TypeError:  # a set_preview without titles
                setter(result, applied, only_changed)
        elif result is not None:
            self.statusBar().showMessage(  # type: ignore[attr-defined]
                f"Preview: {len(result.changes)} flow group(s) would change (see the editor's Preview tab)",
                10_000,
            )

    @Slot(bool, bool)
    def _visualizer_toggles(self, applied: bool, only_changed: bool) -> None:
        """The visualizer's banner toggles follow into the editor's Preview tab."""
        dlg = self._preview_dialog
        if dlg is not None:
            for box, on in ((dlg.preview.applied, applied), (dlg.preview.only_changed, only_changed)):
                box.blockSignals(True)
                box.setChecked(on)
                box.blockSignals(False)

    @Slot()
    def _visualizer_preview_closed(self) -> None:
        """The banner's Back: return to the editor."""
        dlg = self._preview_dialog
        self.preview_result, self._preview_dialog = None, None
        if dlg is not None and dlg.isVisible():
            dlg.raise_()
            dlg.activateWindow()

    def _change(self, what: str, fn: Any) -> bool:
        if self._editing_refused():
            return False
        try:
            fn()
        except PolicyEditError as exc:
            self.show_message("error", f"Cannot {what}", str(exc))  # type: ignore[attr-defined]
            return False
        self.statusBar().showMessage(f"{what.capitalize()}: done (Ctrl+Z to undo)", 5000)  # type: ignore[attr-defined]
        return True

    def delete_policy(self, key: str) -> bool:
        return self._change(f"delete {key}", lambda: self.policy_set.delete(key))  # type: ignore[union-attr]

    def move_policy(self, key: str, before: str | None, after: str | None, tier: str | None = None) -> bool:
        return self._change(
            f"move {key}",
            lambda: self.policy_set.move(key, before=before, after=after, tier=tier),  # type: ignore[union-attr]
        )

    def enforce_staged(self, key: str) -> bool:
        """The board's Enforce on a staged card (calico.md §2.13): the enforced policy of its
        name is created or updated, or, for `stagedAction: Delete`, deleted."""
        ps = self.policy_set
        done = self._change(
            f"enforce {key}",
            lambda: ps.enforce(ps.document(key), replacing=key),  # type: ignore[union-attr]
        )
        if done and ps is not None and ps.history:  # say what it did ("Enforce deletion of …")
            bar = self.statusBar()  # type: ignore[attr-defined]
            bar.showMessage(f"{ps.history[-1].label}: done (Ctrl+Z to undo)", 5000)
        return done

    def stage_changes(self, key: str) -> PolicyEditorDialog | None:
        """The editor on an enforced policy, to stage a changed version of it (a staged copy
        left as it is would only be shadowed by the enforced one)."""
        dlg = self.open_policy_editor(key)
        if dlg is not None:
            dlg.status.setText(
                "Change the policy, then press Stage: traffic is unaffected, the board shows "
                "what the staged version would do"
            )
            dlg.stage_button.setFocus()
        return dlg

    def open_tier_dialog(self, tier: str | None = None) -> TierDialog | None:
        if self._editing_refused():
            return None
        assert self.policy_set is not None
        if self.tier_dialog is not None:
            self.tier_dialog.close()
        dlg = TierDialog(self.policy_set, tier, self)  # type: ignore[arg-type]
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.destroyed.connect(lambda *_: setattr(self, "tier_dialog", None))
        self.tier_dialog = dlg
        dlg.show()
        return dlg

    def undo_policy(self) -> None:
        if self.policy_set is not None:
            self.policy_set.undo()

    def redo_policy(self) -> None:
        if self.policy_set is not None:
            self.policy_set.redo()

    # -- files ---------------------------------------------------------------------------
    def save_policies_to(self, folder: str | Path) -> list[Path]:
        """Save the edited policies into a scenario folder (the scenario's own: changed files
        are kept as .bak; an empty folder: a copy of the scenario with the edits)."""
        from desktopviz.core.policy_edit_save import save_scenario_as

        if self._editing_refused() or not self.session_path:
            return []
        assert self.policy_set is not None
        try:
            written = save_scenario_as(self.policy_set, self.session_path, folder)
        except (PolicyEditError, OSError) as exc:
            self.show_message("error", "Cannot save policies", f"{folder}\n\n{exc}")  # type: ignore[attr-defined]
            return []
        names = ", ".join(p.name for p in written) or "nothing to save"
        self.statusBar().showMessage(f"Saved policies into {folder}: {names}", 10_000)  # type: ignore[attr-defined]
        return written

    def export_policies_to(self, path: str | Path) -> bool:
        if self._editing_refused():
            return False
        assert self.policy_set is not None
        try:
            Path(path).write_text(self.policy_set.export_yaml(), encoding="utf-8")
        except OSError as exc:
            self.show_message("error", "Cannot export policies", f"{path}\n\n{exc.strerror or exc}")  # type: ignore[attr-defined]
            return False
        self.statusBar().showMessage(f"Exported the policies to {path}", 10_000)  # type: ignore[attr-defined]
        return True

    def _close_policy_windows(self) -> None:
        for dlg in list(self.policy_editors):
            dlg.close()
        if self.tier_dialog is not None:
            self.tier_dialog.close()


def scenario_folder(session_path: str | None) -> str:
    """Where "Save policies to scenario" starts: the scenario's folder."""
    if not session_path:
        return str(Path.home())
    p = Path(session_path)
    return str(p if p.is_dir() else p.parent)


__all__ = ["NO_SCENARIO", "PolicyEditing", "scenario_folder"]
